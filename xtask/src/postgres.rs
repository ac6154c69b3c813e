//! A throwaway PostgreSQL cluster for `cargo xtask loadtest --store postgres`: `initdb` into a
//! temporary directory, a server listening only on a Unix socket there, with PostgreSQL's
//! default durability (`fsync = on`, `synchronous_commit = on`), stopped on drop.
//!
//! The binaries come from `$PARAVOID_PG_BINDIR`, else the newest `/usr/lib/postgresql/*/bin`
//! (Debian's `postgresql` package). As root, the server runs as the `postgres` user.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A running cluster; stopped and removed on drop.
pub(crate) struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

/// The port in the socket's file name; nothing listens on TCP.
const PORT: &str = "5432";

impl Cluster {
    /// Initialises and starts a cluster in a fresh directory under `parent`.
    pub(crate) fn start(parent: &Path) -> Result<Self, String> {
        let bin = bindir().ok_or(
            "PostgreSQL is not installed (on Debian: apt-get install postgresql, or set \
             PARAVOID_PG_BINDIR)",
        )?;
        let dir = parent.join("pg");
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let as_postgres = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|out| out.stdout.trim_ascii() == b"0");
        if as_postgres {
            // The parent directory is the load test's; let `postgres` reach the cluster in it.
            check(
                Command::new("chmod").arg("755").arg(parent).output(),
                "chmod",
            )?;
            check(
                Command::new("chown")
                    .arg("-R")
                    .arg("postgres:")
                    .arg(&dir)
                    .output(),
                "chown",
            )?;
        }
        let cluster = Self {
            dir,
            bin,
            as_postgres,
        };
        let data = cluster.dir.join("data");
        let socket = cluster.dir.display().to_string();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
        )?;
        cluster.run(
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-l",
                &cluster.dir.join("server.log").display().to_string(),
                "-o",
                &format!("-k {socket} -h '' -p {PORT} -c max_connections=200"),
                "-w",
                "-t",
                "60",
                "start",
            ],
        )?;
        cluster.run(
            "createdb",
            &["-h", &socket, "-p", PORT, "-U", "postgres", "paravoid"],
        )?;
        Ok(cluster)
    }

    /// The connection string of the `paravoid` database.
    pub(crate) fn url(&self) -> String {
        format!(
            "postgresql:///paravoid?host={}&port={PORT}&user=postgres",
            self.dir.display()
        )
    }

    /// CPU seconds the server has used so far: the postmaster, the backends it has reaped, and
    /// its live children (Linux `/proc`; `None` elsewhere).
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        let pid_file =
            std::fs::read_to_string(self.dir.join("data").join("postmaster.pid")).ok()?;
        let postmaster: u32 = pid_file.lines().next()?.trim().parse().ok()?;
        // Fields after the parenthesised command name: ppid is field 4, utime to cstime 14 to 17.
        let stat = |pid: u32| -> Option<(u32, f64, f64)> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
            let number = |index: usize| fields.get(index).and_then(|f| f.parse::<f64>().ok());
            let ppid = fields.get(1)?.parse().ok()?;
            let own = number(11)? + number(12)?;
            let reaped = number(13)? + number(14)?;
            Some((ppid, own, reaped))
        };
        let (_, own, reaped) = stat(postmaster)?;
        let mut total = own + reaped;
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some((_, own, _)) = stat(pid).filter(|(ppid, ..)| *ppid == postmaster) {
                total += own;
            }
        }
        Some(total / 100.0)
    }

    fn run(&self, program: &str, args: &[&str]) -> Result<(), String> {
        check(self.command(program).args(args).output(), program)
    }

    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        };
        command.current_dir(&self.dir).stdin(Stdio::null());
        command
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data").display().to_string();
        if let Err(e) = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]) {
            eprintln!("xtask: stopping PostgreSQL: {e}");
        }
    }
}

fn check(output: std::io::Result<Output>, what: &str) -> Result<(), String> {
    let output = output.map_err(|e| format!("cannot run {what}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// The directory holding `initdb` and `pg_ctl`.
fn bindir() -> Option<PathBuf> {
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
    versions.pop().map(|(_, bin)| bin)
}
