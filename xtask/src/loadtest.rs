//! `cargo xtask loadtest [--clients N] [--seconds S] [--message-bytes B] [--store redb|postgres]
//! [--instances N] [--mode published|e2e] [--attack argon2 [--attackers A]]`: drives real
//! paravoid servers over loopback HTTP and compares their throughput with the note scheme's
//! crypto alone and with a durable commit.
//!
//! `--mode e2e` drives the end-to-end API instead of the published one: create → peek → claim
//! of notes sealed by the client ([`e2e`]), so the server runs no note crypto and the durable
//! commit bound is the one to compare with.
//!
//! With `--store postgres` a throwaway PostgreSQL cluster (default durability: `fsync` and
//! `synchronous_commit` on) is started in the temporary directory, `--instances` servers
//! (default: one) share its database, and the clients are spread over them round-robin; the
//! commit probe then measures PostgreSQL's commit latency instead of redb's. `--attack argon2`
//! runs on redb with one server.
//!
//! 1. Builds `paravoid` and this tool in release mode and re-runs itself from the release build,
//!    so neither the load generator nor the crypto bound runs unoptimised code.
//! 2. Starts `paravoid --bind 127.0.0.1:0 --db <temporary dir>/notes.redb` and waits for it to
//!    report the address it listens on (and its metrics address).
//! 3. N clients each loop create → peek → reveal for S seconds; every revealed message must equal
//!    the one sent (the command fails on any mismatch or error). Latencies are recorded per
//!    endpoint; the run is bounded in time (S seconds plus a drain limit) and in count.
//! 4. Stops the server (also on error: a drop guard kills it), then runs the crypto-only bound:
//!    `seal_note` + `open_note` of the same message on every core for S seconds.
//! 5. Measures what a durable database commit costs on the same disk: sequential redb write
//!    transactions (insert one note-sized value, remove the previous one; default
//!    `Durability::Immediate`, so one fsync each) in the same temporary directory. Every create and every reveal commits once, and redb
//!    has one writer at a time, so `1 / (2 × commit latency)` bounds the pairs/s of any server
//!    that commits each request on its own.
//! 6. Prints pairs/s, p50/p95/p99 per endpoint, and the server's pairs/s as a share of the bound.
//!
//! With `--attack argon2` the HTTP phase runs twice on fresh servers, without and with `A`
//! attackers that make the server run Argon2id (see [`attack`]), and the two are printed side by
//! side.

mod attack;
mod bounds;
mod drive;
mod e2e;
mod server;
mod stages;

use bounds::*;
use drive::*;
use server::*;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::bench::target_dir;

/// Default number of concurrent clients.
const DEFAULT_CLIENTS: usize = 64;
/// Default run length, in seconds.
const DEFAULT_SECONDS: u64 = 10;
/// Default message length, in bytes.
const DEFAULT_MESSAGE_BYTES: usize = 256;
/// Upper bounds on the options, so a typo cannot start a run that never ends.
const MAX_CLIENTS: usize = 4096;
const MAX_SECONDS: u64 = 600;
const MAX_MESSAGE_BYTES: usize = 60_000;
/// How long the server may take to report its addresses after it starts.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// Per-request timeout of the load generator.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may take to finish after the run time is over.
const DRAIN_LIMIT: Duration = Duration::from_secs(35);
/// Hard cap on create → peek → reveal rounds per client, the count bound of the run.
const MAX_ROUNDS_PER_CLIENT: u64 = 1_000_000;
/// Bytes per insert of the commit probe: about one stored note.
const PROBE_VALUE_BYTES: usize = 2_400;
/// Bounds of the commit probe.
const PROBE_MAX_COMMITS: usize = 1_000;
const PROBE_TIME: Duration = Duration::from_secs(3);
/// Commits of the probe left out of its statistics while the file reaches its size.
const PROBE_WARM_UP: u64 = 50;
/// Set in the environment of the re-run release build, so it does not rebuild and re-run.
const RELEASE_MARKER: &str = "QSMM_LOADTEST_RELEASE";

/// Most `--instances`.
const MAX_INSTANCES: usize = 16;

/// Where the servers keep their notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    Redb,
    Postgres,
}

/// Which API the clients drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `/api/secrets`: the server seals and opens the notes.
    Published,
    /// `/api/e2e/notes`: the client seals and opens them ([`e2e`]).
    EndToEnd,
}

/// Options of one load test.
#[derive(Clone, Copy, Debug)]
struct Options {
    mode: Mode,
    clients: usize,
    seconds: u64,
    message_bytes: usize,
    store: Store,
    instances: usize,
    /// `Some(attackers)` with `--attack argon2`.
    attackers: Option<usize>,
}

