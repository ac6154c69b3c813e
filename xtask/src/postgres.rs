//! A throwaway PostgreSQL cluster for `cargo xtask loadtest --store postgres`: the workspace's
//! test cluster (`qsmm_test_support::pg_cluster`, a Unix socket only, as `postgres` when root)
//! with PostgreSQL's default durability (`fsync = on`, `synchronous_commit = on`), so the load
//! test measures what a deployment would see; stopped and removed on drop.

use std::path::Path;

use qsmm_test_support::pg_cluster::{Durability, PgCluster};

/// A running cluster with a `paravoid` database; stopped and removed on drop.
pub(crate) struct Cluster {
    cluster: PgCluster,
}

impl Cluster {
    /// Initialises and starts a cluster in a temporary directory of its own (`_parent`, the load
    /// test's directory, is not needed: the cluster's directory is removed with it).
    pub(crate) fn start(_parent: &Path) -> Result<Self, String> {
        let cluster = PgCluster::try_start(Durability::Default)?;
        cluster.try_create_database("paravoid")?;
        Ok(Self { cluster })
    }

    /// The connection string of the `paravoid` database.
    pub(crate) fn url(&self) -> String {
        self.cluster.url_for("paravoid")
    }

    /// CPU seconds the server has used so far: the postmaster, the backends it has reaped, and
    /// its live children (Linux `/proc`; `None` elsewhere).
    pub(crate) fn cpu_seconds(&self) -> Option<f64> {
        let pid_file =
            std::fs::read_to_string(self.cluster.data_dir().join("postmaster.pid")).ok()?;
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
}
