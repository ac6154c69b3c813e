//! age v1 file header (age-encryption.org/v1, "Header"): the version line, the recipient
//! stanzas and the HMAC-SHA-256 that binds them to the file key.
//!
//! ```text
//! header    = "age-encryption.org/v1" LF 1*stanza "--- " 43base64char LF
//! stanza    = "-> " argument *(SP argument) LF *(64base64char LF) *63base64char LF
//! argument  = 1*VCHAR
//! MAC       = HMAC-SHA-256(HKDF-SHA-256(ikm = file key, salt = "", info = "header"),
//!                          header bytes up to and including "---")
//! ```
//!
//! Base64 is the standard alphabet without padding and must be canonical. Parsing is strict:
//! anything the grammar does not allow is a [`AgeError::Header`].

use std::io::{BufRead, Read};

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{AgeError, FileKey};

/// The only version line this module reads and writes.
pub(crate) const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";
/// What every version line starts with.
pub(crate) const VERSION_LINE_PREFIX: &[u8] = b"age-encryption.org/";
/// Width of a full stanza body line, in base64 characters.
const BODY_LINE_LEN: usize = 64;
/// Longest header line accepted (a hybrid stanza's argument line is 1512 bytes).
pub(crate) const MAX_LINE_LEN: usize = 16 * 1024;
/// Largest header accepted, so that a hostile header cannot exhaust memory.
pub(crate) const MAX_HEADER_LEN: usize = 1024 * 1024;
/// Length of the header MAC.
const MAC_LEN: usize = 32;

/// One recipient stanza of an age header: its arguments and its (decoded) body.
///
/// Identities recognise the stanzas addressed to them by the first argument (`X25519`,
/// `mlkem768x25519`); stanzas of other types are kept so that the header MAC covers them.
///
/// ```
/// use qsmm_shield::age::Stanza;
///
/// let stanza = Stanza::new(vec!["example.com/grease".into(), "x".into()], vec![7; 70])?;
/// assert_eq!(stanza.args()[0], "example.com/grease");
/// assert_eq!(stanza.body().len(), 70);
/// # Ok::<(), qsmm_shield::age::AgeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stanza {
    args: Vec<String>,
    body: Vec<u8>,
}

impl Stanza {
    /// Builds a stanza from its arguments and body.
    ///
    /// # Errors
    ///
    /// [`AgeError::Header`] if there is no argument or an argument is empty or holds a byte
    /// outside the visible ASCII range `0x21..=0x7e`.
    pub fn new(args: Vec<String>, body: Vec<u8>) -> Result<Self, AgeError> {
        if args.is_empty() || !args.iter().all(|arg| is_argument(arg.as_bytes())) {
            return Err(AgeError::Header);
        }
        Ok(Self { args, body })
    }

    /// The arguments; the first names the stanza type.
    #[must_use]
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The decoded body.
    #[must_use]
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Appends the stanza's encoding (argument line and body lines wrapped at 64 columns).
    fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"->");
        for arg in &self.args {
            out.push(b' ');
            out.extend_from_slice(arg.as_bytes());
        }
        out.push(b'\n');
        let body = STANDARD_NO_PAD.encode(&self.body);
        let mut lines = body.as_bytes().chunks(BODY_LINE_LEN);
        // The body always ends with a line shorter than 64 columns, possibly empty.
        loop {
            match lines.next() {
                Some(line) => {
                    out.extend_from_slice(line);
                    out.push(b'\n');
                    if line.len() < BODY_LINE_LEN {
                        break;
                    }
                }
                None => {
                    out.push(b'\n');
                    break;
                }
            }
        }
    }
}

