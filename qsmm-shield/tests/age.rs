//! age files: round trips across STREAM chunk boundaries for both recipient types, armor,
//! several recipients, streaming, key encodings, key wrapping and the errors of each misuse.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    reason = "test helpers panic on failure by design"
)]

use std::io::{Read, Write};

use qsmm_shield::age::{self, AgeError, Decryptor, Encryptor, Header, Identity, Recipient};
use qsmm_types::SecretKey;

/// Sizes around the 64 KiB chunk boundary.
const SIZES: [usize; 7] = [0, 1, 65_535, 65_536, 65_537, 2 * 65_536, 1 << 20];

fn data(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ (i >> 8) as u8)
        .collect()
}

fn identities() -> [Identity; 2] {
    [
        Identity::generate_x25519().unwrap(),
        Identity::generate_hybrid().unwrap(),
    ]
}

#[test]
fn round_trips_across_chunk_boundaries() {
    for identity in identities() {
        for len in SIZES {
            let plaintext = data(len);
            for armor in [false, true] {
                let file = age::encrypt(&[identity.to_recipient()], &plaintext, armor).unwrap();
                if !armor {
                    let (_, header_len) = Header::parse(&file).unwrap();
                    let chunks = len.div_ceil(65_536).max(1);
                    assert_eq!(
                        file.len(),
                        header_len + 16 + len + 16 * chunks,
                        "length {len}"
                    );
                }
                let opened = age::decrypt(&[identity.clone_key()], &file).unwrap();
                assert_eq!(opened, plaintext, "length {len}, armor {armor}");
            }
        }
    }
}

#[test]
fn every_recipient_of_a_file_can_open_it() {
    let hybrid: Vec<Identity> = (0..3)
        .map(|_| Identity::generate_hybrid().unwrap())
        .collect();
    let recipients: Vec<Recipient> = hybrid.iter().map(Identity::to_recipient).collect();
    let file = age::encrypt(&recipients, b"shared", false).unwrap();
    assert_eq!(Header::parse(&file).unwrap().0.stanzas().len(), 3);
    for identity in &hybrid {
        assert_eq!(
            age::decrypt(&[identity.clone_key()], &file).unwrap(),
            b"shared"
        );
    }
    let classical: Vec<Identity> = (0..2)
        .map(|_| Identity::generate_x25519().unwrap())
        .collect();
    let recipients: Vec<Recipient> = classical.iter().map(Identity::to_recipient).collect();
    let file = age::encrypt(&recipients, b"shared", true).unwrap();
    for identity in &classical {
        assert_eq!(
            age::decrypt(&[identity.clone_key()], &file).unwrap(),
            b"shared"
        );
    }
}

#[test]
fn a_stranger_gets_no_match() {
    for identity in identities() {
        let file = age::encrypt(&[identity.to_recipient()], b"secret", false).unwrap();
        let stranger = [
            Identity::generate_x25519().unwrap(),
            Identity::generate_hybrid().unwrap(),
        ];
        assert!(matches!(
            age::decrypt(&stranger, &file),
            Err(AgeError::NoMatch)
        ));
        assert!(matches!(age::decrypt(&[], &file), Err(AgeError::NoMatch)));
    }
}

#[test]
fn recipients_are_required_and_not_mixed() {
    let [x25519, hybrid] = identities();
    assert!(matches!(
        age::encrypt(&[], b"", false),
        Err(AgeError::NoRecipients)
    ));
    assert!(matches!(
        age::encrypt(&[x25519.to_recipient(), hybrid.to_recipient()], b"", false),
        Err(AgeError::MixedRecipients)
    ));
}

#[test]
fn streaming_in_odd_pieces_matches_one_shot() {
    let identity = Identity::generate_hybrid().unwrap();
    let plaintext = data(200_000);
    let mut encryptor = Encryptor::new(&[identity.to_recipient()], Vec::new(), true).unwrap();
    for piece in plaintext.chunks(7_777) {
        encryptor.write_all(piece).unwrap();
    }
    let file = encryptor.finish().unwrap();
    let mut reader = Decryptor::new(&[identity], file.as_slice()).unwrap();
    let mut opened = Vec::new();
    let mut buffer = [0u8; 1_000];
    loop {
        let n = reader.read(&mut buffer).unwrap();
        if n == 0 {
            break;
        }
        opened.extend_from_slice(&buffer[..n]);
    }
    assert_eq!(opened, plaintext);
}

