//! `cargo xtask loadtest [--clients N] [--seconds S] [--message-bytes B] [--store redb|postgres]
//! [--instances N] [--attack argon2 [--attackers A]]`: drives real paravoid servers over loopback
//! HTTP and compares their throughput with the note scheme's crypto alone.
//!
//! With `--store postgres` a throwaway PostgreSQL cluster (default durability: `fsync` and
//! `synchronous_commit` on) is started in the temporary directory, `--instances` servers
//! (default: one) share its database, and the clients are spread over them round-robin; the
//! commit probe then measures PostgreSQL's commit latency instead of redb's. `--attack argon2`
//! runs on redb with one server.
//!
//! 1. Builds `paravoid` and this tool in release mode and re-runs itself from the release build,
//!    so neither the load generator nor the crypto bound runs unoptimised code.
//! 2. Starts `paravoid --bind 127.0.0.1:<free port> --db <temporary dir>/notes.redb` and waits
//!    for `GET /healthz`.
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

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
/// How long the server may take to answer `GET /healthz` after it starts.
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

/// Options of one load test.
#[derive(Clone, Copy, Debug)]
struct Options {
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
        let cpu_before = cpu(&servers);
        let database_before = database_cpu();
        let addrs: Vec<SocketAddr> = servers.iter().map(|server| server.addr).collect();
        let result = runtime.block_on(drive(&addrs, options, 0));
        let server_cpu = cpu(&servers).zip(cpu_before).map(|(a, b)| a - b);
        let database_after = database_cpu();
        drop(servers);
        let (mut tally, _) = result?;
        tally.server_cpu = server_cpu;
        tally.database_cpu = database_after.zip(database_before).map(|(a, b)| a - b);
        tally
    };
    let crypto = crypto_bound(options)?;
    let commits = match &cluster {
        Some(cluster) => runtime.block_on(postgres_commit_latencies(&cluster.url()))?,
        None => commit_latencies(&db_dir.0.join("probe.redb"))?,
    };
    drop(cluster);
    report(options, &http, crypto, &commits);
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

/// Builds paravoid and xtask in release mode and runs the release xtask with the same arguments.
fn rerun_in_release(args: &[String]) -> Result<(), String> {
    let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    build.args(["build", "--release", "-p", "paravoid", "-p", "xtask"]);
    println!("==> {build:?}");
    let status = build
        .status()
        .map_err(|e| format!("cannot run cargo build: {e}"))?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    let xtask = release_dir().join(format!("xtask{}", std::env::consts::EXE_SUFFIX));
    let status = Command::new(&xtask)
        .arg("loadtest")
        .args(args)
        .env(RELEASE_MARKER, "1")
        .status()
        .map_err(|e| format!("cannot run {}: {e}", xtask.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err("load test failed".into())
    }
}

fn release_dir() -> PathBuf {
    target_dir().join("release")
}

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // Best effort: a leftover directory in the system temp dir is harmless.
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("xtask: cannot remove {}: {e}", self.0.display());
        }
    }
}

fn tempdir() -> Result<TempDir, String> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir =
        std::env::temp_dir().join(format!("paravoid-loadtest-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    Ok(TempDir(dir))
}

/// A fresh store key secret for `--store-key`: 32 bytes from the operating system.
fn store_secret() -> Result<[u8; 32], String> {
    use std::io::Read as _;
    let mut secret = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut secret))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    Ok(secret)
}

/// A running paravoid server, killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(binary: &Path, store_args: &[String]) -> Result<Self, String> {
        let addr = free_port()?;
        let child = Command::new(binary)
            .arg("--bind")
            .arg(addr.to_string())
            .args(store_args)
            // Every client is 127.0.0.1: per-client rate limits would measure themselves.
            .args(["--create-per-minute", "0", "--reveal-per-minute", "0"])
            // Attack runs leave many notes behind: the store cap would answer 507 and skew them.
            .args(["--max-notes", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let mut server = Self { child, addr };
        server.wait_healthy()?;
        Ok(server)
    }

    fn wait_healthy(&mut self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < STARTUP_LIMIT {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("paravoid exited at startup: {status}"));
            }
            if healthz(self.addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "paravoid did not answer GET /healthz within {STARTUP_LIMIT:?}"
        ))
    }
}

impl Server {
    /// CPU seconds (user + system) the server has used so far, from `/proc` (Linux only;
    /// `USER_HZ` is 100 on every Linux target).
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')')?.1;
        let mut fields = rest.split_whitespace().skip(11);
        let utime: f64 = fields.next()?.parse().ok()?;
        let stime: f64 = fields.next()?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The child is ours; if it already exited, kill fails harmlessly.
        if self.child.kill().is_ok() {
            drop(self.child.wait());
        }
    }
}

