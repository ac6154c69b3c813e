//! What a person does on the pages, step by step, checked in a real browser.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use qsmm_shield::note::{
    self, NoteOpenError, PassphraseParams, RecipientKeys, StoredNote, open_note_with_passphrase,
};
use serde_json::{Value, json};

use qsmm_test_support::webdriver::{Driver, Session};

/// A phone-sized viewport (CSS pixels) for the sessions and their screenshots.
pub(crate) const PHONE: (u32, u32) = (390, 844);
/// The WebDriver code of the Enter key.
const ENTER: char = '\u{E007}';
/// The answer for a note that cannot be read.
const GONE: &str = "This note does not exist, has expired, or has already been read.";

/// The server under test and the browser that visits it.
#[derive(Debug)]
pub(crate) struct Site<'a> {
    /// chromedriver.
    pub(crate) driver: &'a Driver,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
    /// Where screenshots go.
    pub(crate) screenshots: PathBuf,
    /// A plain HTTP client: the API and the link-preview bot.
    pub(crate) http: reqwest::Client,
    /// Every request the server received: `"METHOD /path?query"` and the body.
    pub(crate) received: Received,
    /// What must never reach the server in the end-to-end flows: messages, passphrases, keys.
    pub(crate) secrets: Mutex<Vec<String>>,
}

/// The requests a server received, as `("METHOD /path?query", body)`.
pub(crate) type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// How many times [`MEASURE_SCRIPT`] runs each operation.
pub(crate) const MEASURE_RUNS: usize = 5;

/// Times sealing and opening with the page's code, with and without a passphrase at the
/// default Argon2id costs, and returns the median milliseconds of each step.
pub(crate) const MEASURE_SCRIPT: &str = r#"
return import('/assets/note.js').then(async (m) => {
  const runs = 5;
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const time = async (f) => { const t = performance.now(); await f(); return performance.now() - t; };
  const message = 'x'.repeat(1000);
  const out = { seal: [], open: [], seal_passphrase: [], open_passphrase: [], argon2id: [],
                keygen_from_link: [] };
  for (let i = 0; i < runs; i++) {
    let sealed;
    out.seal.push(await time(async () => { sealed = await m.sealNote(message); }));
    const compact = m.keysToCompact(sealed.keys);
    out.keygen_from_link.push(await time(async () => { m.keysFromCompact(compact); }));
    out.open.push(await time(async () => { await m.openNote(sealed.note, m.keysFromCompact(compact)); }));
    let guarded;
    out.seal_passphrase.push(await time(async () => {
      guarded = await m.sealNote(message, { passphrase: 'correct horse battery staple' });
    }));
    const keys = m.keysFromCompact(m.keysToCompact(guarded.keys));
    out.open_passphrase.push(await time(async () => {
      await m.openNote(guarded.note, keys, 'correct horse battery staple');
    }));
    out.argon2id.push(await time(async () => {
      await m.derivePassphrase('correct horse battery staple', guarded.note.passphrase);
    }));
  }
  const result = { userAgent: navigator.userAgent };
  for (const [k, v] of Object.entries(out)) { result[k] = Math.round(median(v) * 10) / 10; }
  return result;
});
"#;