#[test]
fn truncation_and_extension_fail() {
    let identity = Identity::generate_x25519().unwrap();
    let file = age::encrypt(&[identity.to_recipient()], &data(70_000), false).unwrap();
    for cut in [1, 16, 17, 4_000, 65_536 + 16] {
        let short = &file[..file.len() - cut];
        assert!(
            age::decrypt(&[identity.clone_key()], short).is_err(),
            "cut {cut}"
        );
    }
    let mut long = file;
    long.push(0);
    assert!(matches!(
        age::decrypt(&[identity.clone_key()], &long),
        Err(AgeError::Payload)
    ));
}

#[test]
fn key_encodings_round_trip() {
    for identity in identities() {
        let encoded = identity.to_encoded();
        assert!(encoded.starts_with("AGE-SECRET-KEY-"));
        let parsed: Identity = encoded.parse().unwrap();
        assert_eq!(parsed.to_recipient(), identity.to_recipient());
        let lower: Identity = encoded.to_lowercase().parse().unwrap();
        assert_eq!(lower.to_recipient(), identity.to_recipient());
        let text = identity.to_recipient().to_string();
        let recipient: Recipient = text.parse().unwrap();
        assert_eq!(recipient, identity.to_recipient());
        assert_eq!(recipient.is_post_quantum(), identity.is_post_quantum());
        // A changed character breaks the checksum.
        let mut broken = text.into_bytes();
        let last = broken.len() - 1;
        broken[last] = if broken[last] == b'q' { b'p' } else { b'q' };
        assert!(
            String::from_utf8(broken)
                .unwrap()
                .parse::<Recipient>()
                .is_err()
        );
    }
    let hybrid = Identity::generate_hybrid()
        .unwrap()
        .to_recipient()
        .to_string();
    assert!(hybrid.starts_with("age1pq1"));
    assert_eq!(hybrid.len(), 1959);
    assert!("age1".parse::<Recipient>().is_err());
    assert!("AGE-SECRET-KEY-1".parse::<Identity>().is_err());
}

#[test]
fn debug_never_prints_secrets() {
    for identity in identities() {
        let debug = format!("{identity:?}");
        let encoded = identity.to_encoded();
        assert!(!debug.contains(&encoded[20..30]), "{debug}");
    }
}

#[test]
fn wrap_key_round_trips_and_rejects_other_content() {
    let escrow = Identity::generate_hybrid().unwrap();
    let key = SecretKey::generate();
    for armor in [false, true] {
        let file = age::wrap_key(&[escrow.to_recipient()], &key, armor).unwrap();
        assert_eq!(
            age::decrypt(&[escrow.clone_key()], &file).unwrap(),
            key.as_bytes()
        );
        assert_eq!(age::unwrap_key(&[escrow.clone_key()], &file).unwrap(), key);
    }
    let not_a_key = age::encrypt(&[escrow.to_recipient()], &[0; 31], false).unwrap();
    assert!(matches!(
        age::unwrap_key(&[escrow], &not_a_key),
        Err(qsmm_shield::Error::Crypto)
    ));
    let stranger = Identity::generate_hybrid().unwrap();
    let file = age::wrap_key(&[stranger.to_recipient()], &key, false).unwrap();
    assert!(matches!(
        age::unwrap_key(&[Identity::generate_hybrid().unwrap()], &file),
        Err(qsmm_shield::Error::Crypto)
    ));
}

#[test]
fn hybrid_stanzas_have_the_specified_shape() {
    let identity = Identity::generate_hybrid().unwrap();
    let file = age::encrypt(&[identity.to_recipient()], b"x", false).unwrap();
    let (header, _) = Header::parse(&file).unwrap();
    let stanza = &header.stanzas()[0];
    assert_eq!(stanza.args().len(), 2);
    assert_eq!(stanza.args()[0], "mlkem768x25519");
    assert_eq!(stanza.args()[1].len(), 1494); // 1120 bytes, unpadded base64
    assert_eq!(stanza.body().len(), 32);
    assert_eq!(
        identity
            .unwrap_stanza(stanza)
            .unwrap()
            .unwrap()
            .as_bytes()
            .len(),
        16
    );
}
