//! Files attached to notes under proptest: any file round trips, and any corruption of the
//! sealed stream is refused without a panic.
#![allow(
    clippy::unwrap_used,
    reason = "test helpers panic on failure by design"
)]

use proptest::prelude::*;
use qsmm_shield::Error;
use qsmm_shield::attachment::{self, Bundle, CHUNK_LEN, FileEntry, FileKey};

fn seal(key: &FileKey, index: u32, data: &[u8]) -> Vec<u8> {
    let mut sealed = Vec::new();
    attachment::seal_file(key, index, data.len() as u64, data, &mut sealed).unwrap();
    sealed
}

fn open(key: &FileKey, index: u32, size: u64, sealed: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    attachment::open_file(key, index, size, sealed, &mut out)?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn any_file_round_trips(
        key in any::<[u8; 32]>(),
        index in any::<u32>(),
        data in prop::collection::vec(any::<u8>(), 0..3 * CHUNK_LEN),
    ) {
        let key = FileKey::from_bytes(key);
        let sealed = seal(&key, index, &data);
        prop_assert_eq!(sealed.len() as u64, attachment::sealed_size(data.len() as u64).unwrap());
        prop_assert_eq!(open(&key, index, data.len() as u64, &sealed).unwrap(), data);
    }

    #[test]
    fn any_corruption_is_refused(
        data in prop::collection::vec(any::<u8>(), 0..2 * CHUNK_LEN + 100),
        at in any::<prop::sample::Index>(),
        flip in 1u8..,
        cut in any::<prop::sample::Index>(),
    ) {
        let key = FileKey::from_bytes([9; 32]);
        let sealed = seal(&key, 0, &data);
        let size = data.len() as u64;
        let mut flipped = sealed.clone();
        flipped[at.index(sealed.len())] ^= flip;
        prop_assert!(matches!(open(&key, 0, size, &flipped), Err(Error::Crypto)));
        let cut = cut.index(sealed.len());
        prop_assert!(matches!(open(&key, 0, size, &sealed[..cut]), Err(Error::Crypto)));
    }

    #[test]
    fn any_bundle_round_trips(
        message in prop::collection::vec(any::<u8>(), 0..300),
        files in prop::collection::vec(("[a-zA-Z0-9 ._-]{1,40}", "[a-z/+.-]{0,30}", 0u64..1 << 40), 0..5),
    ) {
        let files: Vec<FileEntry> = files
            .iter()
            .filter(|(name, _, _)| name != "." && name != "..")
            .map(|(name, media_type, size)| FileEntry::new(name, media_type, *size).unwrap())
            .collect();
        let bundle = Bundle::new(&message, files.clone()).unwrap();
        let plaintext = bundle.to_plaintext();
        prop_assert!(Bundle::is_bundle(&plaintext));
        let opened = Bundle::from_plaintext(&plaintext).unwrap().unwrap();
        prop_assert_eq!(opened.message(), &message[..]);
        prop_assert_eq!(opened.files(), &files[..]);
        prop_assert_eq!(opened.key().as_bytes(), bundle.key().as_bytes());
    }

    #[test]
    fn any_bytes_after_the_magic_decode_or_fail_cleanly(
        tail in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut plaintext = Bundle::MAGIC.to_vec();
        plaintext.extend_from_slice(&tail);
        let decoded = Bundle::from_plaintext(&plaintext);
        prop_assert!(matches!(decoded, Ok(Some(_)) | Err(Error::Encoding(_))));
    }
}
