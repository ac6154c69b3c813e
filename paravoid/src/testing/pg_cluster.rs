//! A throwaway PostgreSQL cluster for tests: `initdb` into a temporary directory, a server that
//! listens only on a Unix socket in that directory, stopped (and the directory removed) on drop.
//!
//! The binaries are found in `$PARAVOID_PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package), else `PATH`. PostgreSQL refuses to run as root: as root the
//! commands run as the `postgres` user through `runuser`. When PostgreSQL is missing,
//! [`PgCluster::start`] reports the skip through [`external::skip`] (a panic under
//! `QSMM_REQUIRE_EXTERNAL=1`) and returns `None`, so the calling test skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::external;

/// A fresh store key secret (`--store-key`): 32 random bytes.
pub fn store_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    secret
}

/// Writes `secret` to `path` as a store key file (each instance has its own copy) and returns
/// `path`.
pub fn write_store_key(path: &Path, secret: &[u8; 32]) -> PathBuf {
    std::fs::write(path, secret).expect("write the store key file");
    path.to_path_buf()
}

/// A PostgreSQL server that every test of a test binary may use, each in databases of its own:
/// the one `.ci/run` started (its socket directory in `PARAVOID_TEST_PG_SOCKET_DIR`, port 5432,
/// user `postgres`), or else a cluster started on first use and stopped by a watchdog process
/// once this test process has exited. `None` (after the skip is reported) when PostgreSQL
/// is missing.
///
/// # Panics
///
/// As [`PgCluster::start`].
pub fn shared() -> Option<&'static SharedServer> {
    static SHARED: std::sync::OnceLock<Option<SharedServer>> = std::sync::OnceLock::new();
    SHARED
        .get_or_init(|| {
            if let Some(dir) = std::env::var_os("PARAVOID_TEST_PG_SOCKET_DIR") {
                return Some(SharedServer {
                    socket_dir: PathBuf::from(dir),
                });
            }
            let mut cluster = PgCluster::start()?;
            cluster.stop_when_this_process_exits();
            Some(SharedServer {
                socket_dir: cluster.dir.path().to_path_buf(),
            })
        })
        .as_ref()
}

/// See [`shared`].
#[derive(Debug)]
pub struct SharedServer {
    socket_dir: PathBuf,
}

impl SharedServer {
    /// The connection string of database `name`, created if missing.
    pub fn database(&self, name: &str) -> String {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "plain database names only"
        );
        let admin = url_for(&self.socket_dir, "postgres");
        let owned = name.to_owned();
        std::thread::spawn(move || {
            let name = owned;
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let (client, connection) =
                        tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                            .await
                            .expect("connect to the test server");
                    let connection = tokio::spawn(connection);
                    let exists = client
                        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
                        .await
                        .unwrap()
                        .is_some();
                    if !exists {
                        client
                            .batch_execute(&format!("CREATE DATABASE {name}"))
                            .await
                            .unwrap();
                    }
                    drop(client);
                    let _ended = connection.await;
                });
        })
        .join()
        .unwrap();
        url_for(&self.socket_dir, name)
    }
}

/// A running throwaway cluster.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_postgres: bool,
    /// Set once a watchdog owns the cluster.
    keep_running: bool,
}

