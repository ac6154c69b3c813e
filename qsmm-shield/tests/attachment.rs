//! Files attached to notes: known answers (also checked by the browser's code), round trips
//! through a sealed note, and every way a sealed stream can be cut, reordered or modified.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use qsmm_shield::Error;
use qsmm_shield::attachment::{
    self, Bundle, CHUNK_LEN, ChunkOpener, ChunkSealer, FileEntry, FileKey, SEALED_CHUNK_LEN,
};
use qsmm_shield::note;
use sha2::{Digest, Sha256};

/// The known-answer key: bytes 0, 1, …, 31.
fn kat_key() -> FileKey {
    FileKey::from_bytes(std::array::from_fn(|i| u8::try_from(i).unwrap()))
}

/// `len` bytes `i mod 251`.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| u8::try_from(i % 251).unwrap()).collect()
}

fn seal(key: &FileKey, index: u32, data: &[u8]) -> Vec<u8> {
    let mut sealed = Vec::new();
    let written = attachment::seal_file(key, index, data.len() as u64, data, &mut sealed).unwrap();
    assert_eq!(written, sealed.len() as u64);
    sealed
}

fn open(key: &FileKey, index: u32, size: u64, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    attachment::open_file(key, index, size, sealed, &mut out)?;
    Ok(out)
}

/// Known answers, repeated in the browser's tests (`paravoid/web/test/files.test.mjs`).
#[test]
fn known_answers() {
    let key = kat_key();
    assert_eq!(
        hex::encode(seal(&key, 0, b"hello")),
        KAT_HELLO_FILE_0,
        "5-byte file, index 0"
    );
    assert_eq!(
        hex::encode(seal(&key, 1, b"")),
        KAT_EMPTY_FILE_1,
        "empty file, index 1"
    );
    let big = seal(&key, 2, &pattern(2 * CHUNK_LEN + 5));
    assert_eq!(big.len(), 2 * CHUNK_LEN + 5 + 3 * 16);
    assert_eq!(
        hex::encode(Sha256::digest(&big)),
        KAT_THREE_CHUNKS_SHA256,
        "131077-byte file, index 2"
    );
    let bundle = Bundle::with_key(
        b"see attached",
        vec![
            FileEntry::new("r\u{e9}sum\u{e9}.pdf", "application/pdf", 70_000).unwrap(),
            FileEntry::new("empty", "", 0).unwrap(),
        ],
        kat_key(),
    )
    .unwrap();
    assert_eq!(
        hex::encode(&bundle.to_plaintext()[..]),
        KAT_BUNDLE,
        "bundle plaintext"
    );
}

#[test]
fn files_travel_beside_a_sealed_note() {
    let data = pattern(CHUNK_LEN + 1);
    let entry = FileEntry::new("data.bin", "application/octet-stream", data.len() as u64).unwrap();
    let bundle = Bundle::new(b"message", vec![entry.clone()]).unwrap();
    let sealed = seal(bundle.key(), 0, &data);
    let (stored, keys) = note::seal_note(&bundle.to_plaintext()).unwrap();

    let plaintext = note::open_note(&stored, &keys).unwrap();
    let opened = Bundle::from_plaintext(&plaintext).unwrap().unwrap();
    assert_eq!(opened.message(), b"message");
    assert_eq!(opened.files(), &[entry][..]);
    assert_eq!(opened.key().as_bytes(), bundle.key().as_bytes());
    assert_eq!(
        open(opened.key(), 0, data.len() as u64, &sealed).unwrap(),
        data
    );
}

#[test]
fn sizes_and_chunk_counts_at_the_boundaries() {
    for (size, chunks) in [
        (0u64, 1u64),
        (1, 1),
        (CHUNK_LEN as u64 - 1, 1),
        (CHUNK_LEN as u64, 1),
        (CHUNK_LEN as u64 + 1, 2),
        (2 * CHUNK_LEN as u64, 2),
    ] {
        assert_eq!(
            attachment::chunk_count(size).unwrap(),
            chunks,
            "size {size}"
        );
        assert_eq!(attachment::sealed_size(size).unwrap(), size + 16 * chunks);
        let data = pattern(usize::try_from(size).unwrap());
        let sealed = seal(&kat_key(), 3, &data);
        assert_eq!(sealed.len() as u64, size + 16 * chunks, "size {size}");
        assert_eq!(
            open(&kat_key(), 3, size, &sealed).unwrap(),
            data,
            "size {size}"
        );
    }
    assert!(matches!(
        attachment::sealed_size(attachment::MAX_FILE_SIZE + 1),
        Err(Error::DataTooLarge { .. })
    ));
}

