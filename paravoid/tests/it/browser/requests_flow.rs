//! Request-a-secret in a real browser, page to page: `/r` makes the request and shows both
//! links; the request link (`#req.`) answers it in another browser; the requester's link
//! (`#own.`) opens the answer once. Then every request the server received is scanned for the
//! message, the classical secret, the seed and both fragments.

use base64::Engine as _;

use crate::browser::flows::{Received, check, contains, encodings};
use qsmm_test_support::webdriver::{Driver, Session};

const PHONE: (u32, u32) = (390, 844);

/// The fragment of a `/r/<id>#<kind>.<keys>` link, checked to be one of `base`'s, and the id.
pub(crate) fn split<'a>(
    base: &str,
    link: &'a str,
    kind: &str,
) -> Result<(&'a str, &'a str), String> {
    link.strip_prefix(base)
        .and_then(|rest| rest.strip_prefix("/r/"))
        .and_then(|rest| rest.split_once('#'))
        .filter(|(id, fragment)| id.len() == 36 && fragment.starts_with(kind))
        .ok_or_else(|| format!("not a {kind} link of this server: {link:?}"))
}

pub(crate) async fn value(session: &Session, selector: &str) -> Result<String, String> {
    session.value(&session.find(selector).await?).await
}

/// The whole flow, page to page.
pub(crate) async fn request_page_to_page(
    driver: &Driver,
    base: &str,
    received: &Received,
) -> Result<(), String> {
    let message = "The vault PIN is 271828 — ünïcödé <b>not markup</b>";
    let requester = driver.session(PHONE.0, PHONE.1).await?;
    requester.goto(&format!("{base}/r")).await?;
    requester
        .click(&requester.wait_visible("#make").await?)
        .await?;
    requester.wait_visible("#made").await?;
    let request_link = value(&requester, "#request-link").await?;
    let own_link = value(&requester, "#own-link").await?;
    let (id, request_fragment) = split(base, &request_link, "req.")?;
    let (own_id, own_fragment) = split(base, &own_link, "own.")?;
    check(id == own_id, "both links name the same request")?;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let request_keys = b64
        .decode(&request_fragment[4..])
        .map_err(|e| e.to_string())?;
    let own_keys = b64.decode(&own_fragment[4..]).map_err(|e| e.to_string())?;
    check(
        request_keys.len() == 1184 + 32 && own_keys.len() == 64 + 32,
        "an encapsulation key and a classical secret; a seed and a classical secret",
    )?;
    check(
        request_keys[1184..] == own_keys[64..],
        "both links carry the same classical secret",
    )?;

    // The requester looks before anyone answered: nothing to open yet.
    requester.goto(&own_link).await?;
    requester
        .wait_until(
            "the not-yet-answered state",
            "return document.getElementById('open-state').textContent.includes('Nobody has answered');",
        )
        .await?;
    check(
        requester
            .execute("return document.getElementById('open').disabled;")
            .await?
            == serde_json::Value::Bool(true),
        "nothing to open before an answer",
    )?;
    check(
        !requester.current_url().await?.contains('#'),
        "the own link's fragment leaves the address bar",
    )?;

    let responder = driver.session(PHONE.0, PHONE.1).await?;
    responder.goto(&request_link).await?;
    responder
        .wait_until(
            "the answer button",
            "return !document.getElementById('respond').disabled;",
        )
        .await?;
    check(
        !responder.current_url().await?.contains('#'),
        "the request link's fragment leaves the address bar",
    )?;
    let answer = responder.find("#answer").await?;
    responder.type_text(&answer, message).await?;
    responder.click(&responder.find("#respond").await?).await?;
    responder.wait_visible("#responded").await?;
    check(
        value(&responder, "#answer").await?.is_empty(),
        "the answer leaves the form",
    )?;
    // A second visit of the request link: answered already.
    responder.goto(&request_link).await?;
    let gone = responder.wait_visible("#gone").await?;
    check(
        responder.text(&gone).await?.contains("answered already"),
        "a request takes one answer",
    )?;

    requester.goto(&own_link).await?;
    requester
        .wait_until(
            "the open button",
            "return !document.getElementById('open').disabled;",
        )
        .await?;
    requester.click(&requester.find("#open").await?).await?;
    requester.wait_visible("#answer-card").await?;
    let shown = value(&requester, "#answer-text").await?;
    check(shown == message, &format!("the answer: {shown:?}"))?;
    // Once only: the request still says "answered", but the claim finds nothing.
    requester.goto(&own_link).await?;
    requester
        .wait_until(
            "the open button",
            "return !document.getElementById('open').disabled;",
        )
        .await?;
    requester.click(&requester.find("#open").await?).await?;
    requester.wait_visible("#gone").await?;

    let secrets: Vec<Vec<u8>> = vec![
        message.as_bytes().to_vec(),
        request_fragment.as_bytes().to_vec(),
        own_fragment.as_bytes().to_vec(),
        own_keys[..64].to_vec(),
        own_keys[64..].to_vec(),
    ];
    nothing_secret_received(received, &secrets)
}

/// No request carried a secret, raw or encoded (hex, base64 in both alphabets at every
/// alignment); the answer itself did arrive, so the scan saw it.
pub(crate) fn nothing_secret_received(
    received: &Received,
    secrets: &[Vec<u8>],
) -> Result<(), String> {
    let received = received.lock().map_err(|e| e.to_string())?;
    check(
        received
            .iter()
            .any(|(line, body)| line.ends_with("/response") && body.len() > 2000),
        "the sealed answer reached the server",
    )?;
    let mut needles: Vec<Vec<u8>> = Vec::new();
    for secret in secrets {
        if let Ok(text) = std::str::from_utf8(secret) {
            needles.extend(encodings(text).into_iter().map(String::into_bytes));
        }
        needles.push(secret.clone());
        needles.push(hex::encode(secret).into_bytes());
        for shift in 0..3.min(secret.len()) {
            let aligned = &secret[shift..shift + (secret.len() - shift) / 3 * 3];
            for engine in [
                base64::engine::general_purpose::STANDARD_NO_PAD,
                base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ] {
                needles.push(engine.encode(aligned).into_bytes());
            }
        }
    }
    for (line, body) in received.iter() {
        for needle in needles.iter().filter(|needle| needle.len() >= 8) {
            check(
                !contains(line.as_bytes(), needle) && !contains(body, needle),
                &format!("{line} carried a secret of the request flow"),
            )?;
        }
    }
    Ok(())
}