/// Picks a free loopback port by binding port 0 and releasing it.
fn free_port() -> Result<SocketAddr, String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot find a free port: {e}"))?;
    listener
        .local_addr()
        .map_err(|e| format!("cannot find a free port: {e}"))
}

/// A minimal blocking `GET /healthz` (avoids a runtime before the server is up).
fn healthz(addr: SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .is_err()
    {
        return false;
    }
    let request = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// The endpoints whose latencies are reported.
#[derive(Clone, Copy, Debug)]
enum Endpoint {
    Create,
    Peek,
    Reveal,
}

impl Endpoint {
    const ALL: [Self; 3] = [Self::Create, Self::Peek, Self::Reveal];

    const fn label(self) -> &'static str {
        match self {
            Self::Create => "create  POST /api/secrets",
            Self::Peek => "peek    GET  /api/secrets/{id}",
            Self::Reveal => "reveal  POST /api/secrets/{id}/reveal",
        }
    }

    const fn index(self) -> usize {
        match self {
            Self::Create => 0,
            Self::Peek => 1,
            Self::Reveal => 2,
        }
    }
}

/// What one client (and, merged, the whole run) measured.
#[derive(Debug, Default)]
struct Tally {
    /// Completed create → peek → reveal rounds with the right message back.
    pairs: u64,
    /// Failed requests and wrong revealed messages.
    failures: u64,
    /// The first few failure descriptions, for the report.
    first_failures: Vec<String>,
    /// Latencies per endpoint, in the order of [`Endpoint::ALL`].
    latencies: [Vec<Duration>; 3],
    /// Wall time of the measured phase.
    elapsed: Duration,
    /// CPU seconds the server used during the measured phase, where the platform tells.
    server_cpu: Option<f64>,
    /// CPU seconds PostgreSQL used meanwhile (`--store postgres`, Linux).
    database_cpu: Option<f64>,
}

impl Tally {
    fn fail(&mut self, what: String) {
        self.failures += 1;
        if self.first_failures.len() < 5 {
            self.first_failures.push(what);
        }
    }

    fn merge(&mut self, other: Self) {
        self.pairs += other.pairs;
        self.failures += other.failures;
        for failure in other.first_failures {
            if self.first_failures.len() < 5 {
                self.first_failures.push(failure);
            }
        }
        for (mine, theirs) in self.latencies.iter_mut().zip(other.latencies) {
            mine.extend(theirs);
        }
    }
}

