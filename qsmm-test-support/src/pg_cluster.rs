//! A throwaway PostgreSQL cluster: `initdb` into a temporary directory, a server that listens
//! only on a Unix socket in that directory, stopped (and the directory removed) on drop.
//!
//! The binaries are found in `$PARAVOID_PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package), else `PATH`. PostgreSQL refuses to run as root: as root the
//! commands run as the `postgres` user through `runuser`. When PostgreSQL is missing,
//! [`PgCluster::start`] reports the skip through [`external::skip`] (a panic under
//! `QSMM_REQUIRE_EXTERNAL=1`) and returns `None`, so the calling test skips.
//!
//! The same flags everywhere: `initdb -U postgres --auth=trust -E UTF8`, and a server started with
//! `-k <dir> -h '' -p 5432 -c max_connections=300`. [`Durability::Fast`] (tests) adds
//! `initdb --no-sync` and `-F` (no `fsync`); [`Durability::Default`] (load tests, whose numbers
//! must be PostgreSQL's real ones) keeps PostgreSQL's defaults.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::external;

/// The variable naming the socket directory of a server started for every test binary
/// (`cargo xtask test` starts one).
pub const SHARED_SOCKET_VAR: &str = "PARAVOID_TEST_PG_SOCKET_DIR";

/// The variable naming the directory of `initdb` and `pg_ctl`.
pub const BINDIR_VAR: &str = "PARAVOID_PG_BINDIR";

/// How much of PostgreSQL's durability a cluster keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// No `fsync` at all (`initdb --no-sync`, `-F`): for tests, which never survive a power cut.
    Fast,
    /// PostgreSQL's defaults (`fsync = on`, `synchronous_commit = on`): for measurements.
    Default,
}

/// A fresh store key secret (`--store-key`): 32 random bytes.
pub fn store_secret() -> [u8; 32] {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).expect("the system's random number generator");
    secret
}

/// Writes `secret` to `path` as a store key file (each instance has its own copy) and returns
/// `path`.
pub fn write_store_key(path: &Path, secret: &[u8; 32]) -> PathBuf {
    std::fs::write(path, secret).expect("write the store key file");
    path.to_path_buf()
}

/// A PostgreSQL server that every test of a test binary may use, each in databases of its own:
/// the one `cargo xtask test` started (its socket directory in `PARAVOID_TEST_PG_SOCKET_DIR`,
/// port 5432, user `postgres`), or else a cluster started on first use and stopped by a watchdog process
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
            if let Some(dir) = std::env::var_os(SHARED_SOCKET_VAR) {
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
    ///
    /// # Panics
    ///
    /// If `name` is not made of lowercase letters, digits and `_`, or the server refuses.
    pub fn database(&self, name: &str) -> String {
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "plain database names only"
        );
        let admin = url_for(&self.socket_dir, "postgres");
        let owned = name.to_owned();
        // A runtime of its own, on a thread of its own: callers may be inside another runtime.
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
    durability: Durability,
    /// Set once a watchdog owns the cluster.
    keep_running: bool,
}

