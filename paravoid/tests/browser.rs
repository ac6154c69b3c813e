//! The pages in a real browser: headless Chromium driven through chromedriver (WebDriver)
//! against an in-process server. Creates notes on `/`, reveals them on `/s/{id}` in other browser
//! sessions, and saves screenshots under `<target>/screenshots/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test is skipped with a
//! message, except under CI (`CI=true`), where a missing browser fails it.

#[path = "browser/flows.rs"]
mod flows;
#[path = "browser/webdriver.rs"]
mod webdriver;

use std::io::Write as _;

use paravoid::{AppState, Config};
use tokio::sync::oneshot;

use crate::flows::{Site, screenshot_dir};
use crate::webdriver::{Browser, Driver};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_work_in_a_real_browser() {
    let browser = match Browser::find() {
        Ok(browser) => browser,
        Err(why) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI needs the browser test: {why}")
        }
        Err(why) => {
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            let message = format!("SKIPPED pages_work_in_a_real_browser: {why}\n");
            let _written = std::io::stderr().write_all(message.as_bytes());
            return;
        }
    };

    let dir = tempfile::tempdir().unwrap();
    let state = AppState::open(Config::with_db(dir.path().join("notes.redb"))).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(paravoid::serve(listener, state, async move {
        let _ignored = stopped.await;
    }));

    let screenshots = screenshot_dir();
    let driver = Driver::start(&browser).await.unwrap();
    let site = Site {
        driver: &driver,
        base,
        screenshots: screenshots.clone(),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
    };
    let outcome = async {
        site.create_then_reveal_once().await?;
        site.passphrase_protects_the_note().await?;
        site.desktop_layout().await?;
        site.incomplete_link_is_explained().await
    }
    .await;
    // Quit the browsers and chromedriver before the server.
    drop(site);
    drop(driver);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    println!("screenshots in {}", screenshots.display());
}
