//! The command-line client and the real pages in headless Chromium, through one server: a link
//! from `paravoid-cli send` is revealed on the reveal page, a link made on the create page is
//! opened by `paravoid-cli open`, both with a passphrase; files sent by `paravoid-cli send
//! --file` are downloaded byte for byte on the reveal page, and files chosen on the create page
//! are saved by `paravoid-cli open -o DIR`; a request made by `paravoid-cli request` is answered
//! on the page and opened by the CLI, and a request made on the page is answered by
//! `paravoid-cli respond` and opened on the page; the same two ways with files in the answers
//! (`open -o DIR` of the requester's link, `respond --file`). Every request the server received
//! is scanned for the messages, file names and contents, passphrases and keys.
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

use crate::harness::{Server, contains, encodings, passphrase_file, run, send, split_link};
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

/// How long a file's upload or download may take on a busy machine.
const SLOW: std::time::Duration = std::time::Duration::from_secs(120);

/// Bytes that do not repeat (xorshift64*), different per `state`.
fn noise(len: usize, mut state: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Waits until the browser has written `name` in `dir` with `len` bytes.
async fn wait_for_download(
    dir: &std::path::Path,
    name: &str,
    len: usize,
) -> Result<Vec<u8>, String> {
    let path = dir.join(name);
    let deadline = std::time::Instant::now() + SLOW;
    loop {
        let partial = std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".crdownload"));
        if !partial && std::fs::metadata(&path).is_ok_and(|meta| meta.len() == len as u64) {
            return std::fs::read(&path).map_err(|e| e.to_string());
        }
        if std::time::Instant::now() > deadline {
            return Err(format!("{name} was not downloaded within {SLOW:?}"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `paravoid-cli send --file` → the reveal page lists the files and downloads each, byte for
/// byte. Returns the secrets for the leak scan.
async fn cli_files_download_on_the_page(
    server: &Server,
    driver: &Driver,
    dir: &std::path::Path,
) -> Result<Vec<Vec<u8>>, String> {
    let files = [
        ("shell-archive-5e1a.bin", noise(150_000, 0x5e1a)),
        (
            "shell notes 3d7c ü.txt",
            b"two lines\nfrom a shell\n".to_vec(),
        ),
    ];
    let mut extra = Vec::new();
    for (name, bytes) in &files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        extra.push("--file".to_owned());
        extra.push(path.display().to_string());
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let message = "files from a shell 5e1a";
    let link = send(&server.base, message.as_bytes(), &extra).await;
    let (_, keys) = split_link(&server.base, &link);

    let downloads = tempfile::tempdir().map_err(|e| e.to_string())?;
    let reader = driver.session(PHONE.0, PHONE.1).await?;
    reader.allow_downloads(downloads.path()).await?;
    reader.goto(&link).await?;
    reader
        .wait_until(
            "the reveal button",
            "return !document.getElementById('reveal').disabled;",
        )
        .await?;
    reader.click(&reader.find("#reveal").await?).await?;
    reader.wait_visible("#files-part").await?;
    let shown = reader.value(&reader.find("#message").await?).await?;
    check(shown == message, &format!("the message: {shown:?}"))?;
    for (index, (name, bytes)) in files.iter().enumerate() {
        let button = reader
            .find(&format!("#file-list li:nth-child({}) button", index + 1))
            .await?;
        reader.click(&button).await?;
        let saved = wait_for_download(downloads.path(), name, bytes.len()).await?;
        check(&saved == bytes, &format!("{name} downloads byte for byte"))?;
    }
    let mut secrets = vec![message.as_bytes().to_vec(), keys.as_bytes().to_vec()];
    for (name, bytes) in &files {
        secrets.push(name.as_bytes().to_vec());
        secrets.push(bytes[..16].to_vec());
    }
    Ok(secrets)
}

/// Files chosen on the create page → `paravoid-cli open -o DIR`, byte for byte.
async fn page_files_open_with_the_cli(
    server: &Server,
    driver: &Driver,
    dir: &std::path::Path,
) -> Result<Vec<Vec<u8>>, String> {
    let files = [
        ("page-upload-8b2f.bin", noise(3 * 65_536 + 7, 0x8b2f)),
        ("page-empty-1c4d.dat", Vec::new()),
    ];
    let mut paths = Vec::new();
    for (name, bytes) in &files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        paths.push(path.display().to_string());
    }
    let message = "files from Chromium 8b2f";
    let sender = driver.session(PHONE.0, PHONE.1).await?;
    sender.goto(&format!("{}/", server.base)).await?;
    let text = sender.wait_visible("#message").await?;
    sender.type_text(&text, message).await?;
    sender
        .type_text(&sender.find("#files").await?, &paths.join("\n"))
        .await?;
    sender.click(&sender.find("#create").await?).await?;
    sender
        .wait_until_within(
            "the link after the uploads",
            "return document.getElementById('link').value.includes('#e2e.');",
            SLOW,
        )
        .await?;
    let link = sender.value(&sender.find("#link").await?).await?;
    let (_, keys) = split_link(&server.base, &link);
    let out = dir.join("from-the-page");
    let opened = run(&["open", &link, "-o", &out.display().to_string()], b"").await;
    check(opened.code == 0, &format!("paravoid-cli open: {opened:?}"))?;
    for (name, bytes) in &files {
        let saved = std::fs::read(out.join(name)).map_err(|e| format!("{name}: {e}"))?;
        check(&saved == bytes, &format!("{name} opens byte for byte"))?;
    }
    let saved = std::fs::read(out.join("message.txt")).map_err(|e| e.to_string())?;
    check(saved == message.as_bytes(), "the message")?;
    let mut secrets = vec![message.as_bytes().to_vec(), keys.as_bytes().to_vec()];
    for (name, bytes) in &files {
        secrets.push(name.as_bytes().to_vec());
        if let Some(head) = bytes.get(..16) {
            secrets.push(head.to_vec());
        }
    }
    Ok(secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_cross_between_the_cli_and_chromium() {
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
        let mut secrets = cli_files_download_on_the_page(&server, &driver, dir.path()).await?;
        secrets.extend(page_files_open_with_the_cli(&server, &driver, dir.path()).await?);
        Ok::<_, String>(secrets)
    }
    .await;
    drop(driver);
    let secrets = match outcome {
        Ok(secrets) => secrets,
        Err(failure) => panic!("{failure}"),
    };
    let secrets: Vec<&[u8]> = secrets.iter().map(Vec::as_slice).collect();
    server.assert_no_secret_received(&secrets);
    server.stop().await;
}

/// `paravoid-cli request` → answered on the page → `paravoid-cli open` of the own link; then
/// a request made on the page → `paravoid-cli respond` → opened on the page.
async fn requests_cross(server: &Server, driver: &Driver) -> Result<Vec<Vec<u8>>, String> {
    let to_page = "answered in Chromium 6a1f ✓";
    let made = run(&["request", "--server", &server.base], b"").await;
    check(made.code == 0, &format!("paravoid-cli request: {made:?}"))?;
    let text = String::from_utf8(made.stdout.clone()).map_err(|e| e.to_string())?;
    let mut lines = text.lines();
    let request_link = lines.next().unwrap_or_default().to_owned();
    let own_link = lines.next().unwrap_or_default().to_owned();
    check(request_link.contains("#req."), "a request link")?;
    let responder = driver.session(PHONE.0, PHONE.1).await?;
    responder.goto(&request_link).await?;
    responder
        .wait_until(
            "the answer button",
            "return !document.getElementById('respond').disabled;",
        )
        .await?;
    let answer = responder.find("#answer").await?;
    responder.type_text(&answer, to_page).await?;
    responder.click(&responder.find("#respond").await?).await?;
    responder.wait_visible("#responded").await?;
    let opened = run(&["open", &own_link], b"").await;
    check(opened.code == 0, &format!("paravoid-cli open: {opened:?}"))?;
    check(
        opened.stdout == to_page.as_bytes(),
        &format!(
            "the CLI opens {:?}",
            String::from_utf8_lossy(&opened.stdout)
        ),
    )?;

    let from_cli = "answered from a shell 9d3e";
    let requester = driver.session(PHONE.0, PHONE.1).await?;
    requester.goto(&format!("{}/r", server.base)).await?;
    requester
        .click(&requester.wait_visible("#make").await?)
        .await?;
    requester.wait_visible("#made").await?;
    let page_request = requester
        .value(&requester.find("#request-link").await?)
        .await?;
    let page_own = requester.value(&requester.find("#own-link").await?).await?;
    let responded = run(&["respond", &page_request], from_cli.as_bytes()).await;
    check(
        responded.code == 0,
        &format!("paravoid-cli respond: {responded:?}"),
    )?;
    requester.goto(&page_own).await?;
    requester
        .wait_until(
            "the open button",
            "return !document.getElementById('open').disabled;",
        )
        .await?;
    requester.click(&requester.find("#open").await?).await?;
    requester.wait_visible("#answer-card").await?;
    let shown = requester
        .value(&requester.find("#answer-text").await?)
        .await?;
    check(shown == from_cli, &format!("the page opens {shown:?}"))?;
    let fragment = |link: &str| link.split_once('#').map(|(_, f)| f.as_bytes().to_vec());
    let mut secrets = vec![to_page.as_bytes().to_vec(), from_cli.as_bytes().to_vec()];
    // The own links keep the keys; the request links carry the public encapsulation key, which
    // the answers' note format holds.
    secrets.extend(
        [&own_link, &page_own]
            .into_iter()
            .filter_map(|link| fragment(link)),
    );
    Ok(secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_cross_between_the_cli_and_chromium() {
    let browser = match Browser::find() {
        Ok(browser) => browser,
        Err(why) => {
            external::skip(&why);
            return;
        }
    };
    let server = Server::start().await;
    let driver = Driver::start(&browser).await.unwrap();
    let outcome = requests_cross(&server, &driver).await;
    drop(driver);
    let secrets = match outcome {
        Ok(secrets) => secrets,
        Err(failure) => panic!("{failure}"),
    };
    {
        let received = server.received.lock().unwrap();
        assert!(
            received
                .iter()
                .filter(|(line, _)| line.ends_with("/response"))
                .count()
                == 2,
            "the recorder saw both answers"
        );
        for (line, body) in received.iter() {
            for secret in &secrets {
                for needle in encodings(secret) {
                    assert!(
                        !contains(line.as_bytes(), &needle) && !contains(body, &needle),
                        "{line} carried a secret"
                    );
                }
            }
        }
    }
    server.stop().await;
}

/// `paravoid-cli request` → answered on the page with a file → `paravoid-cli open -o DIR`;
/// then a request made on the page → `paravoid-cli respond --file` → the page lists the files
/// and downloads each, byte for byte. Returns the secrets for the leak scan.
async fn request_files_cross(
    server: &Server,
    driver: &Driver,
    dir: &std::path::Path,
) -> Result<Vec<Vec<u8>>, String> {
    let page_file = ("page-answer-4e6b.bin", noise(2 * 65_536 + 9, 0x4e6b));
    let page_path = dir.join(page_file.0);
    std::fs::write(&page_path, &page_file.1).map_err(|e| e.to_string())?;
    let to_page = "a file from Chromium 4e6b";
    let made = run(&["request", "--server", &server.base], b"").await;
    check(made.code == 0, &format!("paravoid-cli request: {made:?}"))?;
    let text = String::from_utf8(made.stdout.clone()).map_err(|e| e.to_string())?;
    let (request_link, own_link) = text.trim_end().split_once('\n').unwrap_or_default();
    let responder = driver.session(PHONE.0, PHONE.1).await?;
    responder.goto(request_link).await?;
    responder
        .wait_until(
            "the answer button",
            "return !document.getElementById('respond').disabled;",
        )
        .await?;
    responder
        .type_text(&responder.find("#answer").await?, to_page)
        .await?;
    responder
        .type_text(
            &responder.find("#files").await?,
            &page_path.display().to_string(),
        )
        .await?;
    responder.click(&responder.find("#respond").await?).await?;
    responder
        .wait_until_within(
            "the sent card after the upload",
            "return !document.getElementById('responded').hidden;",
            SLOW,
        )
        .await?;
    let out = dir.join("answer-from-the-page");
    let opened = run(&["open", own_link, "-o", &out.display().to_string()], b"").await;
    check(opened.code == 0, &format!("paravoid-cli open: {opened:?}"))?;
    let saved = std::fs::read(out.join(page_file.0)).map_err(|e| e.to_string())?;
    check(saved == page_file.1, "the page's file opens byte for byte")?;
    let saved = std::fs::read(out.join("message.txt")).map_err(|e| e.to_string())?;
    check(saved == to_page.as_bytes(), "the page's message")?;

    let cli_files = [
        ("cli-answer-7c2d.bin", noise(65_536 + 3, 0x7c2d)),
        (
            "cli answer 7c2d ü.txt",
            b"two lines\nfrom respond --file\n".to_vec(),
        ),
    ];
    let mut extra = Vec::new();
    for (name, bytes) in &cli_files {
        let path = dir.join(name);
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        extra.push("--file".to_owned());
        extra.push(path.display().to_string());
    }
    let from_cli = "files from a shell 7c2d";
    let requester = driver.session(PHONE.0, PHONE.1).await?;
    requester.goto(&format!("{}/r", server.base)).await?;
    requester
        .click(&requester.wait_visible("#make").await?)
        .await?;
    requester.wait_visible("#made").await?;
    let page_request = requester
        .value(&requester.find("#request-link").await?)
        .await?;
    let page_own = requester.value(&requester.find("#own-link").await?).await?;
    let mut args = vec!["respond", page_request.as_str()];
    args.extend(extra.iter().map(String::as_str));
    let responded = run(&args, from_cli.as_bytes()).await;
    check(
        responded.code == 0,
        &format!("paravoid-cli respond --file: {responded:?}"),
    )?;
    let downloads = tempfile::tempdir().map_err(|e| e.to_string())?;
    requester.allow_downloads(downloads.path()).await?;
    requester.goto(&page_own).await?;
    requester
        .wait_until(
            "the open button",
            "return !document.getElementById('open').disabled;",
        )
        .await?;
    requester.click(&requester.find("#open").await?).await?;
    requester.wait_visible("#files-part").await?;
    let shown = requester
        .value(&requester.find("#answer-text").await?)
        .await?;
    check(shown == from_cli, &format!("the page opens {shown:?}"))?;
    for (index, (name, bytes)) in cli_files.iter().enumerate() {
        let button = requester
            .find(&format!("#answer-files li:nth-child({}) button", index + 1))
            .await?;
        requester.click(&button).await?;
        let saved = wait_for_download(downloads.path(), name, bytes.len()).await?;
        check(&saved == bytes, &format!("{name} downloads byte for byte"))?;
    }

    let fragment = |link: &str| link.split_once('#').map(|(_, f)| f.as_bytes().to_vec());
    let mut secrets = vec![to_page.as_bytes().to_vec(), from_cli.as_bytes().to_vec()];
    secrets.extend(
        [own_link, page_own.as_str()]
            .into_iter()
            .filter_map(fragment),
    );
    for (name, bytes) in cli_files.iter().chain([&page_file]) {
        secrets.push(name.as_bytes().to_vec());
        secrets.push(bytes[..16].to_vec());
    }
    Ok(secrets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_files_cross_between_the_cli_and_chromium() {
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
    let outcome = request_files_cross(&server, &driver, dir.path()).await;
    drop(driver);
    let secrets = match outcome {
        Ok(secrets) => secrets,
        Err(failure) => panic!("{failure}"),
    };
    {
        let received = server.received.lock().unwrap();
        let count = |wanted: &dyn Fn(&str) -> bool| {
            received.iter().filter(|(line, _)| wanted(line)).count()
        };
        assert_eq!(
            count(&|line| line.ends_with("/response")),
            2,
            "both answers"
        );
        assert_eq!(
            count(&|line| line == "POST /api/e2e/files"),
            3,
            "three uploads"
        );
        for (line, body) in received.iter() {
            for secret in &secrets {
                for needle in encodings(secret) {
                    assert!(
                        !contains(line.as_bytes(), &needle) && !contains(body, &needle),
                        "{line} carried a secret"
                    );
                }
            }
        }
    }
    server.stop().await;
}
