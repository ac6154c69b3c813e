//! The byte layout of every serialised cloak object.
//!
//! ```text
//! offset  size  field
//! 0       6     magic "QCLOAK"
//! 6       1     format version (1)
//! 7       1     kind (1 client key, 2 server key, 3 query, 4 entry, 5 update, 6 answer,
//!               7 update answer, 8 index)
//! 8       16    key id: the client key pair the object belongs to
//! 24      …     parts, each a u32 little-endian length and that many bytes
//! ```
//!
//! The number of parts is fixed per kind; a frame with fewer or more parts, a length that runs
//! past the end or trailing bytes is refused. Parts holding TFHE-rs objects are written with
//! TFHE-rs's safe serialisation (its own header names the type and the versioned layout) and read
//! back with a size limit, and, where TFHE-rs offers it, a check that the object conforms to the
//! parameter set.

use std::io::Cursor;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tfhe::conformance::ParameterSetConformant;
use tfhe::named::Named;
use tfhe::safe_serialization::{DeserializationConfig, SerializationConfig};
use tfhe::{Unversionize, Versionize};

use crate::error::{Error, Result};
use crate::key_id::KeyId;

/// The format version this build writes and reads.
pub(crate) const VERSION: u8 = 1;

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    ClientKey = 1,
    ServerKey = 2,
    Query = 3,
    Entry = 4,
    Update = 5,
    Answer = 6,
    UpdateAnswer = 7,
    Index = 8,
}

impl Kind {
    /// The object's name in error messages.
    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::ClientKey => "client key",
            Self::ServerKey => "server key",
            Self::Query => "query",
            Self::Entry => "entry",
            Self::Update => "update",
            Self::Answer => "answer",
            Self::UpdateAnswer => "update answer",
            Self::Index => "index",
        }
    }
}

/// Writes a frame of `kind` for the key pair `id` holding `parts`.
pub(crate) fn encode(kind: Kind, id: &KeyId, parts: &[&[u8]]) -> Result<Vec<u8>> {
    let total = HEADER_LEN + parts.iter().map(|p| 4 + p.len()).sum::<usize>();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push(kind as u8);
    out.extend_from_slice(id.as_bytes());
    for part in parts {
        let len = u32::try_from(part.len()).map_err(|_| Error::Malformed {
            what: kind.name(),
            reason: "a part is larger than 4 GiB".into(),
        })?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(part);
    }
    Ok(out)
}

/// Reads a frame that must be of `kind` with exactly `N` parts.
pub(crate) fn decode<const N: usize>(kind: Kind, bytes: &[u8]) -> Result<(KeyId, [&[u8]; N])> {
    let what = kind.name();
    let malformed = |reason: &str| Error::Malformed {
        what,
        reason: reason.into(),
    };
    let (header, mut rest) = bytes
        .split_at_checked(HEADER_LEN)
        .ok_or_else(|| malformed("shorter than the header"))?;
    let (magic, header) = header.split_at(MAGIC.len());
    if magic != MAGIC {
        return Err(malformed("not a cloak object (bad magic)"));
    }
    let (version, header) = header.split_at(1);
    if version[0] != VERSION {
        return Err(Error::UnsupportedVersion {
            what,
            version: version[0],
        });
    }
    let (found_kind, id) = header.split_at(1);
    if found_kind[0] != kind as u8 {
        return Err(malformed("holds another kind of object"));
    }
    let id = KeyId::from_slice(id).ok_or_else(|| malformed("bad key id"))?;
    let mut parts = [&[][..]; N];
    for part in &mut parts {
        let (len, tail) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| malformed("cut short"))?;
        let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| malformed("too long"))?;
        let (body, tail) = tail
            .split_at_checked(len)
            .ok_or_else(|| malformed("cut short"))?;
        *part = body;
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(malformed("trailing bytes"));
    }
    Ok((id, parts))
}