/// A stream of three chunks (64 KiB, 64 KiB, 5 bytes) and its parts.
fn three_chunks() -> (Vec<u8>, Vec<u8>) {
    let data = pattern(2 * CHUNK_LEN + 5);
    let sealed = seal(&kat_key(), 0, &data);
    (data, sealed)
}

#[test]
fn truncation_anywhere_is_refused() {
    let (data, sealed) = three_chunks();
    let size = data.len() as u64;
    for cut in [
        0,
        1,
        SEALED_CHUNK_LEN - 1,
        SEALED_CHUNK_LEN,
        2 * SEALED_CHUNK_LEN,
        sealed.len() - 1,
    ] {
        assert!(
            matches!(
                open(&kat_key(), 0, size, &sealed[..cut]),
                Err(Error::Crypto)
            ),
            "cut at {cut}"
        );
    }
}

#[test]
fn dropping_the_last_chunk_is_refused_even_with_a_matching_size() {
    let (data, sealed) = three_chunks();
    // The manifest lies about the size to match the two first chunks: the second chunk is not
    // marked last, so it fails.
    let two = &sealed[..2 * SEALED_CHUNK_LEN];
    assert!(matches!(
        open(&kat_key(), 0, 2 * CHUNK_LEN as u64, two),
        Err(Error::Crypto)
    ));
    assert!(matches!(
        open(&kat_key(), 0, data.len() as u64, two),
        Err(Error::Crypto)
    ));
}