/// A parsed age v1 header: the stanzas, the MAC and the exact bytes the MAC covers.
///
/// [`Header::parse`] is the strict parser behind decryption, exposed for fuzzing and for
/// tools that inspect files without decrypting them.
///
/// ```
/// use qsmm_shield::age::{self, Header, Identity};
///
/// let identity = Identity::generate_hybrid()?;
/// let file = age::encrypt(&[identity.to_recipient()], b"hello", false)?;
/// let (header, header_len) = Header::parse(&file)?;
/// assert_eq!(header.stanzas()[0].args()[0], "mlkem768x25519");
/// assert_eq!(file.len(), header_len + 16 + 5 + 16); // nonce, one chunk and its tag
/// # Ok::<(), qsmm_shield::age::AgeError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Header {
    stanzas: Vec<Stanza>,
    mac: [u8; MAC_LEN],
    /// The header bytes up to and including `---`, which the MAC covers.
    mac_input: Vec<u8>,
}

impl Header {
    /// Parses a header at the start of `bytes`, returning it and its length in bytes.
    ///
    /// # Errors
    ///
    /// [`AgeError::Header`] if `bytes` does not start with a well-formed v1 header.
    pub fn parse(bytes: &[u8]) -> Result<(Self, usize), AgeError> {
        let mut reader = bytes;
        let header = Self::read(&mut reader)?;
        Ok((header, bytes.len() - reader.len()))
    }

    /// The stanzas, in file order.
    #[must_use]
    pub fn stanzas(&self) -> &[Stanza] {
        &self.stanzas
    }

    /// Reads a header from `reader`, leaving it positioned at the payload.
    pub(crate) fn read<R: BufRead>(reader: &mut R) -> Result<Self, AgeError> {
        let mut mac_input = Vec::new();
        let mut line = Vec::new();

        read_line(reader, &mut line, &mac_input)?;
        if line != VERSION_LINE {
            return Err(AgeError::Header);
        }
        mac_input.extend_from_slice(&line);

        let mut stanzas = Vec::new();
        read_line(reader, &mut line, &mac_input)?;
        loop {
            if let Some(rest) = line.strip_prefix(b"--- ") {
                if stanzas.is_empty() {
                    return Err(AgeError::Header);
                }
                mac_input.extend_from_slice(b"---");
                let encoded = rest.strip_suffix(b"\n").ok_or(AgeError::Header)?;
                let mac = decode_base64(encoded)?;
                let mac: [u8; MAC_LEN] = mac.try_into().map_err(|_| AgeError::Header)?;
                return Ok(Self {
                    stanzas,
                    mac,
                    mac_input,
                });
            }
            let args_line = line.strip_prefix(b"-> ").ok_or(AgeError::Header)?;
            let args_line = args_line.strip_suffix(b"\n").ok_or(AgeError::Header)?;
            let args = args_line
                .split(|&b| b == b' ')
                .map(|arg| {
                    if is_argument(arg) {
                        String::from_utf8(arg.to_vec()).map_err(|_| AgeError::Header)
                    } else {
                        Err(AgeError::Header)
                    }
                })
                .collect::<Result<Vec<_>, _>>()?;
            mac_input.extend_from_slice(&line);

            let mut body = Vec::new();
            loop {
                read_line(reader, &mut line, &mac_input)?;
                let text = line.strip_suffix(b"\n").ok_or(AgeError::Header)?;
                if text.len() > BODY_LINE_LEN || !text.iter().all(|&b| is_base64_char(b)) {
                    return Err(AgeError::Header);
                }
                body.extend_from_slice(text);
                mac_input.extend_from_slice(&line);
                if text.len() < BODY_LINE_LEN {
                    break;
                }
            }
            stanzas.push(Stanza {
                args,
                body: decode_base64(&body)?,
            });
            read_line(reader, &mut line, &mac_input)?;
        }
    }

    /// Checks the header MAC under `file_key`.
    pub(crate) fn verify_mac(&self, file_key: &FileKey) -> Result<(), AgeError> {
        let mut mac = header_mac(file_key)?;
        mac.update(&self.mac_input);
        mac.verify_slice(&self.mac).map_err(|_| AgeError::HeaderMac)
    }
}

