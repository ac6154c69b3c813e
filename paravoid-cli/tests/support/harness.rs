//! What the command-line tests share: a paravoid server in this process that records every
//! request it receives, the binary under test, and the scan for secrets in what the server saw.
#![allow(dead_code, reason = "each test binary uses a part of it")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail the test on any error"
)]

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use base64::Engine as _;
use paravoid::{AppState, Config, ManualClock};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::oneshot;

/// The time the server's clock starts at.
pub(crate) const START: u64 = 1_800_000_000;

/// Every request a server received: `"METHOD /path?query"` and the body.
pub(crate) type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A paravoid server on a free loopback port, on a fresh redb file, with a manual clock at
/// [`START`], recording every request.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) received: Received,
    pub(crate) clock: Arc<ManualClock>,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    pub(crate) async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Server::start`] with the configuration changed by `adjust`.
    pub(crate) async fn start_with(adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(START));
        let mut config = Config::with_db(dir.path().join("notes.redb"));
        adjust(&mut config);
        let state = AppState::open_with_clock(config, clock.clone()).unwrap();
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let app = paravoid::app(state).layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let log = log.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX)
                        .await
                        .unwrap_or_default();
                    log.lock()
                        .unwrap()
                        .push((format!("{} {}", parts.method, parts.uri), bytes.to_vec()));
                    next.run(Request::from_parts(parts, Body::from(bytes)))
                        .await
                }
            },
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ignored = stopped.await;
                })
                .await
        });
        Self {
            base,
            received,
            clock,
            stop,
            task,
            _dir: dir,
        }
    }

    pub(crate) async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }

    /// Whether the end-to-end API still has note `id`.
    pub(crate) async fn exists(&self, id: &str) -> bool {
        let status = client()
            .get(format!("{}/api/e2e/notes/{id}", self.base))
            .send()
            .await
            .unwrap()
            .status();
        assert!(status == 200 || status == 404, "peek: {status}");
        status == 200
    }

    /// Checks that no request carried any of `secrets` (raw, JSON-escaped, hex, base64 in
    /// both alphabets), and that the end-to-end traffic was seen at all.
    pub(crate) fn assert_no_secret_received(&self, secrets: &[&[u8]]) {
        let received = self.received.lock().unwrap();
        assert!(
            received
                .iter()
                .any(|(line, _)| line == "POST /api/e2e/notes"),
            "the recorder saw the creates"
        );
        for (line, body) in received.iter() {
            for secret in secrets {
                for needle in encodings(secret) {
                    assert!(
                        !contains(line.as_bytes(), &needle) && !contains(body, &needle),
                        "{line} carried a secret"
                    );
                }
            }
        }
    }
}

/// A secret raw, as a JSON string would carry it, in hex and in both base64 alphabets.
pub(crate) fn encodings(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        secret.to_vec(),
        hex(secret).into_bytes(),
        base64::engine::general_purpose::STANDARD_NO_PAD
            .encode(secret)
            .into_bytes(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(secret)
            .into_bytes(),
    ];
    if let Ok(text) = std::str::from_utf8(secret) {
        let json = serde_json::to_string(text).unwrap();
        out.push(json.trim_matches('"').as_bytes().to_vec());
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// An HTTP client that ignores proxy settings of the environment.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// What a run of the binary gave.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: String,
}

impl Run {
    /// Standard output as text, without the final line break.
    pub(crate) fn line(&self) -> String {
        String::from_utf8(self.stdout.clone())
            .unwrap()
            .trim_end_matches('\n')
            .to_owned()
    }

    /// Checks a failure: its exit code, one line on standard error, and a phrase of it.
    pub(crate) fn assert_failed(&self, code: i32, phrase: &str) {
        assert_eq!(self.code, code, "{self:?}");
        assert!(self.stdout.is_empty(), "{self:?}");
        let line = self.stderr.trim_end_matches('\n');
        assert!(!line.contains('\n'), "one line: {line:?}");
        assert!(line.starts_with("paravoid-cli: "), "{line:?}");
        assert!(line.contains(phrase), "{phrase:?} in {line:?}");
    }
}

/// Runs `paravoid-cli` with `args` and `stdin`, in no terminal (standard input is a pipe).
pub(crate) async fn run(args: &[&str], stdin: &[u8]) -> Run {
    run_with_env(args, stdin, &[]).await
}

/// [`run`] with extra environment variables.
pub(crate) async fn run_with_env(args: &[&str], stdin: &[u8], env: &[(&str, &Path)]) -> Run {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_paravoid-cli"))
        .args(args)
        .env_remove("PARAVOID_SERVER")
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // A run that fails before reading all of standard input closes it: a broken pipe here is
    // part of that outcome, which the exit code and standard error tell.
    let _written = input.write_all(stdin).await;
    drop(input);
    let output = child.wait_with_output().await.unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: output.stdout,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `send` of `message` to `server`, with extra arguments; returns the link.
pub(crate) async fn send(server: &str, message: &[u8], extra: &[&str]) -> String {
    let mut args = vec!["send", "--server", server];
    args.extend_from_slice(extra);
    let run = run(&args, message).await;
    assert_eq!(run.code, 0, "{run:?}");
    run.line()
}

/// Writes `passphrase` and a line break to a file in `dir` and returns its path.
pub(crate) fn passphrase_file(dir: &Path, name: &str, passphrase: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("{passphrase}\n")).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The note id and the compact keys of a link `<base>/s/<id>#e2e.<keys>`.
pub(crate) fn split_link<'a>(base: &str, link: &'a str) -> (&'a str, &'a str) {
    let rest = link
        .strip_prefix(base)
        .and_then(|rest| rest.strip_prefix("/s/"))
        .unwrap_or_else(|| panic!("{link} is not on {base}"));
    let (id, keys) = rest.split_once("#e2e.").unwrap();
    assert_eq!(keys.len(), 128, "{link}");
    (id, keys)
}

/// `node` 20 or later, or `None` after reporting why the test is skipped (a panic under CI).
pub(crate) fn node() -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PARAVOID_NODE")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join("node"))
                    .find(|path| path.is_file())
            })
        });
    let major = found.as_ref().and_then(|node| {
        let out = std::process::Command::new(node)
            .arg("--version")
            .output()
            .ok()?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        version
            .strip_prefix('v')?
            .split('.')
            .next()?
            .parse::<u32>()
            .ok()
    });
    match (found, major) {
        (Some(node), Some(major)) if major >= 20 => Some(node),
        _ => {
            qsmm_test_support::external::skip(
                "node 20 or later is not installed (`apt-get install nodejs npm`), or set \
                 PARAVOID_NODE",
            );
            None
        }
    }
}
