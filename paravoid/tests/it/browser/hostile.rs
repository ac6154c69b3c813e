//! A server that lies: the reveal page of an end-to-end link, driven as a reader would, against
//! answers a malicious server could give. Whatever it answers, it must never receive the link
//! keys or the passphrase.

use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Value, json};

use crate::browser::flows::{Site, check, link_keys, note_id};

/// What the server answers instead of the real service, switched between visits.
pub(crate) type Hostility = Arc<Mutex<Scenario>>;

/// One way to lie to the reveal page. `Honest` passes every request to the real service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scenario {
    /// The real service.
    Honest,
    /// "No end-to-end note here, but a published-API note that needs a passphrase": the answer
    /// that made the page send the keys and the passphrase for the server to open the note.
    Downgrade,
    /// The end-to-end peek fails (500) and the published API's peek says it holds the note.
    ErrorThenDowngrade,
    /// Redirects from the end-to-end paths to the published API's.
    Redirects,
    /// Argon2id costs far beyond what the service stores (16 GiB, 1000 passes).
    HugeArgon2,
    /// Answers that are not what the API documents: a JSON array for the peek, a note of the
    /// wrong shape for the claim.
    WrongJson,
    /// The real peek, then a claim refused as a wrong passphrase.
    RefusedClaim,
}

impl Scenario {
    /// The hostile answer to a request, or `None` to let the real service answer.
    pub(crate) fn answer(self, method: &Method, path: &str) -> Option<Response> {
        let e2e = path.strip_prefix("/api/e2e/notes/");
        let published = path.strip_prefix("/api/secrets/");
        let e2e_peek = *method == Method::GET && e2e.is_some_and(|rest| !rest.contains('/'));
        let e2e_claim = *method == Method::POST && e2e.is_some_and(|rest| rest.ends_with("/claim"));
        let api_peek = *method == Method::GET && published.is_some_and(|rest| !rest.contains('/'));
        let api_reveal =
            *method == Method::POST && published.is_some_and(|rest| rest.ends_with("/reveal"));
        let id = e2e.or(published).unwrap_or_default().split('/').next();
        let id = id.unwrap_or_default();
        let wants_passphrase =
            json!({ "passphrase_required": true, "expires_at": 4_000_000_000_u64 });
        match self {
            Self::Honest => None,
            Self::Downgrade if e2e_peek => Some(error(StatusCode::NOT_FOUND, "no such note")),
            Self::ErrorThenDowngrade if e2e_peek => {
                Some(error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))
            }
            Self::ErrorThenDowngrade if e2e_claim => {
                Some(error(StatusCode::NOT_FOUND, "no such note"))
            }
            Self::Downgrade | Self::ErrorThenDowngrade if api_peek => {
                Some(json_answer(StatusCode::OK, &wants_passphrase))
            }
            Self::Downgrade | Self::ErrorThenDowngrade if api_reveal => Some(json_answer(
                StatusCode::OK,
                &json!({ "message": "the server opened it" }),
            )),
            Self::Redirects if e2e_peek => Some(redirect(&format!("/api/secrets/{id}"))),
            Self::Redirects if e2e_claim => Some(redirect(&format!("/api/secrets/{id}/reveal"))),
            Self::Redirects if api_peek => Some(json_answer(StatusCode::OK, &wants_passphrase)),
            Self::HugeArgon2 if e2e_peek => Some(json_answer(
                StatusCode::OK,
                &json!({
                    "passphrase_required": true,
                    "argon2id": {
                        "salt": "AAAAAAAAAAAAAAAAAAAAAA",
                        "m_cost_kib": 16_777_216_u64,
                        "t_cost": 1000,
                        "p_cost": 1,
                    },
                }),
            )),
            Self::WrongJson if e2e_peek => Some(json_answer(StatusCode::OK, &json!([1, 2, 3]))),
            Self::WrongJson if e2e_claim => Some(json_answer(
                StatusCode::OK,
                &json!({ "note": { "ek": 5, "ciphertext": "!!" } }),
            )),
            Self::WrongJson if api_peek => Some(json_answer(StatusCode::OK, &wants_passphrase)),
            Self::RefusedClaim if e2e_claim => Some(json_answer(
                StatusCode::FORBIDDEN,
                &json!({ "error": "wrong passphrase", "attempts_left": 3 }),
            )),
            _ => None,
        }
    }
}