/// Encodes a header with the given stanzas, authenticated under `file_key`.
pub(crate) fn encode(stanzas: &[Stanza], file_key: &FileKey) -> Result<Vec<u8>, AgeError> {
    let mut out = VERSION_LINE.to_vec();
    for stanza in stanzas {
        stanza.encode_into(&mut out);
    }
    out.extend_from_slice(b"---");
    let mut mac = header_mac(file_key)?;
    mac.update(&out);
    let tag = mac.finalize().into_bytes();
    out.push(b' ');
    out.extend_from_slice(STANDARD_NO_PAD.encode(tag).as_bytes());
    out.push(b'\n');
    Ok(out)
}

/// Decodes canonical unpadded standard base64, as every base64 string in a header must be.
pub(crate) fn decode_base64(encoded: &[u8]) -> Result<Vec<u8>, AgeError> {
    // The engine rejects padding and non-zero trailing bits, i.e. non-canonical encodings.
    STANDARD_NO_PAD
        .decode(encoded)
        .map_err(|_| AgeError::Header)
}

/// The HMAC-SHA-256 instance keyed with `HKDF-SHA-256(file key, "", "header")`.
fn header_mac(file_key: &FileKey) -> Result<Hmac<Sha256>, AgeError> {
    let mut key = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(None, file_key.as_ref())
        .expand(b"header", key.as_mut())
        .map_err(|_| AgeError::Crypto)?;
    Hmac::<Sha256>::new_from_slice(key.as_ref()).map_err(|_| AgeError::Crypto)
}

/// Reads one LF-terminated line (keeping the LF) of at most [`MAX_LINE_LEN`] bytes, within
/// the overall [`MAX_HEADER_LEN`].
fn read_line<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    so_far: &[u8],
) -> Result<(), AgeError> {
    line.clear();
    let limit = MAX_LINE_LEN.min(MAX_HEADER_LEN.saturating_sub(so_far.len()));
    let limit = u64::try_from(limit).map_err(|_| AgeError::Header)?;
    reader
        .take(limit)
        .read_until(b'\n', line)
        .map_err(AgeError::from_io)?;
    if line.last() != Some(&b'\n') {
        return Err(AgeError::Header);
    }
    Ok(())
}

/// An argument: one or more visible ASCII characters.
fn is_argument(arg: &[u8]) -> bool {
    !arg.is_empty() && arg.iter().all(|&b| (0x21..=0x7e).contains(&b))
}

/// A character of the standard base64 alphabet (no padding).
fn is_base64_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> FileKey {
        FileKey::from([7u8; 16])
    }

    #[test]
    fn encode_then_parse_round_trips_bodies_of_every_shape() {
        for len in [0usize, 1, 47, 48, 49, 96, 200] {
            let stanza = Stanza::new(vec!["t".into(), "a".into()], vec![0xa5; len]).unwrap();
            let bytes = encode(core::slice::from_ref(&stanza), &key()).unwrap();
            let (header, used) = Header::parse(&bytes).unwrap();
            assert_eq!(used, bytes.len());
            assert_eq!(header.stanzas(), &[stanza]);
            header.verify_mac(&key()).unwrap();
            assert!(matches!(
                header.verify_mac(&FileKey::from([8u8; 16])),
                Err(AgeError::HeaderMac)
            ));
        }
    }

    #[test]
    fn a_header_without_stanzas_is_rejected() {
        let bytes = encode(&[], &key()).unwrap();
        assert!(matches!(Header::parse(&bytes), Err(AgeError::Header)));
    }

    #[test]
    fn stanza_arguments_are_checked() {
        assert!(Stanza::new(vec![], vec![]).is_err());
        assert!(Stanza::new(vec![String::new()], vec![]).is_err());
        assert!(Stanza::new(vec!["a b".into()], vec![]).is_err());
    }

    #[test]
    fn overlong_lines_are_rejected_without_reading_them_whole() {
        let mut bytes = VERSION_LINE.to_vec();
        bytes.extend_from_slice(b"-> ");
        bytes.extend(core::iter::repeat_n(b'a', MAX_LINE_LEN + 10));
        bytes.push(b'\n');
        assert!(matches!(Header::parse(&bytes), Err(AgeError::Header)));
    }
}