impl Site<'_> {
    /// Creates a note on the create page, opens the link in a second browser, checks that
    /// nothing is read before the click, reveals it, and checks that a third visit finds nothing.
    pub(crate) async fn create_then_reveal_once(&self) -> Result<(), String> {
        let message = "Door code: 4711\n<b>not markup</b> & \"quotes\" — ünïcödé ✓";
        let sender = self.driver.session(PHONE.0, PHONE.1).await?;
        sender.goto(&format!("{}/", self.base)).await?;
        let text = sender.wait_visible("#message").await?;
        sender.type_text(&text, message).await?;
        sender
            .click(&sender.find("#ttl option[value='86400']").await?)
            .await?;
        self.screenshot(&sender, "create.png").await?;
        sender.click(&sender.find("#create").await?).await?;

        let link = self.read_link(&sender).await?;
        let expires = sender.text(&sender.find("#expires").await?).await?;
        check(!expires.is_empty(), "the expiry time is shown")?;
        check(
            !sender
                .is_displayed(&sender.find("#passphrase-reminder").await?)
                .await?,
            "no passphrase reminder without a passphrase",
        )?;
        check(
            sender
                .value(&sender.find("#message").await?)
                .await?
                .is_empty(),
            "the create form is cleared",
        )?;
        self.screenshot(&sender, "created.png").await?;
        let id = note_id(&self.base, &link)?;
        self.keep_secret(message);
        self.keep_secret(link_keys(&link)?);

        // A link-preview bot fetching the link gets the page and burns nothing.
        let preview = self
            .http
            .get(&link)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        check(
            preview.status() == 200,
            "the reveal page answers a plain GET",
        )?;
        let html = preview.text().await.map_err(|e| e.to_string())?;
        check(
            !html.contains("Door code"),
            "the page itself never holds the note",
        )?;
        self.expect_exists(&id, true).await?;

        let reader = self.driver.session(PHONE.0, PHONE.1).await?;
        reader.goto(&link).await?;
        let reveal = reader.wait_visible("#reveal").await?;
        reader
            .wait_until(
                "the reveal button",
                "return !document.getElementById('reveal').disabled;",
            )
            .await?;
        check(
            !reader.is_displayed(&reader.find("#note").await?).await?,
            "note hidden",
        )?;
        check(
            reader
                .value(&reader.find("#message").await?)
                .await?
                .is_empty(),
            "nothing revealed before the click",
        )?;
        check(
            !reader
                .is_displayed(&reader.find("#passphrase").await?)
                .await?,
            "no passphrase field for a note without one",
        )?;
        check_eq(
            &reader.current_url().await?,
            &format!("{}/s/{id}", self.base),
            "the fragment leaves the address bar on load",
        )?;
        check(
            reader
                .is_displayed(&reader.find("#mode-e2e").await?)
                .await?
                && !reader
                    .is_displayed(&reader.find("#mode-server").await?)
                    .await?,
            "an end-to-end link says the server never sees the note",
        )?;
        self.expect_exists(&id, true).await?;
        self.screenshot(&reader, "reveal-prompt.png").await?;

        reader.click(&reveal).await?;
        let shown = self.read_note(&reader).await?;
        check_eq(&shown, message, "the revealed text")?;
        let url = reader.current_url().await?;
        check_eq(
            &url,
            &format!("{}/s/{id}", self.base),
            "the fragment is removed",
        )?;
        check(
            reader
                .is_displayed(&reader.find("#copy-message").await?)
                .await?,
            "a copy button",
        )?;
        self.screenshot(&reader, "reveal.png").await?;
        self.expect_exists(&id, false).await?;

        // A third visit, from the sender's browser: the note is gone.
        sender.goto(&link).await?;
        let gone = sender.wait_visible("#gone").await?;
        check(sender.text(&gone).await?.contains(GONE), "the gone message")?;
        check(
            !sender.current_url().await?.contains('#'),
            "fragment removed when gone",
        )?;
        Ok(())
    }

    /// Creates a note with a passphrase; a wrong passphrase is refused and keeps the note, the
    /// right one reveals it.
    pub(crate) async fn passphrase_protects_the_note(&self) -> Result<(), String> {
        let message = "the safe is behind the painting";
        let sender = self.driver.session(PHONE.0, PHONE.1).await?;
        sender.goto(&format!("{}/", self.base)).await?;
        let text = sender.wait_visible("#message").await?;
        sender.type_text(&text, message).await?;
        sender
            .type_text(&sender.find("#passphrase").await?, "correct horse")
            .await?;
        sender.click(&sender.find("#create").await?).await?;
        let link = self.read_link(&sender).await?;
        check(
            sender
                .is_displayed(&sender.find("#passphrase-reminder").await?)
                .await?,
            "the passphrase reminder",
        )?;
        let id = note_id(&self.base, &link)?;
        for secret in [message, "correct horse", "wrong horse", link_keys(&link)?] {
            self.keep_secret(secret);
        }

        let reader = self.driver.session(PHONE.0, PHONE.1).await?;
        reader.goto(&link).await?;
        let passphrase = reader.wait_visible("#passphrase").await?;
        reader
            .wait_until(
                "the reveal button",
                "return !document.getElementById('reveal').disabled;",
            )
            .await?;
        reader.type_text(&passphrase, "wrong horse").await?;
        reader.click(&reader.find("#reveal").await?).await?;
        let error = reader.wait_visible("#reveal-error").await?;
        let error = reader.text(&error).await?;
        check(error.contains("Wrong passphrase"), "wrong passphrase")?;
        let left = format!("{} tries left", paravoid::MAX_PASSPHRASE_ATTEMPTS - 1);
        check(error.contains(&left), &format!("{left:?} in {error:?}"))?;
        check(
            !reader.is_displayed(&reader.find("#note").await?).await?,
            "still hidden",
        )?;
        self.expect_exists(&id, true).await?;
        self.screenshot(&reader, "reveal-wrong-passphrase.png")
            .await?;

        reader.clear(&passphrase).await?;
        // Enter in the passphrase field submits: the page works from the keyboard.
        reader
            .type_text(&passphrase, &format!("correct horse{ENTER}"))
            .await?;
        check_eq(
            &self.read_note(&reader).await?,
            message,
            "the revealed text",
        )?;
        check_eq(
            &reader.current_url().await?,
            &format!("{}/s/{id}", self.base),
            "the fragment is removed",
        )?;
        self.expect_exists(&id, false).await?;
        Ok(())
    }

    /// A link made with the published API (the server sealed the note) still opens on the
    /// reveal page, which then lets the server open it.
    pub(crate) async fn published_api_links_still_open(&self) -> Result<(), String> {
        let created: Value = self
            .http
            .post(format!("{}/api/secrets", self.base))
            .json(&json!({ "message": "made with curl" }))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let path = created["share_path"].as_str().ok_or("no share_path")?;
        let reader = self.driver.session(PHONE.0, PHONE.1).await?;
        reader.goto(&format!("{}{path}", self.base)).await?;
        let reveal = reader.wait_visible("#reveal").await?;
        reader
            .wait_until(
                "the reveal button",
                "return !document.getElementById('reveal').disabled;",
            )
            .await?;
        check(
            reader
                .is_displayed(&reader.find("#mode-server").await?)
                .await?
                && !reader
                    .is_displayed(&reader.find("#mode-e2e").await?)
                    .await?,
            "before Reveal, the page says the server will open a published-API note",
        )?;
        reader.click(&reveal).await?;
        check_eq(
            &self.read_note(&reader).await?,
            "made with curl",
            "a published-API note",
        )
    }

    /// The page's own crypto code, run in Chromium, seals notes that open with the Rust
    /// `qsmm_shield::note`, and opens notes sealed by Rust; a flipped byte, wrong keys or a
    /// wrong passphrase fail the same way on both sides.
    pub(crate) async fn notes_cross_between_chromium_and_rust(&self) -> Result<(), String> {
        let session = self.driver.session(PHONE.0, PHONE.1).await?;
        session.goto(&format!("{}/", self.base)).await?;
        let sealed = session
            .execute(
                r"return import('/assets/note.js').then(async (m) => {
                  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
                  const costs = { m_cost_kib: 128, t_cost: 1, p_cost: 1 };
                  const plain = await m.sealNote('sealed in Chromium ✓');
                  const guarded = await m.sealNote('guarded in Chromium', { passphrase: 'pw', costs });
                  return [plain, guarded].map((s) =>
                    ({ note: hex(m.noteToBytes(s.note)), compact: m.keysToCompact(s.keys) }));
                });",
            )
            .await?;
        for (one, (passphrase, expected)) in sealed
            .as_array()
            .ok_or("no array from the browser")?
            .iter()
            .zip([
                (None, "sealed in Chromium ✓"),
                (Some("pw"), "guarded in Chromium"),
            ])
        {
            let bytes =
                hex::decode(one["note"].as_str().unwrap_or_default()).map_err(|e| e.to_string())?;
            let stored = StoredNote::from_bytes(&bytes).map_err(|e| e.to_string())?;
            check(
                stored.to_bytes() == bytes,
                "Chromium's encoding re-encodes exactly",
            )?;
            let keys = RecipientKeys::from_compact(one["compact"].as_str().unwrap_or_default())
                .map_err(|e| e.to_string())?;
            let opened = open_note_with_passphrase(&stored, &keys, passphrase.map(str::as_bytes))
                .map_err(|e| format!("Rust cannot open Chromium's note: {e}"))?;
            check_eq(
                std::str::from_utf8(&opened).unwrap_or_default(),
                expected,
                "a note sealed in Chromium, opened by Rust",
            )?;
        }

        // Rust seals; Chromium opens, and refuses the damaged ones as Rust does.
        let params = PassphraseParams::with_costs(128, 1, 1).map_err(|e| e.to_string())?;
        let (plain, plain_keys) = note::seal_note(b"sealed by Rust").map_err(|e| e.to_string())?;
        let (guarded, guarded_keys) =
            note::seal_note_with_passphrase_params(b"guarded by Rust", b"pw", params)
                .map_err(|e| e.to_string())?;
        let flipped = |stored: &StoredNote, index: usize| {
            let mut bytes = stored.to_bytes();
            let index = index.min(bytes.len() - 1);
            bytes[index] ^= 1;
            bytes
        };
        let plain_compact = plain_keys.to_compact().as_str().to_owned();
        let guarded_compact = guarded_keys.to_compact().as_str().to_owned();
        let cases: Vec<(Vec<u8>, String, Option<&str>)> = vec![
            (plain.to_bytes(), plain_compact.clone(), None),
            (guarded.to_bytes(), guarded_compact.clone(), Some("pw")),
            (flipped(&plain, usize::MAX), plain_compact.clone(), None),
            (flipped(&plain, 6), plain_compact.clone(), None),
            (flipped(&plain, 1200), plain_compact.clone(), None),
            (plain.to_bytes(), guarded_compact.clone(), None),
            (guarded.to_bytes(), guarded_compact.clone(), Some("wrong")),
            (guarded.to_bytes(), guarded_compact.clone(), None),
            (flipped(&guarded, usize::MAX), guarded_compact, Some("pw")),
        ];
        let args: Vec<Value> = cases
            .iter()
            .map(|(bytes, compact, passphrase)| {
                json!({ "note": hex::encode(bytes), "compact": compact, "passphrase": passphrase })
            })
            .collect();
        let opened = session
            .execute_with(
                r"const cases = arguments[0];
                return import('/assets/note.js').then(async (m) => {
                  const unhex = (h) => Uint8Array.from(h.match(/../g), (x) => parseInt(x, 16));
                  const out = [];
                  for (const c of cases) {
                    try {
                      const plaintext = await m.openNote(m.noteFromBytes(unhex(c.note)),
                        m.keysFromCompact(c.compact), c.passphrase ?? undefined);
                      out.push({ plaintext: new TextDecoder().decode(plaintext) });
                    } catch (err) {
                      out.push({ error: err.kind ?? err.name });
                    }
                  }
                  return out;
                });",
                &[Value::Array(args)],
            )
            .await?;
        let opened = opened.as_array().ok_or("no array from the browser")?;
        check(opened.len() == cases.len(), "one answer per case")?;
        for ((bytes, compact, passphrase), browser) in cases.iter().zip(opened) {
            let rust = rust_outcome(bytes, compact, *passphrase);
            check(
                &rust == browser,
                &format!("Chromium {browser} and Rust {rust} agree"),
            )?;
        }
        check(
            opened[0] == json!({ "plaintext": "sealed by Rust" })
                && opened[1] == json!({ "plaintext": "guarded by Rust" }),
            "Chromium opens the notes sealed by Rust",
        )?;
        check(
            opened[2..].iter().all(|o| o.get("error").is_some()),
            "every damaged case fails",
        )
    }

    /// Scans every request the server received (path, query and body) for the messages,
    /// passphrases and link keys of the end-to-end flows: none may be there, raw or in hex.
    pub(crate) fn nothing_secret_reached_the_server(&self) -> Result<(), String> {
        let received = self.received.lock().map_err(|e| e.to_string())?;
        let secrets = self.secrets.lock().map_err(|e| e.to_string())?;
        check(secrets.len() >= 6, "the flows registered their secrets")?;
        // The hook saw the end-to-end traffic: otherwise the scan below would prove nothing.
        let creates = received
            .iter()
            .filter(|(line, body)| line == "POST /api/e2e/notes" && body.len() > 3000)
            .count();
        let claims = received
            .iter()
            .filter(|(line, _)| {
                line.starts_with("POST /api/e2e/notes/") && line.ends_with("/claim")
            })
            .count();
        check(
            creates >= 2,
            &format!("{creates} end-to-end creates received"),
        )?;
        check(claims >= 3, &format!("{claims} end-to-end claims received"))?;
        for (line, body) in received.iter() {
            for secret in secrets.iter() {
                // Raw, as a JSON string would carry it, in hex and in both base64 alphabets.
                for needle in encodings(secret) {
                    check(
                        !contains(line.as_bytes(), needle.as_bytes())
                            && !contains(body, needle.as_bytes()),
                        &format!("{line} carried a secret of the end-to-end flows"),
                    )?;
                }
            }
        }
        Ok(())
    }

    pub(crate) fn keep_secret(&self, secret: &str) {
        if let Ok(mut secrets) = self.secrets.lock() {
            secrets.push(secret.to_owned());
        }
    }

    /// The create page on a desktop-sized screen, for a look at the wide layout.
    pub(crate) async fn desktop_layout(&self) -> Result<(), String> {
        let sender = self.driver.session(1200, 800).await?;
        sender.goto(&format!("{}/", self.base)).await?;
        sender.wait_visible("#create").await?;
        let columns = sender
            .execute("return getComputedStyle(document.querySelector('.row')).gridTemplateColumns;")
            .await?;
        let columns = columns.as_str().unwrap_or_default();
        check(
            columns.split_whitespace().count() == 2,
            &format!("expiry and passphrase side by side, got {columns:?}"),
        )?;
        self.screenshot(&sender, "create-desktop.png").await
    }

    /// A link without its keys says so and offers no reveal.
    pub(crate) async fn incomplete_link_is_explained(&self) -> Result<(), String> {
        let reader = self.driver.session(PHONE.0, PHONE.1).await?;
        // A well-formed id that names no note, and no keys.
        reader
            .goto(&format!(
                "{}/s/00000000-0000-4000-8000-000000000000",
                self.base
            ))
            .await?;
        let error = reader.wait_visible("#reveal-error").await?;
        check(
            reader.text(&error).await?.contains("incomplete"),
            "incomplete link",
        )?;
        check(
            reader
                .execute("return document.getElementById('reveal').disabled;")
                .await?
                == Value::Bool(true),
            "no reveal without keys",
        )
    }

    /// Waits for the share link on the create page and checks its shape.
    pub(crate) async fn read_link(&self, sender: &Session) -> Result<String, String> {
        let field = sender.wait_visible("#link").await?;
        let link = sender.value(&field).await?;
        check(
            link.starts_with(&format!("{}/s/", self.base)) && link.contains("#e2e."),
            &format!("a full share link, got {link:?}"),
        )?;
        Ok(link)
    }

    /// Waits for the revealed note and returns its text.
    pub(crate) async fn read_note(&self, reader: &Session) -> Result<String, String> {
        reader.wait_visible("#note").await?;
        reader
            .wait_until(
                "the note text",
                "return document.getElementById('message').value.length > 0;",
            )
            .await?;
        reader.value(&reader.find("#message").await?).await
    }

    /// Asks the end-to-end API whether the note is still there.
    async fn expect_exists(&self, id: &str, exists: bool) -> Result<(), String> {
        let url = format!("{}/api/e2e/notes/{id}", self.base);
        let status = self
            .http
            .get(&url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        let expected = if exists { 200 } else { 404 };
        check(
            status == expected,
            &format!("GET {url}: {status}, expected {expected}"),
        )
    }

    pub(crate) async fn screenshot(&self, session: &Session, name: &str) -> Result<(), String> {
        session.screenshot(&self.screenshots.join(name)).await
    }
}

