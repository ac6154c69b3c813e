//! Files of an end-to-end note, page to page in a real browser: three files (20 MiB, a small
//! text, an empty one) chosen on the create page, sealed and uploaded; the reveal page lists
//! them and downloads each once, decrypted into a file byte-identical to the original (SHA-256);
//! a file above the server's `--max-file-bytes` is refused on the page before anything is sent.
//! Every request the server received is scanned for the message, the link keys, the file names
//! and the files' bytes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use qsmm_shield::attachment::sealed_size;
use sha2::{Digest, Sha256};

use crate::browser::flows::{Received, check, contains, encodings, link_keys, note_id};
use qsmm_test_support::webdriver::{Driver, Session};

/// The large file's size: 20 MiB, or `PARAVOID_PAGE_FILE_MIB` MiB (for the 100 MiB measurement
/// of BENCHMARKS.md).
pub(crate) fn large() -> usize {
    std::env::var("PARAVOID_PAGE_FILE_MIB")
        .ok()
        .and_then(|mib| mib.parse::<usize>().ok())
        .unwrap_or(20)
        << 20
}
/// The large file's size as the pages show it (`20.0 MiB`).
fn large_shown() -> String {
    format!("{}.0 MiB", large() >> 20)
}
/// How long a 20 MiB upload or download may take on a busy CI machine.
const SLOW: Duration = Duration::from_secs(180);
const PHONE: (u32, u32) = (390, 844);

