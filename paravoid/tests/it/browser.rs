//! The pages in a real browser: headless Chromium driven through chromedriver (WebDriver)
//! against an in-process server. Creates notes on `/`, reveals them on `/s/{id}` in other browser
//! sessions, and saves screenshots under `<target>/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test is skipped with a
//! message, except under `QSMM_REQUIRE_EXTERNAL=1` (CI), where a missing browser fails it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers outside #[test] fail the test on any error"
)]

use qsmm_test_support::external;
mod files_flow;
mod flows;
mod hostile;
mod receipts_flow;
mod request_files_flow;
mod requests_flow;

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;
use paravoid::{AppState, Config};
use tokio::sync::oneshot;

use crate::browser::flows::{Received, Site, screenshot_dir};
use crate::browser::hostile::{Hostility, Scenario};
use qsmm_test_support::webdriver::{Browser, Driver};

/// The browser binaries, or `None` after printing why the test is skipped (a panic under CI).
fn browser_or_skip(test: &str) -> Option<Browser> {
    match Browser::find() {
        Ok(browser) => Some(browser),
        Err(why) => {
            external::skip(&format!("{test}: {why}"));
            None
        }
    }
}

/// A server on a free loopback port, with a hook that keeps every request it receives (method,
/// path and query, body), so the test can check what reached the server, and that answers as
/// the current [`Scenario`] says (the real service for [`Scenario::Honest`]).
struct Server {
    base: String,
    received: Received,
    hostility: Hostility,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// [`Server::start`] with the configuration changed by `configure`.
    async fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::with_db(dir.path().join("notes.redb"));
        configure(&mut config);
        let state = AppState::open(config).unwrap();
        let received: Received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let hostility: Hostility = Arc::new(Mutex::new(Scenario::Honest));
        let lies = hostility.clone();
        let app = paravoid::app(state).layer(axum::middleware::from_fn(
            move |request: Request, next: Next| {
                let log = log.clone();
                let lies = lies.clone();
                async move {
                    let (parts, body) = request.into_parts();
                    let bytes = axum::body::to_bytes(body, usize::MAX)
                        .await
                        .unwrap_or_default();
                    log.lock()
                        .unwrap()
                        .push((format!("{} {}", parts.method, parts.uri), bytes.to_vec()));
                    let scenario = *lies.lock().unwrap();
                    if let Some(lie) = scenario.answer(&parts.method, parts.uri.path()) {
                        return lie;
                    }
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
            hostility,
            stop,
            task,
            _dir: dir,
        }
    }

    async fn stop(self) {
        self.stop.send(()).unwrap();
        self.task.await.unwrap().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_work_in_a_real_browser() {
    let Some(browser) = browser_or_skip("pages_work_in_a_real_browser") else {
        return;
    };
    let server = Server::start().await;
    let screenshots = screenshot_dir();
    let driver = Driver::start(&browser).await.unwrap();
    let site = Site {
        driver: &driver,
        base: server.base.clone(),
        screenshots: screenshots.clone(),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        received: server.received.clone(),
        secrets: Mutex::new(Vec::new()),
    };
    let outcome = async {
        site.create_then_reveal_once().await?;
        site.passphrase_protects_the_note().await?;
        site.published_api_links_still_open().await?;
        site.desktop_layout().await?;
        site.incomplete_link_is_explained().await?;
        site.notes_cross_between_chromium_and_rust().await?;
        site.read_receipt_follows_the_note().await?;
        site.nothing_secret_reached_the_server()
    }
    .await;
    // Quit the browsers and chromedriver before the server.
    drop(site);
    drop(driver);
    server.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    println!("screenshots in {}", screenshots.display());
}

/// The reveal page against a server that lies (see `browser/hostile.rs`): an end-to-end link
/// never makes the page send its keys or the passphrase, whatever the server answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malicious_server_learns_no_keys() {
    let Some(browser) = browser_or_skip("a_malicious_server_learns_no_keys") else {
        return;
    };
    let server = Server::start().await;
    let driver = Driver::start(&browser).await.unwrap();
    let site = Site {
        driver: &driver,
        base: server.base.clone(),
        screenshots: screenshot_dir(),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        received: server.received.clone(),
        secrets: Mutex::new(Vec::new()),
    };
    let outcome = site
        .a_malicious_server_learns_no_keys(&server.hostility)
        .await;
    drop(site);
    drop(driver);
    server.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Files page to page (a 20 MiB file among three, byte-identical after download, the leak scan
/// on every request), and a file over `--max-file-bytes` refused on the page. Prints the wall
/// times of the 20 MiB upload and download (BENCHMARKS.md), asserting nothing about them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_cross_page_to_page() {
    let Some(browser) = browser_or_skip("files_cross_page_to_page") else {
        return;
    };
    let server = Server::start().await;
    let limited = Server::start_with(|config| config.max_file_bytes = 1024 * 1024).await;
    let driver = Driver::start(&browser).await.unwrap();
    let outcome = async {
        let timings =
            files_flow::files_cross_page_to_page(&driver, &server.base, &server.received).await?;
        files_flow::a_file_over_the_limit_is_refused(&driver, &limited.base, &limited.received)
            .await?;
        Ok::<_, String>(timings)
    }
    .await;
    drop(driver);
    server.stop().await;
    limited.stop().await;
    match outcome {
        Ok(timings) => println!(
            "a {} MiB file in Chromium: upload (seal + send, create → link) {:?}, download \
             (fetch + open + save) {:?}",
            files_flow::large() >> 20,
            timings.upload,
            timings.download
        ),
        Err(failure) => panic!("{failure}"),
    }
}

/// Request-a-secret page to page: the request page makes a request, the responder's page
/// answers it, the requester's page opens it once; the leak scan on every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_answered_page_to_page() {
    let Some(browser) = browser_or_skip("a_request_is_answered_page_to_page") else {
        return;
    };
    let server = Server::start().await;
    let driver = Driver::start(&browser).await.unwrap();
    let outcome =
        requests_flow::request_page_to_page(&driver, &server.base, &server.received).await;
    drop(driver);
    server.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// A request answered with files page to page: the responder's page seals and uploads a 3 MiB
/// file and a small one with the answer; the requester's page downloads both byte for byte;
/// the leak scan on every request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_answered_with_files_page_to_page() {
    let Some(browser) = browser_or_skip("a_request_is_answered_with_files_page_to_page") else {
        return;
    };
    let server = Server::start().await;
    let driver = Driver::start(&browser).await.unwrap();
    let outcome = request_files_flow::request_with_files_page_to_page(
        &driver,
        &server.base,
        &server.received,
    )
    .await;
    drop(driver);
    server.stop().await;
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
}

/// Times the browser cryptography in Chromium (ML-KEM-768 and Argon2id in JavaScript,
/// AES-256-GCM through `WebCrypto`) and prints the medians; the numbers in BENCHMARKS.md come
/// from here. Asserts nothing about speed. Run with
/// `cargo test -p paravoid --test it -- --ignored --nocapture browser::`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test: run it by hand"]
async fn measure_browser_crypto() {
    let Some(browser) = browser_or_skip("measure_browser_crypto") else {
        return;
    };
    let server = Server::start().await;
    let driver = Driver::start(&browser).await.unwrap();
    let session = driver.session(1200, 800).await.unwrap();
    session.goto(&format!("{}/", server.base)).await.unwrap();
    let report = session.execute(flows::MEASURE_SCRIPT).await.unwrap();
    println!(
        "browser crypto in Chromium (median ms of {} runs): {report:#}",
        flows::MEASURE_RUNS
    );
    drop(session);
    drop(driver);
    server.stop().await;
}
