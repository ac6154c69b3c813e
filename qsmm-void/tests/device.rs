//! Block devices and formatting: geometry checks, durability across reopen, noise fill.
#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

use qsmm_types::{BlockId, SecretKey};
use qsmm_void::{
    BlockDevice, Error, FileDevice, MemoryDevice, Namespace, format, format_with_progress,
};

fn check_geometry_errors(device: &dyn BlockDevice) {
    let size = device.block_size();
    let count = device.block_count();
    let mut buf = vec![0u8; size];
    for id in [count, count + 1, u64::MAX] {
        assert!(matches!(
            device.read_block(BlockId(id), &mut buf),
            Err(Error::BlockOutOfRange { block, count: c }) if block == id && c == count
        ));
        assert!(matches!(
            device.write_block(BlockId(id), &buf),
            Err(Error::BlockOutOfRange { .. })
        ));
    }
    for len in [0, size - 1, size + 1] {
        let mut wrong = vec![0u8; len];
        assert!(matches!(
            device.read_block(BlockId(0), &mut wrong),
            Err(Error::InvalidLength { expected, got, .. }) if expected == size && got == len
        ));
        assert!(matches!(
            device.write_block(BlockId(0), &wrong),
            Err(Error::InvalidLength { .. })
        ));
    }
    // Runs: not a whole number of blocks, or past the end.
    assert!(matches!(
        device.write_blocks(BlockId(0), &vec![0; size + 1]),
        Err(Error::InvalidLength { .. })
    ));
    assert!(matches!(
        device.write_blocks(BlockId(count - 1), &vec![0; 2 * size]),
        Err(Error::BlockOutOfRange { .. })
    ));
    assert!(matches!(
        device.write_blocks(BlockId(u64::MAX), &vec![0; size]),
        Err(Error::BlockOutOfRange { .. })
    ));
}

fn check_read_write(device: &dyn BlockDevice) {
    let size = device.block_size();
    let count = device.block_count();
    for id in [0, 1, count - 1] {
        let data = vec![u8::try_from(id % 200).unwrap() + 1; size];
        device.write_block(BlockId(id), &data).unwrap();
        let mut buf = vec![0u8; size];
        device.read_block(BlockId(id), &mut buf).unwrap();
        assert_eq!(buf, data);
    }
    let run: Vec<u8> = (0..3 * size)
        .map(|i| u8::try_from(i / size).unwrap() + 100)
        .collect();
    device.write_blocks(BlockId(2), &run).unwrap();
    for (i, expected) in run.chunks(size).enumerate() {
        let mut buf = vec![0u8; size];
        device
            .read_block(BlockId(2 + u64::try_from(i).unwrap()), &mut buf)
            .unwrap();
        assert_eq!(buf, expected);
    }
    device.flush().unwrap();
}

#[test]
fn memory_device() {
    let device = MemoryDevice::new(512, 8).unwrap();
    assert_eq!((device.block_size(), device.block_count()), (512, 8));
    check_geometry_errors(&device);
    check_read_write(&device);
    let bytes = device.into_bytes();
    assert_eq!(bytes.len(), 4096);
    assert_eq!(bytes[512], 2);

    assert!(MemoryDevice::from_bytes(512, vec![0; 1000]).is_err());
    assert!(MemoryDevice::from_bytes(0, vec![]).is_err());
    assert!(MemoryDevice::new(0, 1).is_err());
    for size in [100, 513, 4000, (1 << 20) + 512] {
        assert!(matches!(
            MemoryDevice::new(size, 1),
            Err(Error::InvalidParameter(_))
        ));
    }
    assert!(MemoryDevice::new(4096, u64::MAX).is_err());
}

#[test]
fn file_device_round_trip_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("medium.img");
    let device = FileDevice::create(&path, 4096, 32).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 32 * 4096);
    check_geometry_errors(&device);
    check_read_write(&device);

    let ns = Namespace::new(SecretKey::from_bytes([1; 32]), b"hw").unwrap();
    ns.write_block(&device, BlockId(20), b"durable").unwrap();
    device.flush().unwrap();
    drop(device);

    let device = FileDevice::open(&path, 4096).unwrap();
    assert_eq!(device.block_count(), 32);
    assert_eq!(
        ns.read_block(&device, BlockId(20)).unwrap(),
        Some(b"durable".to_vec())
    );
    let mut buf = vec![0u8; 4096];
    device.read_block(BlockId(1), &mut buf).unwrap();
    assert_eq!(buf, vec![2; 4096]);

    // The same file seen with another block size: a whole number of blocks, or an error.
    assert_eq!(FileDevice::open(&path, 512).unwrap().block_count(), 256);
    assert!(matches!(
        FileDevice::open(&path, 1536),
        Err(Error::InvalidLength { .. })
    ));
    // Not a block size at all (see `BlockSize::new`).
    assert!(matches!(
        FileDevice::open(&path, 3000),
        Err(Error::InvalidParameter(_))
    ));
    assert!(FileDevice::open(&path, 0).is_err());
    assert!(matches!(
        FileDevice::open(dir.path().join("missing.img"), 4096),
        Err(Error::Io(_))
    ));
}

#[test]
fn namespace_checks_the_device_block_size() {
    let device = MemoryDevice::new(512, 4).unwrap();
    let ns = Namespace::new(SecretKey::from_bytes([1; 32]), b"hw").unwrap();
    assert!(matches!(
        ns.write_block(&device, BlockId(0), b"x"),
        Err(Error::InvalidParameter(_))
    ));
    assert!(matches!(
        ns.read_block(&device, BlockId(0)),
        Err(Error::InvalidParameter(_))
    ));
    assert_eq!(device.to_bytes(), vec![0; 2048]);
}

#[test]
fn format_fills_with_noise_and_reports_progress() {
    // 300 blocks of 4 KiB: the chunk size is 256 blocks, so two chunks.
    let device = MemoryDevice::new(4096, 300).unwrap();
    let mut calls = Vec::new();
    format_with_progress(&device, |done, total| calls.push((done, total))).unwrap();
    assert_eq!(calls, vec![(0, 300), (256, 300), (300, 300)]);
    let image = device.into_bytes();
    // No block left zero, and no two blocks equal.
    let mut blocks: Vec<&[u8]> = image.chunks(4096).collect();
    assert!(
        blocks
            .iter()
            .all(|b| b.iter().filter(|&&x| x == 0).count() < 64)
    );
    blocks.sort_unstable();
    blocks.dedup();
    assert_eq!(blocks.len(), 300);

    // Two formats of the same medium differ (fresh seed each time).
    let a = MemoryDevice::new(512, 4).unwrap();
    let b = MemoryDevice::new(512, 4).unwrap();
    format(&a).unwrap();
    format(&b).unwrap();
    assert_ne!(a.to_bytes(), b.to_bytes());
}

#[test]
fn format_a_file_and_nothing_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.img");
    let device = FileDevice::create(&path, 4096, 64).unwrap();
    format(&device).unwrap();
    drop(device);
    let device = FileDevice::open(&path, 4096).unwrap();
    let ns = Namespace::new(SecretKey::from_bytes([2; 32]), b"hw").unwrap();
    for id in 0..64 {
        assert_eq!(ns.read_block(&device, BlockId(id)).unwrap(), None);
    }
    let mut buf = vec![0u8; 4096];
    device.read_block(BlockId(63), &mut buf).unwrap();
    assert!(buf.iter().filter(|&&x| x == 0).count() < 64);
}