/// Runs `options.clients` clients against the servers (round-robin) for `options.seconds`, and
/// `attackers` attackers against the first server.
async fn drive(
    addrs: &[SocketAddr],
    options: Options,
    attackers: usize,
) -> Result<(Tally, attack::AttackTally), String> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .pool_max_idle_per_host(options.clients + attackers)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let bases: Vec<Arc<String>> = addrs
        .iter()
        .map(|addr| Arc::new(format!("http://{addr}")))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let attack_tasks: Vec<_> = (0..attackers)
        .map(|_| {
            let (client, base, stop) = (
                client.clone(),
                bases.first().cloned().unwrap_or_default(),
                Arc::clone(&stop),
            );
            tokio::spawn(async move { attack::attacker(&client, &base, &stop).await })
        })
        .collect();
    if attackers > 0 {
        // Let the attack reach its steady state before the clients are measured.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(options.clients);
    for index in 0..options.clients {
        let client = client.clone();
        let base = bases
            .get(index % bases.len().max(1))
            .cloned()
            .ok_or("no server to drive")?;
        let stop = Arc::clone(&stop);
        tasks.push(tokio::spawn(async move {
            client_loop(&client, &base, &stop, index, options.message_bytes).await
        }));
    }
    tokio::time::sleep(Duration::from_secs(options.seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let measured = start.elapsed();

    let mut total = Tally::default();
    for task in tasks {
        match tokio::time::timeout(DRAIN_LIMIT, task).await {
            Ok(Ok(tally)) => total.merge(tally),
            Ok(Err(e)) => total.fail(format!("client task failed: {e}")),
            Err(_) => total.fail("client did not finish within the drain limit".into()),
        }
    }
    // Rounds still in flight at the stop signal finish after `measured`; count the real span.
    total.elapsed = start.elapsed().max(measured);
    let mut attack = attack::AttackTally::default();
    for task in attack_tasks {
        match tokio::time::timeout(DRAIN_LIMIT, task).await {
            Ok(Ok(tally)) => attack.merge(tally),
            Ok(Err(e)) => total.fail(format!("attacker task failed: {e}")),
            Err(_) => total.fail("attacker did not finish within the drain limit".into()),
        }
    }
    Ok((total, attack))
}

/// One client: create → peek → reveal until told to stop.
async fn client_loop(
    client: &reqwest::Client,
    base: &str,
    stop: &AtomicBool,
    index: usize,
    message_bytes: usize,
) -> Tally {
    let mut tally = Tally::default();
    let mut round: u64 = 0;
    while !stop.load(Ordering::Relaxed) && round < MAX_ROUNDS_PER_CLIENT {
        let message = message_for(index, round, message_bytes);
        match one_round(client, base, &message, round, &mut tally).await {
            Ok(()) => tally.pairs += 1,
            Err(e) => tally.fail(e),
        }
        round += 1;
    }
    tally
}

/// A message of exactly `len` ASCII bytes, unique per client and round.
fn message_for(client: usize, round: u64, len: usize) -> String {
    let mut message = format!("client {client} round {round} ");
    let filler = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut i = 0;
    while message.len() < len {
        message.push(char::from(filler[i % filler.len()]));
        i += 1;
    }
    message.truncate(len);
    message
}

async fn one_round(
    client: &reqwest::Client,
    base: &str,
    message: &str,
    round: u64,
    tally: &mut Tally,
) -> Result<(), String> {
    let created = timed(
        tally,
        Endpoint::Create,
        client
            .post(format!("{base}/api/secrets"))
            .json(&json!({ "message": message, "ttl_secs": 600 }))
            .send(),
    )
    .await?;
    let created = json_body(created, "create").await?;
    let id = field(&created, "id")?;

    let peeked = timed(
        tally,
        Endpoint::Peek,
        client.get(format!("{base}/api/secrets/{id}")).send(),
    )
    .await?;
    json_body(peeked, "peek").await?;

    // Alternate the two ways of presenting the keys, so both are exercised.
    let keys = if round.is_multiple_of(2) {
        json!({ "compact": field(&created, "compact")? })
    } else {
        json!({
            "dk": field(&created, "dk")?,
            "classical_secret": field(&created, "classical_secret")?,
        })
    };
    let revealed = timed(
        tally,
        Endpoint::Reveal,
        client
            .post(format!("{base}/api/secrets/{id}/reveal"))
            .json(&keys)
            .send(),
    )
    .await?;
    let revealed = json_body(revealed, "reveal").await?;
    let got = field(&revealed, "message")?;
    if got != message {
        return Err(format!(
            "note {id}: revealed {} bytes that differ from the {} sent",
            got.len(),
            message.len()
        ));
    }
    Ok(())
}

async fn timed<F>(
    tally: &mut Tally,
    endpoint: Endpoint,
    request: F,
) -> Result<reqwest::Response, String>
where
    F: Future<Output = reqwest::Result<reqwest::Response>>,
{
    let start = Instant::now();
    let response = request.await;
    // The latency ends when the response head arrives; bodies are a few hundred bytes.
    let latency = start.elapsed();
    let response = response.map_err(|e| format!("{}: {e}", endpoint.label()))?;
    if let Some(samples) = tally.latencies.get_mut(endpoint.index()) {
        samples.push(latency);
    }
    Ok(response)
}

async fn json_body(response: reqwest::Response, what: &str) -> Result<Value, String> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("{what}: reading the body: {e}"))?;
    if !status.is_success() {
        return Err(format!(
            "{what}: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .collect::<String>()
        ));
    }
    serde_json::from_slice(&body).map_err(|e| format!("{what}: not JSON: {e}"))
}

fn field<'a>(value: &'a Value, name: &str) -> Result<&'a str, String> {
    value
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("response has no string field `{name}`"))
}

/// `seal_note` + `open_note` of a message of the load test's length on every core for
/// `options.seconds`: the pairs/s a server could reach if the note crypto were all it did.
fn crypto_bound(options: Options) -> Result<f64, String> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let duration = Duration::from_secs(options.seconds);
    let message = message_for(0, 0, options.message_bytes).into_bytes();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let message = message.clone();
            std::thread::spawn(move || -> Result<u64, String> {
                let begin = Instant::now();
                let mut pairs = 0u64;
                while begin.elapsed() < duration {
                    let (stored, keys) = qsmm_shield::note::seal_note(&message)
                        .map_err(|e| format!("seal_note: {e}"))?;
                    let opened = qsmm_shield::note::open_note(&stored, &keys)
                        .map_err(|e| format!("open_note: {e}"))?;
                    if opened.as_slice() != message.as_slice() {
                        return Err("open_note returned another message".into());
                    }
                    pairs += 1;
                }
                Ok(pairs)
            })
        })
        .collect();
    let mut pairs = 0u64;
    for handle in handles {
        pairs += handle
            .join()
            .map_err(|_| "a crypto-bound thread panicked".to_owned())??;
    }
    let seconds = start.elapsed().as_secs_f64();
    #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
    Ok(pairs as f64 / seconds)
}