/// Serialises a TFHE-rs object with its versioned safe serialisation.
pub(crate) fn to_tfhe_bytes<T>(what: &'static str, object: &T, limit: u64) -> Result<Vec<u8>>
where
    T: Serialize + Versionize + Named,
{
    let mut out = Vec::new();
    SerializationConfig::new(limit)
        .serialize_into(object, &mut out)
        .map_err(|e| Error::Malformed {
            what,
            reason: format!("cannot serialise: {e}"),
        })?;
    Ok(out)
}

/// Reads a TFHE-rs object of at most `limit` bytes that conforms to `params`, refusing trailing
/// bytes.
pub(crate) fn from_tfhe_bytes_conformant<T>(
    what: &'static str,
    bytes: &[u8],
    limit: u64,
    params: &T::ParameterSet,
) -> Result<T>
where
    T: DeserializeOwned + Unversionize + Named + ParameterSetConformant,
{
    let mut reader = Cursor::new(bytes);
    let object = DeserializationConfig::new(limit)
        .deserialize_from(&mut reader, params)
        .map_err(|reason| Error::Malformed { what, reason })?;
    finish(what, &reader)?;
    Ok(object)
}

/// Reads a TFHE-rs object of at most `limit` bytes for which TFHE-rs has no conformance check,
/// refusing trailing bytes.
pub(crate) fn from_tfhe_bytes<T>(what: &'static str, bytes: &[u8], limit: u64) -> Result<T>
where
    T: DeserializeOwned + Unversionize + Named,
{
    let mut reader = Cursor::new(bytes);
    let object = DeserializationConfig::new(limit)
        .disable_conformance()
        .deserialize_from(&mut reader)
        .map_err(|reason| Error::Malformed { what, reason })?;
    finish(what, &reader)?;
    Ok(object)
}

/// Refuses bytes after the object a reader decoded.
fn finish(what: &'static str, reader: &Cursor<&[u8]>) -> Result<()> {
    let used = usize::try_from(reader.position()).unwrap_or(usize::MAX);
    if used == reader.get_ref().len() {
        Ok(())
    } else {
        Err(Error::Malformed {
            what,
            reason: "trailing bytes".into(),
        })
    }
}

/// The magic that opens every frame.
const MAGIC: &[u8; 6] = b"QCLOAK";
/// Magic, version, kind and key id.
const HEADER_LEN: usize = 6 + 1 + 1 + KeyId::LEN;

#[cfg(test)]
mod tests {
    use super::*;

    const ID: KeyId = KeyId::from_array([7; 16]);

    #[test]
    fn frame_round_trip() {
        let bytes = encode(Kind::Entry, &ID, &[b"ab", b"", b"cde"]).unwrap();
        let (id, parts) = decode::<3>(Kind::Entry, &bytes).unwrap();
        assert_eq!(id, ID);
        assert_eq!(parts, [&b"ab"[..], b"", b"cde"]);
    }

    #[test]
    fn frame_refuses_junk() {
        let bytes = encode(Kind::Entry, &ID, &[b"ab", b"cde"]).unwrap();
        // Every truncation fails.
        for cut in 0..bytes.len() {
            assert!(
                decode::<2>(Kind::Entry, &bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        // Trailing bytes, another part count, another kind, bad magic, another version.
        let mut long = bytes.clone();
        long.push(0);
        assert!(matches!(
            decode::<2>(Kind::Entry, &long),
            Err(Error::Malformed { .. })
        ));
        assert!(decode::<1>(Kind::Entry, &bytes).is_err());
        assert!(decode::<3>(Kind::Entry, &bytes).is_err());
        assert!(decode::<2>(Kind::Query, &bytes).is_err());
        let mut magic = bytes.clone();
        magic[0] ^= 1;
        assert!(decode::<2>(Kind::Entry, &magic).is_err());
        let mut version = bytes.clone();
        version[6] = 2;
        assert!(matches!(
            decode::<2>(Kind::Entry, &version),
            Err(Error::UnsupportedVersion { version: 2, .. })
        ));
        // A length field pointing past the end.
        let mut len = bytes;
        len[HEADER_LEN] = 0xff;
        assert!(decode::<2>(Kind::Entry, &len).is_err());
    }
}
