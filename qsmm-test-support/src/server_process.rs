//! A server started as a child process (the `paravoid` binary), waited for until it reports the
//! address it listens on, its log lines collected, killed on drop.
//!
//! The server is started on port 0 and prints a line with `listening on <address>` (paravoid
//! prints `paravoid listening on 127.0.0.1:<port> (http)`); [`ServerProcess::start`] returns once
//! that line arrives, so no port is ever guessed and no request is sent before the server answers.
//!
//! ```no_run
//! use std::process::Command;
//! use std::time::Duration;
//!
//! use qsmm_test_support::server_process::ServerProcess;
//!
//! let mut command = Command::new("paravoid");
//! command.args(["--bind", "127.0.0.1:0", "--db", "notes.redb"]);
//! let server = ServerProcess::start(command, Duration::from_secs(60));
//! let health = server.url("/healthz");
//! # let _ = health;
//! ```

use std::io::{BufRead as _, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// What a server prints before the address it listens on.
const LISTENING: &str = "listening on ";

/// A running server child process; killed (SIGKILL) on drop.
#[derive(Debug)]
pub struct ServerProcess {
    child: Child,
    base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Starts `command` with its standard output and error piped and collected as lines, and
    /// waits up to `limit` for its `listening on <address>` line.
    ///
    /// The `PARAVOID_*` variables of this environment that choose where the server listens and
    /// what it stores are removed, so that only `command`'s arguments decide.
    ///
    /// # Panics
    ///
    /// If the program cannot start, or exits or stays silent for `limit` before reporting its
    /// address (the panic shows what it printed).
    pub fn start(command: Command, limit: Duration) -> Self {
        Self::try_start(command, limit).unwrap_or_else(|why| panic!("{why}"))
    }

    /// [`start`](Self::start) for callers that report failures instead of panicking (the load
    /// test).
    ///
    /// # Errors
    ///
    /// A sentence saying why: the program could not start, or exited or stayed silent for
    /// `limit` before reporting its address (with what it printed).
    pub fn try_start(mut command: Command, limit: Duration) -> Result<Self, String> {
        for var in [
            "PARAVOID_BIND",
            "PARAVOID_DB",
            "PARAVOID_STORE",
            "PARAVOID_STORE_KEY",
        ] {
            command.env_remove(var);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (address_tx, address_rx) = mpsc::channel();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stderr.take().expect("piped")),
            Box::new(child.stdout.take().expect("piped")),
        ];
        for pipe in pipes {
            let log = log.clone();
            let address_tx = address_tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if let Some((_, rest)) = line.split_once(LISTENING)
                        && let Some(address) = rest.split_whitespace().next()
                    {
                        let _ignored = address_tx.send(address.to_owned());
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        drop(address_tx);
        let Ok(address) = address_rx.recv_timeout(limit) else {
            let _killed = child.kill();
            let status = child.wait().ok();
            return Err(format!(
                "the server did not report its address (exit status {status:?}); its output:\n{}",
                log.lock().map(|lines| lines.join("\n")).unwrap_or_default()
            ));
        };
        Ok(Self {
            child,
            base: format!("http://{address}"),
            log,
        })
    }

    /// The first line the server printed that contains `needle`, waiting up to `limit` for it
    /// (paravoid reports its metrics address after the one it serves on).
    ///
    /// # Errors
    ///
    /// A sentence with the server's output when no such line came within `limit`.
    pub fn wait_for_line(&self, needle: &str, limit: Duration) -> Result<String, String> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(line) = self.log().into_iter().find(|l| l.contains(needle)) {
                return Ok(line);
            }
            if std::time::Instant::now() >= deadline {
                return Err(format!(
                    "the server printed no line with {needle:?} within {limit:?}; its output:\n{}",
                    self.log().join("\n")
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// CPU seconds (user + system) the server has used so far, from `/proc/<pid>/stat` (Linux;
    /// `USER_HZ` is 100 on every Linux target); `None` elsewhere or once it has exited.
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let mut fields = rest.split_whitespace().skip(11);
        let utime: f64 = fields.next()?.parse().ok()?;
        let stime: f64 = fields.next()?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }

    /// `http://<address>` of the server.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The URL of `path` on the server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The lines the server printed so far (standard error and output, interleaved as read).
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// SIGKILL, as a crash would (no shutdown handler runs); returns everything it printed.
    pub fn kill(&mut self) -> Vec<String> {
        let _killed = self.child.kill();
        let _waited = self.child.wait();
        self.log()
    }

    /// Waits up to `limit` for the server to exit by itself (after a signal the test sent).
    ///
    /// # Panics
    ///
    /// If it is still running after `limit`.
    pub fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the server did not exit within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _killed = self.child.kill();
        let _waited = self.child.wait();
    }
}
