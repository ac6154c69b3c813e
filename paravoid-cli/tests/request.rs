//! Request-a-secret against a real server in this process: the library's `request`, `respond`
//! and `open_answer`, the binary's `request`/`respond`/`open`, and the refusals (a second
//! answer, an expired request, wrong keys, a changed or swapped answer). The server never
//! receives the secret or the requester's keys.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests fail on any error"
)]

#[path = "support/harness.rs"]
mod harness;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use paravoid_cli::{CliError, OwnLink, RequestLink, ServerUrl};
use serde_json::{Value, json};

use crate::harness::{Server, client, contains, encodings, run};

/// Whether any request the server received carried one of `secrets`, in any usual encoding.
fn assert_never_received(server: &Server, secrets: &[&[u8]]) {
    let received = server.received.lock().unwrap();
    assert!(
        received.iter().any(|(line, _)| line.ends_with("/response")),
        "the recorder saw the answer"
    );
    for (line, body) in received.iter() {
        for secret in secrets {
            for needle in encodings(secret) {
                assert!(
                    !contains(line.as_bytes(), &needle) && !contains(body, &needle),
                    "{line} carried a secret"
                );
            }
        }
    }
}

/// The raw seed and classical secret of a requester's link.
fn own_secrets(own: &OwnLink) -> (Vec<u8>, Vec<u8>) {
    let text = own.to_text();
    let compact = text.split_once("#own.").unwrap().1;
    let raw = URL_SAFE_NO_PAD.decode(compact).unwrap();
    (raw[..64].to_vec(), raw[64..].to_vec())
}

