//! Starting nbdkit with the qsmm plugin: finding the plugin, the passphrase pipe, waiting until
//! it serves, stopping a process and telling whether one still runs.

use std::fs;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use qsmm_volume::Passphrase;

/// File name of the plugin that cargo builds next to the `qsmm` binary.
pub(crate) const PLUGIN_FILE: &str = "libqsmm_nbd.so";

/// Finds the plugin next to the program (`target/<profile>/qsmm` beside
/// `target/<profile>/libqsmm_nbd.so`, or an installed `bin/` beside `lib/`).
pub(crate) fn find_plugin(exe: Option<&Path>) -> Result<PathBuf, String> {
    let dir = exe.and_then(Path::parent);
    let candidates: Vec<PathBuf> = dir
        .into_iter()
        .flat_map(|dir| {
            [
                dir.join(PLUGIN_FILE),
                dir.join("..").join(PLUGIN_FILE),
                dir.join("../lib").join(PLUGIN_FILE),
            ]
        })
        .collect();
    candidates
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| {
            format!("cannot find {PLUGIN_FILE} next to this program; build it (cargo build -p qsmm-nbd) or give --plugin")
        })
}

/// The plugin given with `--plugin`, or the one next to this program.
pub(crate) fn plugin(given: Option<&Path>) -> Result<PathBuf, String> {
    match given {
        Some(path) => Ok(path.to_owned()),
        None => find_plugin(std::env::current_exe().ok().as_deref()),
    }
}

/// A pipe whose read end nbdkit inherits (`passphrase-fd=N`) and whose write end only this
/// process holds: the passphrases go from memory to memory, never to a file.
pub(crate) struct PassphrasePipe {
    read: OwnedFd,
    write: OwnedFd,
}

impl PassphrasePipe {
    /// A new pipe: both ends close on exec except the read end.
    pub(crate) fn new() -> Result<Self, String> {
        let (read, write) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("cannot make a pipe: {e}"))?;
        fcntl(&read, FcntlArg::F_SETFD(FdFlag::empty()))
            .map_err(|e| format!("cannot make a pipe: {e}"))?;
        Ok(Self { read, write })
    }

    /// The descriptor number nbdkit reads (the same number in the child).
    pub(crate) fn fd(&self) -> u32 {
        u32::try_from(self.read.as_raw_fd()).unwrap_or(u32::MAX)
    }

    /// After nbdkit started: closes this process's read end (so that later children do not
    /// inherit it) and writes the passphrase stream, then closes the write end.
    pub(crate) fn send(self, passphrases: &[Passphrase]) -> Result<(), String> {
        drop(self.read);
        let list: Vec<&[u8]> = passphrases.iter().map(Passphrase::as_bytes).collect();
        let stream = qsmm_nbd::encode_passphrase_stream(&list).map_err(|e| e.to_string())?;
        let mut file = fs::File::from(self.write);
        // A server that exits before reading closes the pipe: EPIPE, reported by the caller as
        // the server's own failure.
        file.write_all(&stream)
            .map_err(|e| format!("cannot pass the passphrases to nbdkit: {e}"))
    }
}

/// Waits until nbdkit wrote its pidfile (it then accepts connections). Returns `Some(status)`
/// if it exited first, and stops it when `interrupted()` says so.
pub(crate) fn wait_ready(
    child: &mut Child,
    pidfile: &Path,
    interrupted: &dyn Fn() -> bool,
) -> Result<Option<std::process::ExitStatus>, String> {
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(Some(status));
        }
        if fs::read_to_string(pidfile).is_ok_and(|s| s.ends_with('\n')) {
            return Ok(None);
        }
        if interrupted() {
            return terminate(child).map(Some);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Asks a child to stop (SIGTERM: nbdkit finishes requests, flushes and closes the volumes) and
/// waits for it; SIGKILL after a minute.
pub(crate) fn terminate(child: &mut Child) -> Result<std::process::ExitStatus, String> {
    let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
    // The child may have exited on its own (it gets Ctrl-C from the terminal too).
    if let Err(errno) = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    ) && errno != nix::errno::Errno::ESRCH
    {
        return Err(format!("cannot stop nbdkit: {errno}"));
    }
    let deadline = Instant::now() + STOP_LIMIT;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            child.kill().map_err(|e| e.to_string())?;
            return child.wait().map_err(|e| e.to_string());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Whether process `pid` runs and is the program `name` (a zombie, or another program that
/// reused the number, does not count).
pub(crate) fn running(pid: u32, name: &str) -> bool {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // "pid (comm) state ...": comm may hold spaces and parentheses; the state follows the last ')'.
    let Some((head, tail)) = stat.rsplit_once(')') else {
        return false;
    };
    let comm = head.split_once('(').map_or("", |(_, c)| c);
    let state = tail.trim_start().chars().next();
    // The kernel keeps 15 bytes of the program name.
    let short: String = name.chars().take(15).collect();
    comm == short && !matches!(state, Some('Z' | 'X'))
}

/// Sends SIGTERM to `pid` and waits until it is gone (SIGKILL after a minute).
pub(crate) fn stop_pid(pid: u32, name: &str) {
    let Ok(raw) = i32::try_from(pid) else { return };
    let target = nix::unistd::Pid::from_raw(raw);
    if !running(pid, name) {
        return;
    }
    // It may exit between the check and the signal: ESRCH is fine.
    nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGTERM).ok();
    let deadline = Instant::now() + STOP_LIMIT;
    while running(pid, name) {
        if Instant::now() > deadline {
            nix::sys::signal::kill(target, nix::sys::signal::Signal::SIGKILL).ok();
            break;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `pid` is gone; false after `limit`.
pub(crate) fn wait_gone(pid: u32, name: &str, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while running(pid, name) {
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(20));
    }
    true
}

/// How long nbdkit may take to flush and close the volumes.
const STOP_LIMIT: Duration = Duration::from_secs(60);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_is_found_next_to_the_program_only() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("qsmm");
        assert!(find_plugin(Some(&exe)).is_err());
        assert!(find_plugin(None).is_err());
        fs::write(dir.path().join(PLUGIN_FILE), b"").unwrap();
        assert_eq!(
            find_plugin(Some(&exe)).unwrap(),
            dir.path().join(PLUGIN_FILE)
        );
    }

    #[test]
    fn the_pipe_carries_a_passphrase_stream() {
        let pipe = PassphrasePipe::new().unwrap();
        let path = format!("/proc/self/fd/{}", pipe.fd());
        let reader = fs::File::open(path).unwrap();
        let sent = [
            Passphrase::new(b"one").unwrap(),
            Passphrase::new(b"two").unwrap(),
        ];
        pipe.send(&sent).unwrap();
        let got = qsmm_nbd::decode_passphrase_stream(reader, 64).unwrap();
        assert_eq!(got[1].as_bytes(), b"two");
        assert_eq!(got.len(), 2);
    }

    #[test]
    fn running_knows_this_process_and_not_a_missing_one() {
        let me = std::process::id();
        let comm = fs::read_to_string(format!("/proc/{me}/comm")).unwrap();
        assert!(running(me, comm.trim_end()));
        assert!(!running(me, "not-this-program"));
        assert!(!running(u32::MAX - 1, "x"));
    }
}
