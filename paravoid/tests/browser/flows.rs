//! What a person does on the pages, step by step, checked in a real browser.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::webdriver::{Driver, Session};

/// A phone-sized viewport (CSS pixels) for the sessions and their screenshots.
const PHONE: (u32, u32) = (390, 844);
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
}

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
    async fn read_link(&self, sender: &Session) -> Result<String, String> {
        let field = sender.wait_visible("#link").await?;
        let link = sender.value(&field).await?;
        check(
            link.starts_with(&format!("{}/s/", self.base)) && link.contains('#'),
            &format!("a full share link, got {link:?}"),
        )?;
        Ok(link)
    }

    /// Waits for the revealed note and returns its text.
    async fn read_note(&self, reader: &Session) -> Result<String, String> {
        reader.wait_visible("#note").await?;
        reader
            .wait_until(
                "the note text",
                "return document.getElementById('message').value.length > 0;",
            )
            .await?;
        reader.value(&reader.find("#message").await?).await
    }

    /// Asks the API whether the note is still there.
    async fn expect_exists(&self, id: &str, exists: bool) -> Result<(), String> {
        let url = format!("{}/api/secrets/{id}", self.base);
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

    async fn screenshot(&self, session: &Session, name: &str) -> Result<(), String> {
        session.screenshot(&self.screenshots.join(name)).await
    }
}

/// The note id in `<base>/s/<id>#<keys>`.
fn note_id(base: &str, link: &str) -> Result<String, String> {
    link.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix("/s/"))
        .and_then(|rest| rest.split_once('#'))
        .map(|(id, _)| id.to_owned())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("no note id in {link}"))
}

fn check(condition: bool, what: &str) -> Result<(), String> {
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