impl PgCluster {
    /// Initialises and starts a cluster; `None` (with the skip reported) when PostgreSQL is not
    /// installed.
    ///
    /// # Panics
    ///
    /// If PostgreSQL is missing under `QSMM_REQUIRE_EXTERNAL`, or if it is installed but does
    /// not start.
    pub fn start() -> Option<Self> {
        let Some(bin) = find_bindir() else {
            let why = "PostgreSQL is not installed (no initdb/pg_ctl; on Debian: apt-get install \
                       postgresql, or set PARAVOID_PG_BINDIR)";
            external::skip(why);
            return None;
        };
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("pg")
            .tempdir()
            .expect("temporary directory");
        if as_postgres {
            run(Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(dir.path()));
        }
        let cluster = Self {
            dir,
            bin,
            as_postgres,
            keep_running: false,
        };
        let data = cluster.data_dir();
        cluster.pg(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--no-instructions",
            ],
        );
        cluster.start_server();
        Some(cluster)
    }

    /// A connection string for the `postgres` database of this cluster.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// A path inside the cluster's temporary directory (removed with it).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A connection string for database `name` of this cluster.
    pub fn url_for(&self, name: &str) -> String {
        url_for(self.dir.path(), name)
    }

    /// Leaves the cluster running when this value is dropped, and starts a watchdog process
    /// that stops it and removes its directory once this process has exited.
    #[allow(
        clippy::zombie_processes,
        reason = "the watchdog must outlive this process, which never waits for it"
    )]
    fn stop_when_this_process_exits(&mut self) {
        let pg_ctl = format!(
            "{}{} -D {} -m immediate -w stop",
            if self.as_postgres {
                "runuser -u postgres -- "
            } else {
                ""
            },
            path_str(&self.bin.join("pg_ctl")),
            path_str(&self.data_dir()),
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {pg_ctl}; rm -rf {dir}",
            pid = std::process::id(),
            dir = path_str(self.dir.path()),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start the cluster's watchdog");
        self.dir.disable_cleanup(true);
        self.keep_running = true;
    }

    /// Creates database `name` and returns its connection string.
    pub fn create_database(&self, name: &str) -> String {
        self.pg(
            "createdb",
            &[
                "-h",
                path_str(self.dir.path()),
                "-p",
                PORT,
                "-U",
                "postgres",
                name,
            ],
        );
        self.url_for(name)
    }

    /// Stops the server (fast shutdown: open connections are closed).
    pub fn stop_server(&self) {
        self.pg(
            "pg_ctl",
            &["-D", path_str(&self.data_dir()), "-m", "fast", "-w", "stop"],
        );
    }

    /// Starts the server again after [`PgCluster::stop_server`].
    pub fn start_server(&self) {
        let options = format!(
            "-k {} -h '' -p {PORT} -F -c max_connections=200",
            path_str(self.dir.path())
        );
        let log = self.dir.path().join("server.log");
        let output = self.pg_output(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data_dir()),
                "-l",
                path_str(&log),
                "-o",
                &options,
                "-w",
                "-t",
                "60",
                "start",
            ],
        );
        if !output.status.success() {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            panic!(
                "PostgreSQL did not start: {}{}\n{server_log}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs PostgreSQL program `name` and panics on failure.
    fn pg(&self, name: &str, args: &[&str]) {
        let output = self.pg_output(name, args);
        assert!(
            output.status.success(),
            "{name} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Runs PostgreSQL program `name` (as `postgres` when we are root) and returns its output.
    pub fn pg_output(&self, name: &str, args: &[&str]) -> Output {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The server inherits no test-harness pipes: it must not keep them open after we exit.
        command
            .args(args)
            .current_dir(self.dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run a PostgreSQL program")
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.keep_running {
            return;
        }
        let _output = self.pg_output(
            "pg_ctl",
            &[
                "-D",
                path_str(&self.data_dir()),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }
}

/// The port number in the socket's file name (`.s.PGSQL.<port>`); nothing listens on TCP.
const PORT: &str = "5432";

/// The connection string of database `name` on the server listening in `socket_dir`.
fn url_for(socket_dir: &Path, name: &str) -> String {
    format!(
        "postgresql:///{name}?host={}&port={PORT}&user=postgres",
        path_str(socket_dir)
    )
}

/// The directory holding `initdb` and `pg_ctl`, if PostgreSQL is installed.
fn find_bindir() -> Option<PathBuf> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(dir) = std::env::var_os("PARAVOID_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|dir| has_tools(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_tools(bin))
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Some(bin);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|dir| has_tools(dir)))
}

/// Whether this process runs as root (then PostgreSQL runs as `postgres`).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// Runs `command` and panics on failure.
fn run(command: &mut Command) {
    let status = command.status().expect("run a command");
    assert!(status.success(), "{command:?} failed");
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