/// Runs the load test.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse(args)?;
    if std::env::var_os(RELEASE_MARKER).is_none() {
        return rerun_in_release(args);
    }
    let binary = release_dir().join(format!("paravoid{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        return Err(format!("{} is missing; build it first", binary.display()));
    }

    if let Some(attackers) = options.attackers {
        let quiet = http_phase(&binary, options, 0)?.0;
        let attacked = http_phase(&binary, options, attackers)?;
        attack::report(options, attackers, &quiet, &attacked);
        let failures = quiet.failures + attacked.0.failures;
        if failures > 0 {
            return Err(format!("{failures} request(s) of the clients failed"));
        }
        return Ok(());
    }
    let db_dir = tempdir()?;
    let cluster = match options.store {
        Store::Postgres => Some(crate::postgres::Cluster::start(&db_dir.0)?),
        Store::Redb => None,
    };
    let store_args = match &cluster {
        Some(cluster) => vec!["--store".to_owned(), cluster.url()],
        None => vec![
            "--db".to_owned(),
            db_dir.0.join("notes.redb").display().to_string(),
        ],
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let http = {
        let secret = store_secret()?;
        let servers = (0..options.instances)
            .map(|instance| {
                let mut args = store_args.clone();
                if cluster.is_some() {
                    // Every instance has its own copy of one store key.
                    let key = db_dir.0.join(format!("store-{instance}.key"));
                    std::fs::write(&key, secret)
                        .map_err(|e| format!("cannot write {}: {e}", key.display()))?;
                    args.extend(["--store-key".to_owned(), key.display().to_string()]);
                }
                Server::start(&binary, &args)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let cpu = |servers: &[Server]| servers.iter().map(Server::cpu_seconds).sum::<Option<f64>>();
        let database_cpu = || {
            cluster
                .as_ref()
                .and_then(crate::postgres::Cluster::cpu_seconds)
        };
        let metrics: Vec<SocketAddr> = servers.iter().map(|server| server.metrics).collect();
        let counters_before = runtime.block_on(stages::read(&metrics))?;
        let cpu_before = cpu(&servers);
        let database_before = database_cpu();
        let addrs: Vec<SocketAddr> = servers.iter().map(|server| server.addr).collect();
        let result = runtime.block_on(drive(&addrs, options, 0));
        let server_cpu = cpu(&servers).zip(cpu_before).map(|(a, b)| a - b);
        let database_after = database_cpu();
        let counters_after = runtime.block_on(stages::read(&metrics))?;
        drop(servers);
        let (mut tally, _) = result?;
        tally.server_cpu = server_cpu;
        tally.database_cpu = database_after.zip(database_before).map(|(a, b)| a - b);
        (
            tally,
            stages::Counters::since(&counters_after, &counters_before),
        )
    };
    let (http, counters) = http;
    let crypto = crypto_bound(options)?;
    let commits = match &cluster {
        Some(cluster) => runtime.block_on(postgres_commit_latencies(&cluster.url()))?,
        None => commit_latencies(&db_dir.0.join("probe.redb"))?,
    };
    let key_syncs = match &cluster {
        Some(_) => Vec::new(),
        None => stages::key_sync_latencies(&db_dir.0)?,
    };
    drop(cluster);
    report(options, &http, crypto, &commits);
    stages::report(&http, &counters, &key_syncs);
    if http.failures > 0 {
        return Err(format!(
            "{} request(s) failed or revealed the wrong message",
            http.failures
        ));
    }
    if http.pairs == 0 {
        return Err("no create → reveal pair completed".into());
    }
    Ok(())
}

/// One HTTP phase on a fresh server and database: the clients, plus `attackers` attackers.
fn http_phase(
    binary: &Path,
    options: Options,
    attackers: usize,
) -> Result<(Tally, attack::AttackTally), String> {
    let db_dir = tempdir()?;
    let db = db_dir.0.join("notes.redb").display().to_string();
    let server = Server::start(binary, &["--db".to_owned(), db])?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let cpu_before = server.cpu_seconds();
    let result = runtime.block_on(drive(&[server.addr], options, attackers));
    let server_cpu = server.cpu_seconds().zip(cpu_before).map(|(a, b)| a - b);
    drop(server);
    let (mut tally, attack) = result?;
    tally.server_cpu = server_cpu;
    Ok((tally, attack))
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        mode: Mode::Published,
        clients: DEFAULT_CLIENTS,
        seconds: DEFAULT_SECONDS,
        message_bytes: DEFAULT_MESSAGE_BYTES,
        store: Store::Redb,
        instances: 1,
        attackers: None,
    };
    let mut attackers = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .cloned()
        };
        match arg.as_str() {
            "--clients" => options.clients = number(&value("--clients")?, 1, MAX_CLIENTS)?,
            "--seconds" => options.seconds = number(&value("--seconds")?, 1, MAX_SECONDS)?,
            "--message-bytes" => {
                options.message_bytes = number(&value("--message-bytes")?, 1, MAX_MESSAGE_BYTES)?;
            }
            "--store" => {
                options.store = match value("--store")?.as_str() {
                    "redb" => Store::Redb,
                    "postgres" => Store::Postgres,
                    other => return Err(format!("unknown store `{other}` (redb or postgres)")),
                };
            }
            "--instances" => options.instances = number(&value("--instances")?, 1, MAX_INSTANCES)?,
            "--mode" => {
                options.mode = match value("--mode")?.as_str() {
                    "published" => Mode::Published,
                    "e2e" => Mode::EndToEnd,
                    other => return Err(format!("unknown mode `{other}` (published or e2e)")),
                };
            }
            "--attack" => match value("--attack")?.as_str() {
                "argon2" => {
                    options.attackers = Some(attack::DEFAULT_ATTACKERS);
                }
                other => return Err(format!("unknown attack `{other}` (known: argon2)")),
            },
            "--attackers" => {
                attackers = Some(number(&value("--attackers")?, 1, attack::MAX_ATTACKERS)?);
            }
            other => return Err(format!("unknown option `{other}`")),
        }
    }
    if options.store == Store::Redb && options.instances != 1 {
        return Err(
            "several --instances need --store postgres (a redb file has one writer)".into(),
        );
    }
    if options.mode == Mode::EndToEnd && (options.attackers.is_some() || attackers.is_some()) {
        return Err("--attack runs in the published mode only".into());
    }
    if options.store == Store::Postgres && (options.attackers.is_some() || attackers.is_some()) {
        return Err("--attack runs on redb only".into());
    }
    match (options.attackers, attackers) {
        (Some(_), Some(count)) => options.attackers = Some(count),
        (None, Some(_)) => return Err("--attackers needs --attack argon2".into()),
        _ => {}
    }
    Ok(options)
}

