//! Read receipts in a real browser: the create page's checkbox asks for one and shows the
//! status link once; the receipt page (`/receipt#<token>`) follows the note from "not read yet"
//! to "read" after another browser reveals it. The token reaches the server only in the body
//! of the status request, never in a URL.

use crate::browser::flows::{PHONE, Site, check, link_keys};
use qsmm_test_support::webdriver::Session;

impl Site<'_> {
    /// A note with a read receipt: pending, then revealed in another browser, then read on
    /// the receipt page; a note without the checkbox asks for no receipt; an incomplete or
    /// unknown status link is explained.
    pub(crate) async fn read_receipt_follows_the_note(&self) -> Result<(), String> {
        let message = "the receipt flow's note: 6 eggs, 2 cups of flour";
        let sender = self.driver.session(PHONE.0, PHONE.1).await?;
        sender.goto(&format!("{}/", self.base)).await?;
        let text = sender.wait_visible("#message").await?;
        sender.type_text(&text, message).await?;
        sender.click(&sender.find("#receipt").await?).await?;
        sender.click(&sender.find("#create").await?).await?;
        let link = self.read_link(&sender).await?;
        self.keep_secret(message);
        self.keep_secret(link_keys(&link)?);
        let receipt_link = sender
            .value(&sender.wait_visible("#receipt-link").await?)
            .await?;
        let token = receipt_link
            .strip_prefix(&format!("{}/receipt#", self.base))
            .filter(|token| token.len() == 43)
            .ok_or_else(|| format!("a status link of this server, got {receipt_link:?}"))?
            .to_owned();
        check(
            !sender
                .is_displayed(&sender.find("#receipt-missing").await?)
                .await?,
            "no missing-receipt warning when the server gave one",
        )?;
        self.screenshot(&sender, "created-with-receipt.png").await?;
        check(
            self.last_create_body()?.get("receipt") == Some(&serde_json::Value::Bool(true)),
            "the create request asked for a receipt",
        )?;

        // Before anyone reads the note.
        sender.goto(&receipt_link).await?;
        wait_state(&sender, "Not read yet").await?;

        let reader = self.driver.session(PHONE.0, PHONE.1).await?;
        reader.goto(&link).await?;
        reader
            .wait_until(
                "the reveal button",
                "return !document.getElementById('reveal').disabled;",
            )
            .await?;
        // Opening the link does not count as reading it.
        sender.click(&sender.find("#check-again").await?).await?;
        wait_state(&sender, "Not read yet").await?;
        reader.click(&reader.find("#reveal").await?).await?;
        let shown = self.read_note(&reader).await?;
        check(shown == message, "the note opens")?;

        sender.click(&sender.find("#check-again").await?).await?;
        wait_state(&sender, "Read:").await?;
        check(
            sender
                .is_displayed(&sender.find("#receipt-when").await?)
                .await?
                && !sender
                    .text(&sender.find("#receipt-at").await?)
                    .await?
                    .is_empty(),
            "the time of the reveal is shown",
        )?;
        self.screenshot(&sender, "receipt-read.png").await?;
        self.token_only_in_status_bodies(&token)?;

        // A note without the checkbox: no receipt asked, none shown.
        sender.goto(&format!("{}/", self.base)).await?;
        let text = sender.wait_visible("#message").await?;
        sender.type_text(&text, "no receipt for this one").await?;
        self.keep_secret("no receipt for this one");
        sender.click(&sender.find("#create").await?).await?;
        let plain = self.read_link(&sender).await?;
        self.keep_secret(link_keys(&plain)?);
        check(
            !sender
                .is_displayed(&sender.find("#receipt-result").await?)
                .await?,
            "no status link without the checkbox",
        )?;
        check(
            self.last_create_body()?.get("receipt").is_none(),
            "no receipt asked without the checkbox",
        )?;

        // An incomplete link asks nothing; an unknown token is explained.
        let before = self.status_requests()?;
        sender
            .goto(&format!("{}/receipt#{}", self.base, &token[..20]))
            .await?;
        sender.wait_visible("#receipt-error").await?;
        let error = sender.text(&sender.find("#receipt-error").await?).await?;
        check(
            error.contains("incomplete"),
            "an incomplete link is explained",
        )?;
        check(
            self.status_requests()? == before,
            "an incomplete link sends no status request",
        )?;
        let unknown = "A".repeat(43);
        sender
            .goto(&format!("{}/receipt#{unknown}", self.base))
            .await?;
        sender
            .wait_until(
                "an unknown receipt explained",
                "return document.getElementById('receipt-error').textContent\
                   .includes('no such receipt');",
            )
            .await
    }

    /// The JSON body of the last `POST /api/e2e/notes` the server received.
    fn last_create_body(&self) -> Result<serde_json::Value, String> {
        let received = self.received.lock().map_err(|e| e.to_string())?;
        let (_, body) = received
            .iter()
            .rev()
            .find(|(line, _)| line == "POST /api/e2e/notes")
            .ok_or("no create request received")?;
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }

    /// How many status requests the server received.
    fn status_requests(&self) -> Result<usize, String> {
        let received = self.received.lock().map_err(|e| e.to_string())?;
        Ok(received
            .iter()
            .filter(|(line, _)| line == "POST /api/e2e/receipts/status")
            .count())
    }

    /// The token went out in status request bodies (three: the first look, the check before
    /// and after the reveal) and in no request line.
    fn token_only_in_status_bodies(&self, token: &str) -> Result<(), String> {
        let received = self.received.lock().map_err(|e| e.to_string())?;
        let mut carried = 0;
        for (line, body) in received.iter() {
            check(
                !line.contains(token),
                &format!("{line} carried the status token in its URL"),
            )?;
            if line == "POST /api/e2e/receipts/status" {
                let body: serde_json::Value =
                    serde_json::from_slice(body).map_err(|e| e.to_string())?;
                carried += usize::from(body["token"] == token);
            } else {
                check(
                    !String::from_utf8_lossy(body).contains(token),
                    &format!("{line} carried the status token"),
                )?;
            }
        }
        check(
            carried == 3,
            &format!("three status requests carried the token, got {carried}"),
        )
    }
}

/// Waits until the receipt page's state line contains `text`.
async fn wait_state(session: &Session, text: &str) -> Result<(), String> {
    let script =
        format!("return document.getElementById('receipt-state').textContent.includes({text:?});");
    session
        .wait_until(&format!("the receipt state {text:?}"), &script)
        .await
}