/// One file on disk the page is given.
struct Original {
    name: &'static str,
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Original {
    fn write(dir: &Path, name: &'static str, bytes: Vec<u8>) -> Self {
        let path = dir.join(name);
        std::fs::write(&path, &bytes).unwrap();
        Self { name, path, bytes }
    }
}

/// Deterministic bytes that do not compress and repeat nowhere (xorshift64*).
pub(crate) fn noise(len: usize, mut state: u64) -> Vec<u8> {
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

/// Waits until `path` holds `len` bytes and the browser has finished writing it.
pub(crate) async fn wait_for_download(
    dir: &Path,
    name: &str,
    len: usize,
) -> Result<PathBuf, String> {
    let path = dir.join(name);
    let deadline = Instant::now() + SLOW;
    loop {
        let partial = std::fs::read_dir(dir)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .any(|entry| entry.file_name().to_string_lossy().ends_with(".crdownload"));
        if !partial && std::fs::metadata(&path).is_ok_and(|meta| meta.len() == len as u64) {
            return Ok(path);
        }
        if Instant::now() > deadline {
            return Err(format!("{name} was not downloaded within {SLOW:?}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The text of each item of the page's file list.
async fn listed(session: &Session) -> Result<Vec<String>, String> {
    let value = session
        .execute(
            "return Array.from(document.querySelectorAll('#file-list li'))\
             .map((li) => li.textContent);",
        )
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

/// Wall times of the large file, for BENCHMARKS.md (printed, never asserted).
#[derive(Debug)]
pub(crate) struct Timings {
    /// Create clicked → link shown (sealing and uploading every file, then the note).
    pub(crate) upload: Duration,
    /// Download clicked → the decrypted file complete on disk.
    pub(crate) download: Duration,
}

/// Creates a note with three files on the create page, reveals it in another browser, downloads
/// every file and compares it with the original; returns the timings of the large file.
pub(crate) async fn files_cross_page_to_page(
    driver: &Driver,
    base: &str,
    received: &Received,
) -> Result<Timings, String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let originals = [
        Original::write(
            dir.path(),
            "quarterly-numbers-7f3a.bin",
            noise(large(), 0x9e37_79b9),
        ),
        Original::write(
            dir.path(),
            "travel notes 9c1d ü.txt",
            "one line of a small file, ünïcödé ✓\n"
                .repeat(30)
                .into_bytes(),
        ),
        Original::write(dir.path(), "empty-marker-4b2e.dat", Vec::new()),
    ];
    let message = "The files for Friday — 7f3a9c1d";

    let sender = driver.session(PHONE.0, PHONE.1).await?;
    sender.goto(&format!("{base}/")).await?;
    sender
        .wait_until(
            "the limits in the help text",
            "return document.getElementById('files-help').textContent.includes('100.0 MiB');",
        )
        .await?;
    let text = sender.wait_visible("#message").await?;
    sender.type_text(&text, message).await?;
    let paths: Vec<String> = originals
        .iter()
        .map(|file| file.path.display().to_string())
        .collect();
    sender
        .type_text(&sender.find("#files").await?, &paths.join("\n"))
        .await?;
    let items = listed(&sender).await?;
    check(items.len() == 3, &format!("three files listed: {items:?}"))?;
    check(
        items[0].contains("quarterly-numbers-7f3a.bin") && items[0].contains(&large_shown()),
        &format!("the large file's name and size: {:?}", items[0]),
    )?;
    check(
        items[2].contains("empty-marker-4b2e.dat") && items[2].contains("0 bytes"),
        &format!("the empty file: {:?}", items[2]),
    )?;
    let started = Instant::now();
    sender.click(&sender.find("#create").await?).await?;
    sender
        .wait_until_within(
            "the link after the uploads",
            "return document.getElementById('link').value.includes('#e2e.');",
            SLOW,
        )
        .await?;
    let upload = started.elapsed();
    let link = sender.value(&sender.find("#link").await?).await?;
    let sent = sender.text(&sender.find("#files-sent").await?).await?;
    check(
        sent.contains("3 files"),
        &format!("the result says {sent:?}"),
    )?;
    check(
        listed(&sender).await?.is_empty(),
        "the file list is cleared after creating",
    )?;
    let id = note_id(base, &link)?;
    drop(sender);

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
    let items = listed(&reader).await?;
    check(
        items.len() == 3,
        &format!("three files on the reveal page: {items:?}"),
    )?;
    for (item, original) in items.iter().zip(&originals) {
        check(
            item.contains(original.name),
            &format!("{item:?} names {}", original.name),
        )?;
    }
    check(
        items[0].contains(&large_shown()),
        &format!("the large file's size: {:?}", items[0]),
    )?;
    check(
        items[1].contains("text/plain"),
        &format!("the text file's type: {:?}", items[1]),
    )?;
    let mut download = Duration::ZERO;
    for (index, original) in originals.iter().enumerate() {
        let button = reader
            .find(&format!("#file-list li:nth-child({}) button", index + 1))
            .await?;
        let started = Instant::now();
        reader.click(&button).await?;
        let saved =
            wait_for_download(downloads.path(), original.name, original.bytes.len()).await?;
        if index == 0 {
            download = started.elapsed();
        }
        let bytes = std::fs::read(&saved).map_err(|e| e.to_string())?;
        check(
            Sha256::digest(&bytes) == Sha256::digest(&original.bytes),
            &format!("{} downloads byte-identical (SHA-256)", original.name),
        )?;
        reader
            .wait_until(
                "the button after the download",
                &format!(
                    "return document.querySelector('#file-list li:nth-child({}) button')\
                     .textContent === 'Save again';",
                    index + 1
                ),
            )
            .await?;
    }
    check(
        !reader
            .is_displayed(&reader.find("#files-error").await?)
            .await?,
        "no file error",
    )?;
    // The server handed each file out once and keeps nothing of the note.
    let again = reqwest::Client::builder()
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?
        .get(format!("{base}/api/e2e/notes/{id}"))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    check(again.status() == 404, "the note is gone after the claim")?;

    let mut secrets: Vec<Vec<u8>> = vec![message.into(), link_keys(&link)?.into()];
    secrets.extend(originals.iter().map(|file| file.name.as_bytes().to_vec()));
    no_file_secret_received(received, &secrets, &originals[..2])?;
    Ok(Timings { upload, download })
}

/// Every request is free of the secrets (raw and encoded) and of any 64-byte piece of the
/// files' contents (raw, hex, base64 at every alignment); and the sealed uploads did arrive, so
/// the scan saw them.
fn no_file_secret_received(
    received: &Received,
    secrets: &[Vec<u8>],
    files: &[Original],
) -> Result<(), String> {
    let received = received.lock().map_err(|e| e.to_string())?;
    let uploads: Vec<usize> = received
        .iter()
        .filter(|(line, _)| line == "POST /api/e2e/files")
        .map(|(_, body)| body.len())
        .collect();
    let expected: Vec<usize> = [large(), files[1].bytes.len(), 0]
        .iter()
        .map(|&len| usize::try_from(sealed_size(len as u64).unwrap()).unwrap())
        .collect();
    check(
        uploads == expected,
        &format!("sealed uploads of {expected:?} bytes, got {uploads:?}"),
    )?;
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for secret in secrets {
        let text = String::from_utf8_lossy(secret);
        needles.extend(encodings(&text).into_iter().map(String::into_bytes));
    }
    for file in files {
        let len = file.bytes.len();
        for start in [0, len / 2, len.saturating_sub(64)] {
            let piece = &file.bytes[start..(start + 64).min(len)];
            needles.push(piece.to_vec());
            needles.push(hex::encode(piece).into_bytes());
            for shift in 0..3 {
                let aligned = &piece[shift..shift + (piece.len() - shift) / 3 * 3];
                for engine in [
                    base64::engine::general_purpose::STANDARD_NO_PAD,
                    base64::engine::general_purpose::URL_SAFE_NO_PAD,
                ] {
                    needles.push(engine.encode(aligned).into_bytes());
                }
            }
        }
    }
    for (line, body) in received.iter() {
        for needle in needles.iter().filter(|needle| needle.len() >= 8) {
            check(
                !contains(line.as_bytes(), needle) && !contains(body, needle),
                &format!("{line} carried a secret of the file flow"),
            )?;
        }
    }
    Ok(())
}

/// A server whose `--max-file-bytes` is 1 MiB: the page says so, and refuses a 2 MiB file
/// with a clear message before sealing or sending anything.
pub(crate) async fn a_file_over_the_limit_is_refused(
    driver: &Driver,
    base: &str,
    received: &Received,
) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let big = Original::write(dir.path(), "too-big-2mib.bin", noise(2 * 1024 * 1024, 7));
    let sender = driver.session(PHONE.0, PHONE.1).await?;
    sender.goto(&format!("{base}/")).await?;
    sender
        .wait_until(
            "the limit in the help text",
            "return document.getElementById('files-help').textContent.includes('1.0 MiB each');",
        )
        .await?;
    sender
        .type_text(&sender.find("#message").await?, "with a file too large")
        .await?;
    sender
        .type_text(
            &sender.find("#files").await?,
            &big.path.display().to_string(),
        )
        .await?;
    let error = sender.wait_visible("#create-error").await?;
    let said = sender.text(&error).await?;
    check(
        said.contains("too-big-2mib.bin") && said.contains("2.0 MiB") && said.contains("1.0 MiB"),
        &format!("the refusal names the file, its size and the limit: {said:?}"),
    )?;
    sender.click(&sender.find("#create").await?).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    check(
        sender
            .is_displayed(&sender.find("#create-form").await?)
            .await?
            && sender.value(&sender.find("#link").await?).await?.is_empty(),
        "no link for a refused file",
    )?;
    let posted = received
        .lock()
        .map_err(|e| e.to_string())?
        .iter()
        .filter(|(line, _)| line.starts_with("POST "))
        .count();
    check(posted == 0, &format!("nothing was sent: {posted} POSTs"))
}
