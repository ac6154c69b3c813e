//! Base64url fields of the JSON API: strict decoding (a 422 naming the field) and the
//! OpenAPI pattern of each length.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};

/// The regular expression of canonical unpadded base64url: of exactly `bytes` bytes, or of any
/// length with `None`. The last character of a partial group leaves its unused bits zero.
pub(crate) fn base64url_pattern(bytes: Option<usize>) -> String {
    const CHAR: &str = "[A-Za-z0-9_-]";
    const ONE: &str = "[AQgw]";
    const TWO: &str = "[AEIMQUYcgkosw048]";
    match bytes {
        None => format!("^({CHAR}{{4}})*({CHAR}{ONE}|{CHAR}{{2}}{TWO}){{0,1}}$"),
        Some(n) => {
            let full = n / 3 * 4;
            match n % 3 {
                0 => format!("^{CHAR}{{{full}}}$"),
                1 => format!("^{CHAR}{{{}}}{ONE}$", full + 1),
                _ => format!("^{CHAR}{{{}}}{TWO}$", full + 2),
            }
        }
    }
}

/// Strict unpadded base64url (canonical trailing bits), or a 422 naming the field.
pub(crate) fn decode(text: &str, field: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| Error::Unprocessable(format!("{field} must be unpadded base64url")))
}

/// [`decode`] of exactly `len` bytes.
pub(crate) fn decode_exact(text: &str, field: &str, len: usize) -> Result<Vec<u8>> {
    let bytes = decode(text, field)?;
    if bytes.len() == len {
        Ok(bytes)
    } else {
        Err(Error::Unprocessable(format!(
            "{field} must be {len} bytes of unpadded base64url"
        )))
    }
}

/// [`decode_exact`] into an array.
pub(crate) fn decode_array<const N: usize>(text: &str, field: &str) -> Result<[u8; N]> {
    let bytes = decode_exact(text, field, N)?;
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_fields_are_strict() {
        assert_eq!(decode_array::<2>("AAE", "x").unwrap(), [0, 1]);
        for bad in ["AAE=", "AAF", "AA+", "AA E", "AAEA", "AA"] {
            assert!(decode_array::<2>(bad, "x").is_err(), "{bad}");
        }
        let err = decode_exact("%%", "nonce", 12).unwrap_err();
        assert_eq!(err.to_string(), "nonce must be unpadded base64url");
        let err = decode_exact("AAAA", "nonce", 12).unwrap_err();
        assert_eq!(
            err.to_string(),
            "nonce must be 12 bytes of unpadded base64url"
        );
    }

    #[test]
    fn base64url_patterns() {
        assert_eq!(base64url_pattern(Some(3)), "^[A-Za-z0-9_-]{4}$");
        assert_eq!(base64url_pattern(Some(16)), "^[A-Za-z0-9_-]{21}[AQgw]$");
        assert_eq!(
            base64url_pattern(Some(32)),
            "^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$"
        );
    }
}