impl PgCluster {
    /// Initialises and starts a [`Durability::Fast`] cluster; `None` (with the skip reported)
    /// when PostgreSQL is not installed.
    ///
    /// # Panics
    ///
    /// If PostgreSQL is missing under `QSMM_REQUIRE_EXTERNAL`, or if it is installed but does
    /// not start.
    pub fn start() -> Option<Self> {
        if find_bindir().is_none() {
            external::skip(NOT_INSTALLED);
            return None;
        }
        Some(Self::try_start(Durability::Fast).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Initialises and starts a cluster with `durability`.
    ///
    /// # Errors
    ///
    /// A sentence saying why: PostgreSQL is not installed, or a step failed (with its output
    /// and the server's log).
    pub fn try_start(durability: Durability) -> Result<Self, String> {
        let bin = find_bindir().ok_or(NOT_INSTALLED)?;
        let as_postgres = external::is_root();
        let dir = tempfile::Builder::new()
            .prefix("pg")
            .tempdir()
            .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
        if as_postgres {
            let output = Command::new("chown")
                .arg("-R")
                .arg("postgres:")
                .arg(dir.path())
                .output();
            check("chown", output)?;
        }
        let cluster = Self {
            dir,
            bin,
            as_postgres,
            durability,
            keep_running: false,
        };
        let data = cluster.data_dir();
        let mut initdb = vec![
            "-D",
            path_str(&data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-instructions",
        ];
        if durability == Durability::Fast {
            initdb.push("--no-sync");
        }
        cluster.run("initdb", &initdb)?;
        cluster.try_start_server()?;
        Ok(cluster)
    }

    /// A connection string for the `postgres` database of this cluster.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// The directory of the server's Unix socket (what [`SHARED_SOCKET_VAR`] names when this
    /// cluster is the one every test binary shares).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// A path inside the cluster's temporary directory (removed with it).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A connection string for database `name` of this cluster.
    pub fn url_for(&self, name: &str) -> String {
        url_for(self.dir.path(), name)
    }

    /// Creates database `name` and returns its connection string.
    ///
    /// # Panics
    ///
    /// If `createdb` fails.
    pub fn create_database(&self, name: &str) -> String {
        self.try_create_database(name)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates database `name` and returns its connection string.
    ///
    /// # Errors
    ///
    /// `createdb`'s output when it fails.
    pub fn try_create_database(&self, name: &str) -> Result<String, String> {
        let socket = path_str(self.dir.path());
        self.run(
            "createdb",
            &["-h", socket, "-p", PORT, "-U", "postgres", name],
        )?;
        Ok(self.url_for(name))
    }

    /// Stops the server (fast shutdown: open connections are closed).
    ///
    /// # Panics
    ///
    /// If `pg_ctl stop` fails.
    pub fn stop_server(&self) {
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", path_str(&data), "-m", "fast", "-w", "stop"],
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// Starts the server again after [`PgCluster::stop_server`].
    ///
    /// # Panics
    ///
    /// If the server does not start (with its log).
    pub fn start_server(&self) {
        self.try_start_server().unwrap_or_else(|e| panic!("{e}"));
    }

    /// The cluster's data directory (`postmaster.pid` is in it).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Runs PostgreSQL program `name` (as `postgres` when we are root) and returns its output.
    ///
    /// # Panics
    ///
    /// If the program cannot be started.
    pub fn pg_output(&self, name: &str, args: &[&str]) -> Output {
        self.command(name)
            .args(args)
            .output()
            .expect("run a PostgreSQL program")
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
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cluster's watchdog");
        self.dir.disable_cleanup(true);
        self.keep_running = true;
    }

    /// Starts the server with the flags of this module's documentation.
    fn try_start_server(&self) -> Result<(), String> {
        let mut options = format!(
            "-k {} -h '' -p {PORT} -c max_connections=300",
            path_str(self.dir.path())
        );
        if self.durability == Durability::Fast {
            options.push_str(" -F");
        }
        let log = self.dir.path().join("server.log");
        let data = self.data_dir();
        let started = self.run(
            "pg_ctl",
            &[
                "-D",
                path_str(&data),
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
        started.map_err(|e| {
            let server_log = std::fs::read_to_string(&log).unwrap_or_default();
            format!("PostgreSQL did not start: {e}\n{server_log}")
        })
    }

    /// Runs PostgreSQL program `name`; its output as the error when it fails.
    fn run(&self, name: &str, args: &[&str]) -> Result<(), String> {
        check(name, self.command(name).args(args).output())
    }

    /// PostgreSQL program `name`, as `postgres` when we are root, in the cluster's directory.
    fn command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        };
        // The server inherits no test-harness pipes: it must not keep them open after we exit.
        command.current_dir(self.dir.path()).stdin(Stdio::null());
        command
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.keep_running {
            return;
        }
        let data = self.data_dir();
        let _stopped = self.run(
            "pg_ctl",
            &["-D", path_str(&data), "-m", "immediate", "-w", "stop"],
        );
    }
}

/// Why a cluster cannot start where PostgreSQL is missing.
const NOT_INSTALLED: &str = "PostgreSQL is not installed (no initdb/pg_ctl; on Debian: apt-get \
                             install postgresql, or set PARAVOID_PG_BINDIR)";

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
    if let Some(dir) = std::env::var_os(BINDIR_VAR) {
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

/// `Ok` when the program ran and succeeded, else a sentence with its output.
fn check(what: &str, output: std::io::Result<Output>) -> Result<(), String> {
    let output = output.map_err(|e| format!("cannot run {what}: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}