fn number<T>(text: &str, min: T, max: T) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let value: T = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    if value < min || value > max {
        return Err(format!("`{text}` is out of range {min}..={max}"));
    }
    Ok(value)
}

fn report(options: Options, http: &Tally, crypto: f64, commits: &[Duration]) {
    #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
    let rate = http.pairs as f64 / http.elapsed.as_secs_f64().max(f64::EPSILON);
    let store = match options.store {
        Store::Redb => "redb",
        Store::Postgres => "PostgreSQL",
    };
    let (api, last) = match options.mode {
        Mode::Published => ("the published API", "reveal"),
        Mode::EndToEnd => ("the end-to-end API", "claim"),
    };
    println!(
        "\nparavoid load test of {api}: {} clients, {} s, {}-byte messages, loopback HTTP/1.1, \
         {} instance(s) on {store}",
        options.clients, options.seconds, options.message_bytes, options.instances
    );
    println!(
        "  completed create → peek → {last} rounds: {} in {:.2} s = {rate:.1} pairs/s",
        http.pairs,
        http.elapsed.as_secs_f64()
    );
    println!("  failures (errors + wrong messages): {}", http.failures);
    for failure in &http.first_failures {
        println!("    {failure}");
    }
    println!(
        "\n  | endpoint | requests | p50 | p95 | p99 | max |\n  |---|---:|---:|---:|---:|---:|"
    );
    for endpoint in Endpoint::ALL {
        let mut samples = http
            .latencies
            .get(endpoint.index())
            .cloned()
            .unwrap_or_default();
        samples.sort_unstable();
        println!(
            "  | {} | {} | {} | {} | {} | {} |",
            endpoint.label(options.mode),
            samples.len(),
            millis(quantile(&samples, 0.50)),
            millis(quantile(&samples, 0.95)),
            millis(quantile(&samples, 0.99)),
            millis(samples.last().copied().unwrap_or_default()),
        );
    }
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    println!(
        "\n  crypto-only bound (seal_note + open_note, {threads} threads, in process): \
         {crypto:.1} pairs/s"
    );
    if crypto > 0.0 {
        println!("  paravoid / crypto-only bound: {:.2}×", rate / crypto);
    }
    if let Some(cpu) = http.server_cpu.filter(|_| http.pairs > 0) {
        #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
        let per_pair = cpu / http.pairs as f64;
        #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
        let crypto_per_pair = threads as f64 / crypto.max(f64::EPSILON);
        println!(
            "  server CPU: {cpu:.2} s over the run = {:.3} ms per pair (crypto alone: {:.3} ms \
             per pair); {:.2} of {threads} cores busy in the server",
            per_pair * 1e3,
            crypto_per_pair * 1e3,
            cpu / http.elapsed.as_secs_f64().max(f64::EPSILON),
        );
    }
    if let Some(cpu) = http.database_cpu.filter(|_| http.pairs > 0) {
        #[expect(clippy::cast_precision_loss, reason = "a ratio for display")]
        let per_pair = cpu / http.pairs as f64;
        println!(
            "  PostgreSQL CPU: {cpu:.2} s over the run = {:.3} ms per pair; {:.2} of {threads} \
             cores busy in PostgreSQL",
            per_pair * 1e3,
            cpu / http.elapsed.as_secs_f64().max(f64::EPSILON),
        );
    }
    let p50 = quantile(commits, 0.50);
    let mean = if commits.is_empty() {
        Duration::ZERO
    } else {
        commits.iter().sum::<Duration>() / u32::try_from(commits.len()).unwrap_or(u32::MAX)
    };
    println!(
        "\n  durable {store} commit on this disk ({} sequential, insert {PROBE_VALUE_BYTES} bytes \
         + remove each): mean {} · p50 {} · p95 {} · p99 {}",
        commits.len(),
        millis(mean),
        millis(p50),
        millis(quantile(commits, 0.95)),
        millis(quantile(commits, 0.99)),
    );
    if mean > Duration::ZERO {
        let bound = 1.0 / (2.0 * mean.as_secs_f64());
        println!(
            "  bound for one commit per create and per {last}, one writer (from the mean): \
             {bound:.1} pairs/s{}",
            if options.store == Store::Postgres {
                " per connection (PostgreSQL flushes concurrent commits together)"
            } else {
                ""
            }
        );
        println!("  paravoid / durable-commit bound: {:.2}×", rate / bound);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&samples, 0.50), Duration::from_millis(50));
        assert_eq!(quantile(&samples, 0.95), Duration::from_millis(95));
        assert_eq!(quantile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(quantile(&samples, 1.0), Duration::from_millis(100));
        assert_eq!(quantile(&[], 0.5), Duration::ZERO);
        let one = [Duration::from_millis(7)];
        assert_eq!(quantile(&one, 0.01), Duration::from_millis(7));
    }

    #[test]
    fn messages_have_the_asked_length_and_differ() {
        for len in [1, 5, 17, 256, 4096] {
            assert_eq!(message_for(3, 9, len).len(), len);
        }
        assert_ne!(message_for(1, 2, 64), message_for(2, 1, 64));
        assert_ne!(message_for(1, 2, 64), message_for(1, 3, 64));
    }

    #[test]
    fn options_parse_and_reject() {
        let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
        let o = parse(&args("--clients 8 --seconds 3 --message-bytes 100")).unwrap();
        assert_eq!((o.clients, o.seconds, o.message_bytes), (8, 3, 100));
        let o = parse(&[]).unwrap();
        assert_eq!(
            (o.clients, o.seconds, o.message_bytes),
            (DEFAULT_CLIENTS, DEFAULT_SECONDS, DEFAULT_MESSAGE_BYTES)
        );
        assert!(parse(&args("--clients 0")).is_err());
        assert!(parse(&args("--seconds 100000")).is_err());
        assert!(parse(&args("--clients")).is_err());
        assert!(parse(&args("--clients x")).is_err());
        assert!(parse(&args("--bogus 1")).is_err());
        assert_eq!(parse(&[]).unwrap().mode, Mode::Published);
        assert_eq!(parse(&args("--mode e2e")).unwrap().mode, Mode::EndToEnd);
        assert!(parse(&args("--mode browser")).is_err());
        assert!(parse(&args("--mode e2e --attack argon2")).is_err());
        let o = parse(&args("--store postgres --instances 3")).unwrap();
        assert_eq!((o.store, o.instances), (Store::Postgres, 3));
        assert_eq!(parse(&[]).unwrap().store, Store::Redb);
        assert!(parse(&args("--store mysql")).is_err());
        assert!(
            parse(&args("--instances 3")).is_err(),
            "redb has one writer"
        );
        assert!(parse(&args("--store postgres --instances 0")).is_err());
        assert_eq!(parse(&[]).unwrap().attackers, None);
        let o = parse(&args("--attack argon2")).unwrap();
        assert_eq!(o.attackers, Some(attack::DEFAULT_ATTACKERS));
        let o = parse(&args("--attackers 7 --attack argon2")).unwrap();
        assert_eq!(o.attackers, Some(7));
        assert!(parse(&args("--attack sha1")).is_err());
        assert!(parse(&args("--attackers 7")).is_err());
        assert!(parse(&args("--attack argon2 --attackers 0")).is_err());
        assert!(parse(&args("--store postgres --attack argon2")).is_err());
    }
}
