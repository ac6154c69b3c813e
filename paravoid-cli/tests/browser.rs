//! The command-line client and the real pages in headless Chromium, through one server: a link
//! from `paravoid-cli send` is revealed on the reveal page, a link made on the create page is
//! opened by `paravoid-cli open`, both with a passphrase; then every request the server
//! received is scanned for the messages, the passphrases and the keys.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them the test is skipped with a
//! message, except under `QSMM_REQUIRE_EXTERNAL=1` (CI), where a missing browser fails it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;
use qsmm_test_support::external;

use crate::harness::{Server, passphrase_file, run, send, split_link};
use qsmm_test_support::webdriver::{Browser, Driver};

/// A phone-sized viewport, as the page's own browser test uses.
const PHONE: (u32, u32) = (390, 844);
/// The WebDriver code of the Enter key.
const ENTER: char = '\u{E007}';

fn check(condition: bool, what: &str) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

/// `paravoid-cli send` → the reveal page in Chromium.
async fn cli_link_opens_on_the_page(
    server: &Server,
    driver: &Driver,
    dir: &std::path::Path,
) -> Result<(String, String), String> {
    let message = "sent from a shell ✓ <b>not markup</b> & \"quotes\"";
    let pw = passphrase_file(dir, "cli-pw", "shell passphrase");
    let link = send(
        &server.base,
        message.as_bytes(),
        &["--passphrase-file", &pw],
    )
    .await;
    let (id, keys) = split_link(&server.base, &link);
    let reader = driver.session(PHONE.0, PHONE.1).await?;
    reader.goto(&link).await?;
    let passphrase = reader.wait_visible("#passphrase").await?;
    reader
        .wait_until(
            "the reveal button",
            "return !document.getElementById('reveal').disabled;",
        )
        .await?;
    reader
        .type_text(&passphrase, &format!("shell passphrase{ENTER}"))
        .await?;
    reader.wait_visible("#note").await?;
    reader
        .wait_until(
            "the note text",
            "return document.getElementById('message').value.length > 0;",
        )
        .await?;
    let shown = reader.value(&reader.find("#message").await?).await?;
    check(shown == message, &format!("the page shows {shown:?}"))?;
    check(!server.exists(id).await, "the page claimed the CLI's note")?;
    Ok((message.to_owned(), keys.to_owned()))
}

/// The create page in Chromium → `paravoid-cli open`.
async fn page_link_opens_with_the_cli(
    server: &Server,
    driver: &Driver,
    dir: &std::path::Path,
) -> Result<(String, String), String> {
    let message = "typed in Chromium ✓ 4711";
    let sender = driver.session(PHONE.0, PHONE.1).await?;
    sender.goto(&format!("{}/", server.base)).await?;
    let text = sender.wait_visible("#message").await?;
    sender.type_text(&text, message).await?;
    sender
        .type_text(&sender.find("#passphrase").await?, "page passphrase")
        .await?;
    sender.click(&sender.find("#create").await?).await?;
    let field = sender.wait_visible("#link").await?;
    let link = sender.value(&field).await?;
    check(
        link.contains("#e2e."),
        &format!("an end-to-end link: {link}"),
    )?;
    let (id, keys) = split_link(&server.base, &link);
    let pw = passphrase_file(dir, "page-pw", "page passphrase");
    let opened = run(&["open", &link, "--passphrase-file", &pw], b"").await;
    check(opened.code == 0, &format!("paravoid-cli open: {opened:?}"))?;
    check(
        opened.stdout == message.as_bytes(),
        &format!(
            "the CLI prints {:?}",
            String::from_utf8_lossy(&opened.stdout)
        ),
    )?;
    check(!server.exists(id).await, "the CLI claimed the page's note")?;
    Ok((message.to_owned(), keys.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_cross_between_the_cli_and_chromium() {
    let browser = match Browser::find() {
        Ok(browser) => browser,
        Err(why) => {
            external::skip(&why);
            return;
        }
    };
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let driver = Driver::start(&browser).await.unwrap();
    let outcome = async {
        let one = cli_link_opens_on_the_page(&server, &driver, dir.path()).await?;
        let two = page_link_opens_with_the_cli(&server, &driver, dir.path()).await?;
        Ok::<_, String>([one, two])
    }
    .await;
    drop(driver);
    let [(cli_message, cli_keys), (page_message, page_keys)] = match outcome {
        Ok(secrets) => secrets,
        Err(failure) => panic!("{failure}"),
    };
    server.assert_no_secret_received(&[
        cli_message.as_bytes(),
        cli_keys.as_bytes(),
        page_message.as_bytes(),
        page_keys.as_bytes(),
        b"shell passphrase",
        b"page passphrase",
    ]);
    server.stop().await;
}