fn json_answer(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn error(status: StatusCode, message: &str) -> Response {
    json_answer(status, &json!({ "error": message }))
}

fn redirect(to: &str) -> Response {
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, to.to_owned())],
    )
        .into_response()
}

/// What the reader saw on a visit.
#[derive(Debug)]
struct Visit {
    scenario: Scenario,
    /// The address bar right after the page loaded, before any click.
    url_before_reveal: String,
    /// Whether the page offered Reveal (and the test pressed it).
    revealed: bool,
    /// The passphrase field's value after the page answered.
    passphrase_left: String,
    /// Which of the page's outcomes is shown: "note", "gone", "error" or "none".
    outcome: &'static str,
    /// The error text, if any.
    error: String,
    /// Whether the page says the server opens the note.
    says_server_opens: bool,
}

impl Site<'_> {
    /// Creates an end-to-end note with a passphrase on the honest service, then visits its link
    /// under each hostile scenario as a reader would (typing the passphrase when asked and
    /// pressing Reveal when offered). The server must receive neither the link keys nor the
    /// passphrase nor the message, and the page must say what happened.
    pub(crate) async fn a_malicious_server_learns_no_keys(
        &self,
        hostility: &Hostility,
    ) -> Result<(), String> {
        let message = "launch code 0000";
        let passphrase = "tr0ub4dor&3 staple";
        set(hostility, Scenario::Honest)?;
        let sender = self.driver.session(390, 844).await?;
        sender.goto(&format!("{}/", self.base)).await?;
        let text = sender.wait_visible("#message").await?;
        sender.type_text(&text, message).await?;
        sender
            .type_text(&sender.find("#passphrase").await?, passphrase)
            .await?;
        sender.click(&sender.find("#create").await?).await?;
        // Read as it is (the shape is checked by the other flows), so that this test also
        // runs against an older page and shows what that page sent.
        let field = sender.wait_visible("#link").await?;
        let link = sender.value(&field).await?;
        let id = note_id(&self.base, &link)?;
        let keys = link_keys(&link)?.to_owned();
        let received_before = self.received.lock().map_err(|e| e.to_string())?.len();

        let mut visits = Vec::new();
        for scenario in [
            Scenario::Downgrade,
            Scenario::ErrorThenDowngrade,
            Scenario::Redirects,
            Scenario::HugeArgon2,
            Scenario::WrongJson,
            Scenario::RefusedClaim,
        ] {
            set(hostility, scenario)?;
            visits.push(self.visit(scenario, &link, passphrase).await?);
        }
        set(hostility, Scenario::Honest)?;

        // First what the server received, with any reveal code: the keys, the passphrase and
        // the message must be in none of the requests made during the visits.
        let during: Vec<(String, Vec<u8>)> = self
            .received
            .lock()
            .map_err(|e| e.to_string())?
            .get(received_before..)
            .unwrap_or_default()
            .to_vec();
        for (line, body) in &during {
            for secret in [message, passphrase, keys.as_str()] {
                for needle in crate::browser::flows::encodings(secret) {
                    check(
                        !crate::browser::flows::contains(line.as_bytes(), needle.as_bytes())
                            && !crate::browser::flows::contains(body, needle.as_bytes()),
                        &format!("{line} carried a secret under a hostile server: {visits:?}"),
                    )?;
                }
            }
        }
        let asked_published = during
            .iter()
            .filter(|(line, _)| line.starts_with("GET /api/secrets/"))
            .count();
        let claims = during
            .iter()
            .filter(|(line, _)| line.starts_with("POST /api/e2e/notes/"))
            .count();
        check(
            asked_published == 0,
            &format!("an end-to-end link never asks the published API ({asked_published} peeks)"),
        )?;
        check(
            claims >= 2,
            &format!("the reader did press Reveal ({claims} end-to-end claims)"),
        )?;

        for visit in &visits {
            let what = format!("{visit:?}");
            check(
                visit.url_before_reveal == format!("{}/s/{id}", self.base),
                &format!("the fragment leaves the address bar on load: {what}"),
            )?;
            check(
                !visit.says_server_opens,
                &format!("no server-mode notice: {what}"),
            )?;
            check(
                visit.passphrase_left.is_empty(),
                &format!("the passphrase is wiped after a refusal: {what}"),
            )?;
            let expected = match visit.scenario {
                Scenario::Downgrade => visit.outcome == "gone" && !visit.revealed,
                Scenario::ErrorThenDowngrade => visit.outcome == "gone" && visit.revealed,
                Scenario::Redirects => visit.outcome == "error" && visit.revealed,
                Scenario::HugeArgon2 => {
                    visit.outcome == "error" && !visit.revealed && visit.error.contains("refuses")
                }
                Scenario::WrongJson => visit.outcome == "gone" && visit.revealed,
                Scenario::RefusedClaim => {
                    visit.outcome == "error"
                        && visit.revealed
                        && visit.error.contains("Wrong passphrase")
                }
                Scenario::Honest => true,
            };
            check(expected, &format!("the page's answer: {what}"))?;
        }
        // The lies changed nothing: the honest service still holds the note, and reveals it.
        let reader = self.driver.session(390, 844).await?;
        reader.goto(&link).await?;
        let field = reader.wait_visible("#passphrase").await?;
        reader
            .wait_until(
                "the reveal button",
                "return !document.getElementById('reveal').disabled;",
            )
            .await?;
        reader.type_text(&field, passphrase).await?;
        reader.click(&reader.find("#reveal").await?).await?;
        reader.wait_visible("#note").await?;
        let shown = reader.value(&reader.find("#message").await?).await?;
        check(shown == message, "the note opens on the honest service")
    }

    /// Opens the link, types the passphrase if the page asks for one, presses Reveal if the
    /// page offers it, and reports what the page showed.
    async fn visit(
        &self,
        scenario: Scenario,
        link: &str,
        passphrase: &str,
    ) -> Result<Visit, String> {
        const SETTLED: &str = "const shown = (id) => !document.getElementById(id).hidden; \
            return !document.getElementById('reveal').disabled || shown('gone') \
              || shown('reveal-error') || shown('note');";
        const ANSWERED: &str = "const shown = (id) => !document.getElementById(id).hidden; \
            return document.getElementById('reveal-status').textContent === '' \
              && (shown('gone') || shown('reveal-error') || shown('note'));";
        let reader = self.driver.session(390, 844).await?;
        reader.goto(link).await?;
        reader.wait_until("the page to settle", SETTLED).await?;
        let url_before_reveal = reader.current_url().await?;
        let enabled = reader
            .execute("return !document.getElementById('reveal').disabled;")
            .await?
            == Value::Bool(true);
        let field = reader.find("#passphrase").await?;
        if enabled {
            if reader.is_displayed(&field).await? {
                reader.type_text(&field, passphrase).await?;
            }
            reader.click(&reader.find("#reveal").await?).await?;
            reader.wait_until("an answer", ANSWERED).await?;
        }
        let state = reader
            .execute(
                "const shown = (id) => !document.getElementById(id).hidden; \
                 return { \
                   outcome: shown('note') ? 'note' : shown('gone') ? 'gone' \
                     : shown('reveal-error') ? 'error' : 'none', \
                   error: document.getElementById('reveal-error').textContent, \
                   passphrase: document.getElementById('passphrase').value, \
                   server: Boolean(document.getElementById('mode-server')) \
                     && !document.getElementById('mode-server').hidden };",
            )
            .await?;
        let outcome = match state["outcome"].as_str() {
            Some("note") => "note",
            Some("gone") => "gone",
            Some("error") => "error",
            _ => "none",
        };
        Ok(Visit {
            scenario,
            url_before_reveal,
            revealed: enabled,
            passphrase_left: state["passphrase"].as_str().unwrap_or("?").to_owned(),
            outcome,
            error: state["error"].as_str().unwrap_or_default().to_owned(),
            says_server_opens: state["server"] == Value::Bool(true),
        })
    }
}

fn set(hostility: &Hostility, scenario: Scenario) -> Result<(), String> {
    *hostility.lock().map_err(|e| e.to_string())? = scenario;
    Ok(())
}
