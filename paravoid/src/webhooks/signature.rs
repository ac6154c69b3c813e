//! The body of a webhook call and its signature, Stripe's scheme: the header
//! `Paravoid-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. The
//! receiver recomputes the HMAC over the raw body with the secret it was shown at creation,
//! compares in constant time, and refuses a `t` too far from its own clock (replays).

use hmac::{Hmac, KeyInit as _, Mac as _};
use serde::Serialize;
use sha2::Sha256;

/// Bytes of a webhook secret.
pub const WEBHOOK_SECRET_LEN: usize = 32;

/// The JSON body of a webhook call: exactly these three fields.
#[derive(Debug, Serialize)]
pub(crate) struct Payload<'a> {
    /// The opaque webhook id answered at creation (unpadded base64url).
    pub(crate) token: &'a str,
    /// `revealed`, `expired` or `destroyed`.
    pub(crate) status: &'static str,
    /// The receipt's coarse time, Unix seconds rounded down to the minute.
    pub(crate) at: u64,
}

impl Payload<'_> {
    /// The body's bytes.
    pub(crate) fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// The value of the `Paravoid-Signature` header for `body` sent at `t`.
pub(crate) fn header(secret: &[u8; WEBHOOK_SECRET_LEN], t: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256>>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Known answer, computed independently:
        // printf '1800000000.{"token":"abc","status":"revealed","at":1800000000}' |
        //   openssl dgst -sha256 -hmac "$(printf 'k%.0s' $(seq 32))"
        let body = Payload {
            token: "abc",
            status: "revealed",
            at: 1_800_000_000,
        }
        .to_body();
        assert_eq!(
            body,
            br#"{"token":"abc","status":"revealed","at":1800000000}"#.to_vec()
        );
        let secret = [b'k'; WEBHOOK_SECRET_LEN];
        let value = header(&secret, 1_800_000_000, &body);
        assert_eq!(
            value,
            "t=1800000000,v1=605e4984b218e5ebef41a3e75fc8805a594859b3d43e783453286cb846aefc63"
        );
        assert_ne!(
            header(&[b'j'; WEBHOOK_SECRET_LEN], 1_800_000_000, &body),
            value
        );
        assert_ne!(header(&secret, 1_800_000_001, &body), value);
    }
}