/// Posts a sealed note as the answer to request `id`; returns the status.
async fn post_answer(
    server: &Server,
    id: uuid::Uuid,
    sealed: &qsmm_shield::note::StoredNote,
) -> u16 {
    let note = json!({
        "ek": URL_SAFE_NO_PAD.encode(&sealed.ek),
        "ct_kem": URL_SAFE_NO_PAD.encode(&sealed.ct_kem),
        "nonce": URL_SAFE_NO_PAD.encode(sealed.nonce),
        "key_check": URL_SAFE_NO_PAD.encode(sealed.key_check),
        "ciphertext": URL_SAFE_NO_PAD.encode(&sealed.ciphertext),
    });
    client()
        .post(format!("{}/api/e2e/requests/{id}/response", server.base))
        .json(&json!({ "note": note }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_request_is_answered_once_and_opened_once_by_its_requester() {
    let server = Server::start().await;
    let url = ServerUrl::parse(&server.base).unwrap();
    let requested = paravoid_cli::request(&url, Some(600), Some(3600))
        .await
        .unwrap();
    assert_eq!(requested.expires_at, harness::START + 600);
    let request = RequestLink::parse(&requested.request_link.to_text()).unwrap();
    let own = OwnLink::parse(&requested.own_link.to_text()).unwrap();

    let early = paravoid_cli::open_answer(&own).await;
    assert!(matches!(early, Err(CliError::NotAnswered)), "{early:?}");

    let secret = b"the database password is hunter2";
    let expires_at = paravoid_cli::respond(&request, secret).await.unwrap();
    assert_eq!(expires_at, harness::START + 3600);
    let second = paravoid_cli::respond(&request, b"another answer").await;
    assert!(matches!(second, Err(CliError::RequestClosed)), "{second:?}");

    let status: Value = client()
        .get(format!("{}/api/e2e/requests/{}", server.base, own.id))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(status["answered"], true);

    let opened = paravoid_cli::open_answer(&own).await.unwrap();
    assert_eq!(&opened[..], secret);
    let again = paravoid_cli::open_answer(&own).await;
    assert!(matches!(again, Err(CliError::Gone)), "{again:?}");
    // Answered and opened: still no second answer.
    let late = paravoid_cli::respond(&request, b"late").await;
    assert!(matches!(late, Err(CliError::RequestClosed)), "{late:?}");

    // The encapsulation key is public and part of the answer's note format: not scanned.
    let (seed, classical) = own_secrets(&own);
    assert_never_received(&server, &[secret, &seed, &classical]);
    server.stop().await;
}

#[tokio::test]
async fn an_expired_request_takes_no_answer() {
    let server = Server::start().await;
    let url = ServerUrl::parse(&server.base).unwrap();
    let requested = paravoid_cli::request(&url, Some(60), None).await.unwrap();
    server.clock.advance(60);
    let status = client()
        .get(format!(
            "{}/api/e2e/requests/{}",
            server.base, requested.own_link.id
        ))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 410);
    let sealed = requested.request_link.seal(b"too late").unwrap();
    assert_eq!(
        post_answer(&server, requested.request_link.id, &sealed).await,
        410
    );
    let open = paravoid_cli::open_answer(&requested.own_link).await;
    assert!(matches!(open, Err(CliError::Gone)), "{open:?}");
    // Unknown ids are 404.
    assert_eq!(
        post_answer(&server, uuid::Uuid::new_v4(), &sealed).await,
        404
    );
    server.stop().await;
}

#[tokio::test]
async fn wrong_keys_changed_and_swapped_answers_are_refused() {
    let server = Server::start().await;
    let url = ServerUrl::parse(&server.base).unwrap();

    // Another requester's keys under this request's id: the server refuses the claim.
    let a = paravoid_cli::request(&url, None, None).await.unwrap();
    paravoid_cli::respond(&a.request_link, b"for a")
        .await
        .unwrap();
    let b = paravoid_cli::request(&url, None, None).await.unwrap();
    let text = b.own_link.to_text();
    let wrong = OwnLink::parse(&text.replace(
        &b.own_link.id.hyphenated().to_string(),
        &a.own_link.id.hyphenated().to_string(),
    ))
    .unwrap();
    let refused = paravoid_cli::open_answer(&wrong).await;
    assert!(
        matches!(refused, Err(CliError::WrongLinkKeys)),
        "{refused:?}"
    );
    // The refusal burned nothing.
    assert_eq!(
        &paravoid_cli::open_answer(&a.own_link).await.unwrap()[..],
        b"for a"
    );

    // A changed answer: one bit of the ciphertext.
    let c = paravoid_cli::request(&url, None, None).await.unwrap();
    let mut sealed = c.request_link.seal(b"for c").unwrap();
    sealed.ciphertext[0] ^= 1;
    assert_eq!(post_answer(&server, c.request_link.id, &sealed).await, 201);
    let changed = paravoid_cli::open_answer(&c.own_link).await;
    assert!(matches!(changed, Err(CliError::Tampered)), "{changed:?}");

    // A swapped answer: one sealed for request e (with e's id in its key) handed out as d's.
    // d's requester made the keys of both, so only the request id in the key derivation tells
    // the two answers apart.
    let d = paravoid_cli::request(&url, None, None).await.unwrap();
    let e_id = {
        let e = paravoid_cli::request(&url, None, None).await.unwrap();
        e.request_link.id
    };
    let moved_text = d.request_link.to_text().replace(
        &d.request_link.id.hyphenated().to_string(),
        &e_id.hyphenated().to_string(),
    );
    let for_other_request = RequestLink::parse(&moved_text)
        .unwrap()
        .seal(b"for e")
        .unwrap();
    assert_eq!(
        post_answer(&server, d.request_link.id, &for_other_request).await,
        201
    );
    let swapped = paravoid_cli::open_answer(&d.own_link).await;
    assert!(matches!(swapped, Err(CliError::Tampered)), "{swapped:?}");
    server.stop().await;
}

#[tokio::test]
async fn the_binary_requests_responds_and_opens() {
    let server = Server::start().await;
    let made = run(&["request", "--server", &server.base, "--ttl", "1h"], b"").await;
    assert_eq!(made.code, 0, "{made:?}");
    let text = made.line();
    let mut lines = text.lines();
    let (request, own) = (lines.next().unwrap(), lines.next().unwrap());
    assert!(
        request.contains("/r/") && request.contains("#req."),
        "{request}"
    );
    assert!(own.contains("/r/") && own.contains("#own."), "{own}");

    let early = run(&["open", own], b"").await;
    early.assert_failed(9, "nobody has answered");

    let answered = run(&["respond", request], b"s3cret answer\n").await;
    assert_eq!(answered.code, 0, "{answered:?}");
    let twice = run(&["respond", request], b"again\n").await;
    twice.assert_failed(3, "already been answered");

    let opened = run(&["open", own], b"").await;
    assert_eq!(opened.code, 0, "{opened:?}");
    assert_eq!(opened.stdout, b"s3cret answer\n");
    run(&["open", own], b"").await.assert_failed(3, "");
    run(&["respond", own], b"x").await.assert_failed(5, "");
    server.stop().await;
}
