//! The volume format as an adversary reads it from public knowledge: a root's fields, its
//! block pointers and the associated data of map blocks and sectors. Shared by the coercion
//! tests of both snapshot modes.

/// A parsed root record.
pub(crate) struct RootView {
    pub(crate) generation: u64,
    pub(crate) volume_key: [u8; 32],
    pub(crate) volume_id: [u8; 16],
    pub(crate) logical_size: u64,
    /// `(block, generation)` of each index block (generation 0 in format 1, which binds none).
    pub(crate) index: Vec<(u64, u32)>,
    pub(crate) version: u8,
}

/// Reads a root record of the given generation.
pub(crate) fn parse_root(generation: u64, bytes: &[u8]) -> RootView {
    let version = bytes[0];
    let lower = usize::from(bytes[1]);
    let volume_key: [u8; 32] = bytes[2..34].try_into().unwrap();
    let volume_id: [u8; 16] = bytes[34..50].try_into().unwrap();
    let logical_size = u64::from_le_bytes(bytes[50..58].try_into().unwrap());
    let count = u32::from_le_bytes(bytes[58..62].try_into().unwrap()) as usize;
    let pointers = &bytes[62 + 32 * lower..];
    let index = parse_pointers(version, pointers).take(count).collect();
    RootView {
        generation,
        volume_key,
        volume_id,
        logical_size,
        index,
        version,
    }
}

/// Block pointers: 8 bytes each in format 1; block and low 32 bits of the generation that
/// wrote it (12 bytes) in format 2.
pub(crate) fn parse_pointers(version: u8, bytes: &[u8]) -> impl Iterator<Item = (u64, u32)> + '_ {
    let width = if version == 1 { 8 } else { 12 };
    bytes.chunks_exact(width).map(move |c| {
        let block = u64::from_le_bytes(c[..8].try_into().unwrap());
        let generation = if width == 12 {
            u32::from_le_bytes(c[8..12].try_into().unwrap())
        } else {
            0
        };
        (block, generation)
    })
}

/// The associated data a map block is sealed with.
pub(crate) fn map_aad(
    volume_id: &[u8; 16],
    kind: u8,
    number: u64,
    generation: u32,
    block: u64,
) -> Vec<u8> {
    let mut aad = b"qsmm/v2/vol/map_".to_vec();
    aad.extend_from_slice(volume_id);
    aad.push(kind);
    aad.extend_from_slice(&number.to_le_bytes());
    aad.extend_from_slice(&generation.to_le_bytes());
    aad.extend_from_slice(&block.to_le_bytes());
    aad
}

/// The associated data a data sector is sealed with.
pub(crate) fn sector_aad(volume_id: &[u8; 16], lba: u64, block: u64) -> Vec<u8> {
    let mut aad = b"qsmm/v1/vol/sect".to_vec();
    aad.extend_from_slice(volume_id);
    aad.extend_from_slice(&lba.to_le_bytes());
    aad.extend_from_slice(&block.to_le_bytes());
    aad
}
