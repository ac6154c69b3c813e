//! The attachment format of paravoid notes with files (`qsmm_shield::attachment`): the bundle
//! and manifest decoder, and the chunked file stream.

use qsmm_shield::attachment::{self, Bundle, FileKey, MAX_FILES};

/// The file key every sealed stream of this target is sealed under.
pub const ATTACHMENT_FILE_KEY: [u8; 32] = [0x5a; 32];

/// Declared sizes of sealed streams are taken modulo this (1 MiB, sixteen chunks).
const MAX_STREAM_SIZE: u64 = 1 << 20;

/// A note plaintext (selector byte even) or a sealed file stream (odd: `u8` file index,
/// `u32le` declared size modulo 1 MiB, sealed bytes), under [`ATTACHMENT_FILE_KEY`].
///
/// - a plaintext decodes as a bundle exactly when it starts with the magic; a bundle
///   re-encodes to exactly its input, has at most 32 files, and every name is one safe path
///   component (no `/`, `\`, control character, not `.` or `..`), accepted again by
///   `FileEntry::new`;
/// - a sealed stream opens (never a panic or a huge allocation) only if sealing what it gave
///   under the same key, index and size yields exactly the input: nothing but a genuine stream
///   opens, and it opens whole (no truncation, extension or reordering goes through).
///
/// # Panics
///
/// When a property fails.
pub fn attachment_bundle(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        decode_bundle(rest);
    } else {
        open_stream(rest);
    }
}

fn decode_bundle(plaintext: &[u8]) {
    let decoded = Bundle::from_plaintext(plaintext);
    let starts = plaintext.starts_with(&Bundle::MAGIC);
    match decoded {
        Ok(None) => assert!(!starts, "a plaintext with the magic read as a bare message"),
        Ok(Some(bundle)) => {
            assert!(starts, "a bundle without the magic");
            assert_eq!(
                bundle.to_plaintext().as_slice(),
                plaintext,
                "decode then encode must be the identity"
            );
            assert!(bundle.files().len() <= MAX_FILES, "too many files");
            for file in bundle.files() {
                let name = file.name();
                assert!(
                    !name.is_empty()
                        && name != "."
                        && name != ".."
                        && !name.chars().any(|c| c.is_control() || c == '/' || c == '\\'),
                    "an unsafe file name was accepted"
                );
                assert!(
                    attachment::FileEntry::new(name, file.media_type(), file.size()).is_ok(),
                    "a decoded entry is not one FileEntry::new accepts"
                );
            }
        }
        Err(_) => assert!(starts, "a bare message refused"),
    }
}

fn open_stream(data: &[u8]) {
    let Some((header, sealed)) = data.split_at_checked(5) else {
        return;
    };
    let index = u32::from(header[0]);
    let size = u64::from(u32::from_le_bytes([header[1], header[2], header[3], header[4]]))
        % MAX_STREAM_SIZE;
    let key = FileKey::from_bytes(ATTACHMENT_FILE_KEY);
    let mut plain = Vec::new();
    if attachment::open_file(&key, index, size, sealed, &mut plain).is_ok() {
        assert_eq!(plain.len() as u64, size, "opened to another size");
        let mut again = Vec::new();
        let resealed = attachment::seal_file(&key, index, size, &plain[..], &mut again);
        assert!(resealed.is_ok(), "sealing what opened failed");
        assert_eq!(again, sealed, "a stream opened that is not the genuine one");
    }
}
