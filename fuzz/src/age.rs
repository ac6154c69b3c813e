//! Targets for `qsmm-shield`'s age module: the header parser, the stanza and key decoders, and
//! whole-file decryption (armor, header, MAC, STREAM).

use std::io::Read;
use std::sync::LazyLock;

use qsmm_shield::age::{AgeError, Decryptor, Header, Identity, Recipient, Stanza};

/// The fixed X25519 identity (the one of the C2SP CCTV age vectors).
pub const AGE_X25519_IDENTITY: &str =
    "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0";
/// The fixed hybrid identity (the one of the C2SP CCTV age vectors).
pub const AGE_HYBRID_IDENTITY: &str =
    "AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG";

/// The fixed identities, parsed once.
#[must_use]
pub fn age_identities() -> &'static [Identity; 2] {
    static IDENTITIES: LazyLock<Option<[Identity; 2]>> = LazyLock::new(|| {
        Some([
            AGE_X25519_IDENTITY.parse().ok()?,
            AGE_HYBRID_IDENTITY.parse().ok()?,
        ])
    });
    match &*IDENTITIES {
        Some(identities) => identities,
        None => panic!("the fixed age identities do not parse"),
    }
}

/// Header parser, stanza decoders and key decoders, chosen by the first byte.
///
/// - `Header::parse` never reads past the input, and re-parsing exactly the bytes it consumed
///   gives the same stanzas;
/// - every parsed stanza, handed to both fixed identities, gives a file key, `None` or an
///   error, never a panic;
/// - a stanza built from arbitrary arguments and body likewise;
/// - a recipient or identity string that parses prints back (recipients in lower case) and
///   parses to the same key.
///
/// # Panics
///
/// When a property fails.
pub fn age_header_stanzas(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    match selector % 3 {
        0 => {
            let Ok((header, used)) = Header::parse(rest) else {
                return;
            };
            assert!(used <= rest.len(), "the header parser read past its input");
            let Ok((again, used_again)) = Header::parse(&rest[..used]) else {
                panic!("the consumed header bytes do not parse again");
            };
            assert_eq!(used, used_again);
            assert_eq!(header.stanzas(), again.stanzas());
            for stanza in header.stanzas() {
                unwrap_with_fixed_identities(stanza);
            }
        }
        1 => {
            // Arguments are the space-separated words of the first line, the body the rest.
            let (line, body) = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or((rest, &[][..]), |i| (&rest[..i], &rest[i + 1..]));
            let args = String::from_utf8_lossy(line)
                .split(' ')
                .map(str::to_owned)
                .collect();
            if let Ok(stanza) = Stanza::new(args, body.to_vec()) {
                unwrap_with_fixed_identities(&stanza);
            }
        }
        _ => {
            let text = String::from_utf8_lossy(rest);
            if let Ok(recipient) = text.parse::<Recipient>() {
                let printed = recipient.to_string();
                assert_eq!(printed, text.to_lowercase());
                assert!(printed.parse::<Recipient>().is_ok_and(|r| r == recipient));
            }
            if let Ok(identity) = text.parse::<Identity>() {
                let printed = identity.to_encoded();
                assert_eq!(*printed, text.to_uppercase());
                assert!(
                    printed
                        .parse::<Identity>()
                        .is_ok_and(|i| i.to_recipient() == identity.to_recipient())
                );
            }
        }
    }
}

/// Whole-file decryption (binary or armored) with the fixed identities.
///
/// - decryption never panics, and its outcome and released plaintext are deterministic;
/// - a file that decrypts has a header that `Header::parse` accepts (binary files).
///
/// # Panics
///
/// When a property fails.
pub fn age_decrypt(data: &[u8]) {
    let first = decrypt(data);
    let second = decrypt(data);
    assert_eq!(first, second, "age decryption is not deterministic");
    if first.0.is_none() && data.starts_with(b"age-encryption.org/") {
        assert!(
            Header::parse(data).is_ok(),
            "a decrypted file's header does not parse"
        );
    }
}

/// The error class (or `None` for success) and the plaintext released.
fn decrypt(data: &[u8]) -> (Option<String>, Vec<u8>) {
    let mut released = Vec::new();
    let outcome = match Decryptor::new(age_identities(), data) {
        Err(error) => Some(error.to_string()),
        Ok(mut reader) => reader
            .read_to_end(&mut released)
            .err()
            .map(|error| AgeError::from_io(error).to_string()),
    };
    (outcome, released)
}

fn unwrap_with_fixed_identities(stanza: &Stanza) {
    for identity in age_identities() {
        if let Ok(Some(key)) = identity.unwrap_stanza(stanza) {
            assert_eq!(key.as_bytes().len(), 16);
        }
    }
}