/// The note id in `<base>/s/<id>#<keys>`.
pub(crate) fn note_id(base: &str, link: &str) -> Result<String, String> {
    link.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix("/s/"))
        .and_then(|rest| rest.split_once('#'))
        .map(|(id, _)| id.to_owned())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("no note id in {link}"))
}

/// The link keys after the `#` (and the end-to-end prefix, if any) of a share link.
pub(crate) fn link_keys(link: &str) -> Result<&str, String> {
    link.split_once('#')
        .map(|(_, keys)| keys.strip_prefix("e2e.").unwrap_or(keys))
        .filter(|keys| keys.len() == 128)
        .ok_or_else(|| format!("no link keys in {link}"))
}

/// What Rust makes of a stored note, keys and passphrase, in the browser code's words.
fn rust_outcome(bytes: &[u8], compact: &str, passphrase: Option<&str>) -> Value {
    let (Ok(stored), Ok(keys)) = (
        StoredNote::from_bytes(bytes),
        RecipientKeys::from_compact(compact),
    ) else {
        return json!({ "error": "EncodingError" });
    };
    match open_note_with_passphrase(&stored, &keys, passphrase.map(str::as_bytes)) {
        Ok(plaintext) => {
            json!({ "plaintext": String::from_utf8_lossy(&plaintext) })
        }
        Err(NoteOpenError::WrongKeys) => json!({ "error": "wrong-keys" }),
        Err(NoteOpenError::WrongPassphrase) => json!({ "error": "wrong-passphrase" }),
        Err(NoteOpenError::PassphraseRequired) => json!({ "error": "passphrase-required" }),
        Err(_) => json!({ "error": "corrupt" }),
    }
}

/// A secret raw, as a JSON string would carry it, in hex and in both base64 alphabets.
pub(crate) fn encodings(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap_or_default();
    vec![
        secret.to_owned(),
        json.trim_matches('"').to_owned(),
        hex::encode(secret.as_bytes()),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret.as_bytes()),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret.as_bytes()),
    ]
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

pub(crate) fn check(condition: bool, what: &str) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}

fn check_eq(got: &str, expected: &str, what: &str) -> Result<(), String> {
    check(
        got == expected,
        &format!("{what}: got {got:?}, expected {expected:?}"),
    )
}

/// Where the screenshots go: `<target>/screenshots`.
pub(crate) fn screenshot_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("screenshots")
}