/// Latencies of sequential durable redb commits, sorted. Each commit inserts one note-sized
/// value and removes the previous one, like a create followed by a reveal, so the file stops
/// growing after the warm-up (a growing file would add a journal commit to every fsync).
fn commit_latencies(path: &Path) -> Result<Vec<Duration>, String> {
    const TABLE: redb::TableDefinition<'_, u64, &[u8]> = redb::TableDefinition::new("probe");
    let error = |e: &dyn std::fmt::Display| format!("redb probe: {e}");
    let db = redb::Database::create(path).map_err(|e| error(&e))?;
    let value = vec![0x5au8; PROBE_VALUE_BYTES];
    let mut samples = Vec::with_capacity(PROBE_MAX_COMMITS);
    let start = Instant::now();
    for key in 0u64.. {
        if samples.len() >= PROBE_MAX_COMMITS || start.elapsed() >= PROBE_TIME {
            break;
        }
        let begin = Instant::now();
        let txn = db.begin_write().map_err(|e| error(&e))?;
        {
            let mut table = txn.open_table(TABLE).map_err(|e| error(&e))?;
            table.insert(key, value.as_slice()).map_err(|e| error(&e))?;
            if let Some(previous) = key.checked_sub(1) {
                drop(table.remove(previous).map_err(|e| error(&e))?);
            }
        }
        txn.commit().map_err(|e| error(&e))?;
        if key >= PROBE_WARM_UP {
            samples.push(begin.elapsed());
        }
    }
    samples.sort_unstable();
    Ok(samples)
}

/// Latencies of sequential durable PostgreSQL commits, sorted: on one connection, each
/// autocommit `INSERT` of a note-sized row followed by the `DELETE` of the previous one, like a
/// create and a reveal. Unlike redb, PostgreSQL flushes the commits of concurrent connections
/// together (its WAL is group-committed), so this bounds one connection, not the server.
async fn postgres_commit_latencies(url: &str) -> Result<Vec<Duration>, String> {
    let error = |e: &dyn std::fmt::Display| format!("PostgreSQL probe: {e}");
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| error(&e))?;
    let connection = tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE probe (key bigint PRIMARY KEY, value bytea NOT NULL)")
        .await
        .map_err(|e| error(&e))?;
    let insert = client
        .prepare("INSERT INTO probe (key, value) VALUES ($1, $2)")
        .await
        .map_err(|e| error(&e))?;
    let delete = client
        .prepare("DELETE FROM probe WHERE key = $1")
        .await
        .map_err(|e| error(&e))?;
    let value = vec![0x5au8; PROBE_VALUE_BYTES];
    let mut samples = Vec::with_capacity(PROBE_MAX_COMMITS);
    let start = Instant::now();
    for key in 0i64.. {
        if samples.len() >= PROBE_MAX_COMMITS || start.elapsed() >= PROBE_TIME {
            break;
        }
        let begin = Instant::now();
        client
            .execute(&insert, &[&key, &value])
            .await
            .map_err(|e| error(&e))?;
        if key >= 1 {
            client
                .execute(&delete, &[&(key - 1)])
                .await
                .map_err(|e| error(&e))?;
        }
        if key >= i64::try_from(PROBE_WARM_UP).unwrap_or(0) {
            // Two commits per sample: report the latency of one.
            samples.push(begin.elapsed() / 2);
        }
    }
    drop(client);
    drop(connection.await);
    samples.sort_unstable();
    Ok(samples)
}

/// The `q` quantile (0..=1) of sorted samples, nearest rank.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "rank of a sample count far below 2^52, clamped below"
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted.get(rank - 1).copied().unwrap_or_default()
}

fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn report(options: Options, http: &Tally, crypto: f64, commits: &[Duration]) {
    #[expect(clippy::cast_precision_loss, reason = "a rate for display")]
    let rate = http.pairs as f64 / http.elapsed.as_secs_f64().max(f64::EPSILON);
    let store = match options.store {
        Store::Redb => "redb",
        Store::Postgres => "PostgreSQL",
    };
    println!(
        "\nparavoid load test: {} clients, {} s, {}-byte messages, loopback HTTP/1.1, {} \
         instance(s) on {store}",
        options.clients, options.seconds, options.message_bytes, options.instances
    );
    println!(
        "  completed create → peek → reveal rounds: {} in {:.2} s = {rate:.1} pairs/s",
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
            endpoint.label(),
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
        println!(
            "  bound for one commit per create and per reveal, one writer (from the mean): \
             {:.1} pairs/s{}",
            1.0 / (2.0 * mean.as_secs_f64()),
            if options.store == Store::Postgres {
                " per connection (PostgreSQL flushes concurrent commits together)"
            } else {
                ""
            }
        );
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