#[test]
fn reordered_or_repeated_chunks_are_refused() {
    let (data, sealed) = three_chunks();
    let (first, rest) = sealed.split_at(SEALED_CHUNK_LEN);
    let (second, last) = rest.split_at(SEALED_CHUNK_LEN);
    let swapped = [second, first, last].concat();
    let repeated = [first, first, last].concat();
    for (what, stream) in [("swapped", swapped), ("repeated", repeated)] {
        assert!(
            matches!(
                open(&kat_key(), 0, data.len() as u64, &stream),
                Err(Error::Crypto)
            ),
            "{what}"
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    let (data, mut sealed) = three_chunks();
    sealed.push(0);
    assert!(matches!(
        open(&kat_key(), 0, data.len() as u64, &sealed),
        Err(Error::Crypto)
    ));
}

#[test]
fn any_flipped_byte_is_refused() {
    let data = pattern(100);
    let sealed = seal(&kat_key(), 0, &data);
    for position in 0..sealed.len() {
        let mut bad = sealed.clone();
        bad[position] ^= 0x80;
        assert!(
            matches!(open(&kat_key(), 0, 100, &bad), Err(Error::Crypto)),
            "byte {position}"
        );
    }
}

#[test]
fn another_file_index_key_or_size_is_refused() {
    let (data, sealed) = three_chunks();
    let size = data.len() as u64;
    assert!(matches!(
        open(&kat_key(), 1, size, &sealed),
        Err(Error::Crypto)
    ));
    let other = FileKey::from_bytes([7; 32]);
    assert!(matches!(open(&other, 0, size, &sealed), Err(Error::Crypto)));
    assert!(matches!(
        open(&kat_key(), 0, size - 1, &sealed),
        Err(Error::Crypto)
    ));
    assert!(matches!(
        open(&kat_key(), 0, size + 1, &sealed),
        Err(Error::Crypto)
    ));
}

#[test]
fn sealing_refuses_a_reader_of_another_length() {
    let key = kat_key();
    let short = attachment::seal_file(&key, 0, 10, &[0u8; 9][..], Vec::new());
    assert!(matches!(short, Err(Error::InvalidParameter(_))));
    let long = attachment::seal_file(&key, 0, 10, &[0u8; 11][..], Vec::new());
    assert!(matches!(long, Err(Error::InvalidParameter(_))));
}

#[test]
fn chunk_api_refuses_wrong_lengths_and_extra_chunks() {
    let key = kat_key();
    let mut sealer = ChunkSealer::new(&key, 0, 5).unwrap();
    assert_eq!(sealer.next_chunk_len(), Some(5));
    assert!(sealer.seal_chunk(b"four").is_err());
    let mut sealed = sealer.seal_chunk(b"hello").unwrap();
    assert_eq!(hex::encode(&sealed), KAT_HELLO_FILE_0);
    assert_eq!(sealer.next_chunk_len(), None);
    assert!(sealer.seal_chunk(b"").is_err());

    let mut opener = ChunkOpener::new(&key, 0, 5).unwrap();
    assert!(!opener.is_complete());
    assert!(
        opener
            .open_chunk_in_place(&mut sealed.clone()[..20])
            .is_err()
    );
    assert_eq!(
        opener.open_chunk_in_place(&mut sealed.clone()).unwrap(),
        b"hello"
    );
    assert!(opener.is_complete());
    assert!(matches!(
        opener.open_chunk_in_place(&mut sealed),
        Err(Error::Crypto)
    ));
}

#[test]
fn manifest_names_and_types_are_checked() {
    for bad in [
        "",
        ".",
        "..",
        "a/b",
        "a\\b",
        "nul\0",
        "line\nbreak",
        &"x".repeat(256),
    ] {
        assert!(
            matches!(FileEntry::new(bad, "", 1), Err(Error::InvalidParameter(_))),
            "{bad:?}"
        );
    }
    for good in [
        "a",
        "...",
        "r\u{e9}sum\u{e9}.pdf",
        ".hidden",
        &"x".repeat(255),
    ] {
        FileEntry::new(good, "text/plain; charset=utf-8", 1).unwrap();
    }
    assert!(FileEntry::new("a", "t\u{e9}xt", 1).is_err());
    assert!(FileEntry::new("a", &"t".repeat(128), 1).is_err());
    assert!(FileEntry::new("a", "", attachment::MAX_FILE_SIZE + 1).is_err());
    let too_many = vec![FileEntry::new("a", "", 1).unwrap(); attachment::MAX_FILES + 1];
    assert!(Bundle::new(b"", too_many).is_err());
}

#[test]
fn bundles_decode_strictly() {
    let good = hex::decode(KAT_BUNDLE).unwrap();
    let bundle = Bundle::from_plaintext(&good).unwrap().unwrap();
    assert_eq!(bundle.files()[0].name(), "r\u{e9}sum\u{e9}.pdf");
    assert_eq!(bundle.files()[0].media_type(), "application/pdf");
    assert_eq!(bundle.files()[0].size(), 70_000);
    assert_eq!(bundle.files()[1].size(), 0);
    // A bare message is not a bundle.
    assert!(Bundle::from_plaintext(b"hello").unwrap().is_none());
    assert!(Bundle::from_plaintext(b"").unwrap().is_none());
    // Every truncation, trailing bytes, another version: refused.
    for cut in 4..good.len() {
        assert!(
            Bundle::from_plaintext(&good[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    let mut trailing = good.clone();
    trailing.push(0);
    assert!(Bundle::from_plaintext(&trailing).is_err());
    let mut version = good.clone();
    version[4] = 2;
    assert!(Bundle::from_plaintext(&version).is_err());
    // A name with a slash smuggled into the bytes is refused on reading.
    let mut traversal = good;
    let at = traversal.windows(3).position(|w| w == b"pdf").unwrap();
    traversal[at] = b'/';
    assert!(Bundle::from_plaintext(&traversal).is_err());
}

#[test]
fn debug_prints_no_secret() {
    let entry = FileEntry::new("secret-name.txt", "text/secret", 3).unwrap();
    let bundle = Bundle::with_key(b"secret message", vec![entry], kat_key()).unwrap();
    let printed = format!("{bundle:?} {:?}", bundle.key());
    assert!(!printed.contains("secret"), "{printed}");
    assert!(!printed.contains("[0, 1, 2"), "{printed}");
}

const KAT_HELLO_FILE_0: &str = "7fefa4ca78fde59f6ff1c1dd86660be2b4b1c5097c";
const KAT_EMPTY_FILE_1: &str = "760c9f6353f8dc260a7ec43b05b93245";
const KAT_THREE_CHUNKS_SHA256: &str =
    "72d5ab5897eb2c7ae414494574c560db8840c27edcb163f65fc6df1f2ea85389";
const KAT_BUNDLE: &str = "0051534601000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0c000000736565206174746163686564020c72c3a973756dc3a92e7064660f6170706c69636174696f6e2f706466701101000000000005656d707479000000000000000000";
