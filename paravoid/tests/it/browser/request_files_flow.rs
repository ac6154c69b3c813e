//! A request answered with files in a real browser, page to page: the responder's page lists
//! the chosen files (a 3 MiB one and a small text) by name and size, seals and uploads them and
//! posts the answer naming them; the requester's page opens the answer, lists the files and
//! downloads each once, byte-identical to the original (SHA-256). Then every request the server
//! received is scanned for the message, the link keys, the file names and pieces of the files.

use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::browser::files_flow::{noise, wait_for_download};
use crate::browser::flows::{Received, check};
use crate::browser::requests_flow::{nothing_secret_received, split, value};
use qsmm_test_support::webdriver::{Driver, Session};

const PHONE: (u32, u32) = (390, 844);
/// How long a few MiB may take to seal and upload on a busy CI machine.
const SLOW: Duration = Duration::from_secs(120);

/// The text of each item of the file list `selector` names.
async fn listed(session: &Session, selector: &str) -> Result<Vec<String>, String> {
    let value = session
        .execute(&format!(
            "return Array.from(document.querySelectorAll('{selector} li'))\
             .map((li) => li.textContent);"
        ))
        .await?;
    Ok(value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// The whole flow, page to page.
pub(crate) async fn request_with_files_page_to_page(
    driver: &Driver,
    base: &str,
    received: &Received,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let files: [(&str, Vec<u8>); 2] = [
        ("backup-5e1f.tar", noise(3 * 1024 * 1024 + 123, 0x51ed_270b)),
        (
            "recovery codes 2c7a.txt",
            "ABCD-EFGH-2c7a ünïcödé\n".repeat(10).into_bytes(),
        ),
    ];
    let mut paths = Vec::new();
    for (name, bytes) in &files {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).map_err(|e| e.to_string())?;
        paths.push(path.display().to_string());
    }
    let message = "Both attached — 5e1f2c7a";

    let requester = driver.session(PHONE.0, PHONE.1).await?;
    requester.goto(&format!("{base}/r")).await?;
    requester
        .click(&requester.wait_visible("#make").await?)
        .await?;
    requester.wait_visible("#made").await?;
    let request_link = value(&requester, "#request-link").await?;
    let own_link = value(&requester, "#own-link").await?;
    let (_, request_fragment) = split(base, &request_link, "req.")?;
    let (_, own_fragment) = split(base, &own_link, "own.")?;
    let own_keys = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&own_fragment[4..])
        .map_err(|e| e.to_string())?;

    let responder = driver.session(PHONE.0, PHONE.1).await?;
    responder.goto(&request_link).await?;
    responder
        .wait_until(
            "the limits in the help text",
            "return document.getElementById('files-help').textContent.includes('100.0 MiB');",
        )
        .await?;
    responder
        .type_text(&responder.find("#answer").await?, message)
        .await?;
    responder
        .type_text(&responder.find("#files").await?, &paths.join("\n"))
        .await?;
    let items = listed(&responder, "#file-list").await?;
    check(
        items.len() == 2
            && items[0].contains("backup-5e1f.tar")
            && items[0].contains("3.0 MiB")
            && items[1].contains("recovery codes 2c7a.txt"),
        &format!("the chosen files by name and size: {items:?}"),
    )?;
    responder.click(&responder.find("#respond").await?).await?;
    responder
        .wait_until_within(
            "the sent card after the uploads",
            "return !document.getElementById('responded').hidden;",
            SLOW,
        )
        .await?;
    check(
        listed(&responder, "#file-list").await?.is_empty(),
        "the file list is cleared after sending",
    )?;
    drop(responder);

    let downloads = tempfile::tempdir().map_err(|e| e.to_string())?;
    requester.allow_downloads(downloads.path()).await?;
    requester.goto(&own_link).await?;
    requester
        .wait_until(
            "the open button",
            "return !document.getElementById('open').disabled;",
        )
        .await?;
    requester.click(&requester.find("#open").await?).await?;
    requester.wait_visible("#files-part").await?;
    let shown = value(&requester, "#answer-text").await?;
    check(shown == message, &format!("the message: {shown:?}"))?;
    let items = listed(&requester, "#answer-files").await?;
    check(
        items.len() == 2 && items[0].contains("3.0 MiB") && items[1].contains("text/plain"),
        &format!("the answer's files by name, size and type: {items:?}"),
    )?;
    for (index, (name, bytes)) in files.iter().enumerate() {
        check(items[index].contains(name), &format!("{name} is listed"))?;
        let button = requester
            .find(&format!("#answer-files li:nth-child({}) button", index + 1))
            .await?;
        requester.click(&button).await?;
        let saved = wait_for_download(downloads.path(), name, bytes.len()).await?;
        let got = std::fs::read(&saved).map_err(|e| e.to_string())?;
        check(
            Sha256::digest(&got) == Sha256::digest(bytes),
            &format!("{name} downloads byte-identical (SHA-256)"),
        )?;
        requester
            .wait_until(
                "the button after the download",
                &format!(
                    "return document.querySelector('#answer-files li:nth-child({}) button')\
                     .textContent === 'Save again';",
                    index + 1
                ),
            )
            .await?;
    }
    check(
        !requester
            .is_displayed(&requester.find("#files-error").await?)
            .await?,
        "no file error",
    )?;
    // Once only.
    requester.goto(&own_link).await?;
    requester
        .wait_until(
            "the open button",
            "return !document.getElementById('open').disabled;",
        )
        .await?;
    requester.click(&requester.find("#open").await?).await?;
    requester.wait_visible("#gone").await?;

    let uploads: Vec<usize> = received
        .lock()
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|(line, _)| line == "POST /api/e2e/files")
        .map(|(_, body)| body.len())
        .collect();
    let expected: Vec<usize> = files
        .iter()
        .map(|(_, bytes)| {
            qsmm_shield::attachment::sealed_size(bytes.len() as u64)
                .map_err(|e| e.to_string())
                .and_then(|size| usize::try_from(size).map_err(|e| e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    check(
        uploads == expected,
        &format!("sealed uploads of {expected:?} bytes, got {uploads:?}"),
    )?;
    let mut secrets: Vec<Vec<u8>> = vec![
        message.as_bytes().to_vec(),
        request_fragment.as_bytes().to_vec(),
        own_fragment.as_bytes().to_vec(),
        own_keys[..64].to_vec(),
        own_keys[64..].to_vec(),
    ];
    for (name, bytes) in &files {
        secrets.push(name.as_bytes().to_vec());
        let len = bytes.len();
        for start in [0, len / 2, len - 64] {
            secrets.push(bytes[start..start + 64].to_vec());
        }
    }
    nothing_secret_received(received, &secrets)
}
