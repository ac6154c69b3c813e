//! Sealing and opening: every way a block can fail to be ours gives `Ok(None)`, wrong sizes give
//! errors, and sealing is randomised.
#![allow(clippy::unwrap_used, reason = "test helpers panic on failure")]

use qsmm_types::{BlockId, SecretKey};
use qsmm_void::SEAL_OVERHEAD;
use qsmm_void::{BlockSealer, BlockSize, Error, Namespace};

const HW: &[u8] = b"test medium";

fn namespace(byte: u8) -> Namespace {
    Namespace::new(SecretKey::from_bytes([byte; 32]), HW).unwrap()
}

#[test]
fn constants_are_consistent() {
    assert_eq!(BlockSize::DEFAULT.get(), 4096);
    assert_eq!(SEAL_OVERHEAD, 24 + 4 + 16);
    const { assert!(BlockSize::MIN.get() > SEAL_OVERHEAD) };
    let ns = namespace(1);
    assert_eq!(ns.block_size(), BlockSize::DEFAULT);
    assert_eq!(ns.capacity(), 4096 - SEAL_OVERHEAD);
}

#[test]
fn every_single_bit_flip_is_rejected() {
    let ns = namespace(2);
    let id = BlockId(1234);
    let data: Vec<u8> = (0..1000u32)
        .map(|i| u8::try_from(i % 256).unwrap())
        .collect();
    let sealed = ns.seal_block(&data, id).unwrap();
    assert_eq!(ns.open_block(&sealed, id).unwrap(), Some(data));
    let mut block = sealed.clone();
    for bit in 0..block.len() * 8 {
        block[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(ns.open_block(&block, id).unwrap(), None, "bit {bit}");
        block[bit / 8] ^= 1 << (bit % 8);
    }
    assert_eq!(block, sealed);
}

#[test]
fn wrong_key_wrong_medium_wrong_id_and_noise_are_not_ours() {
    let ns = namespace(3);
    let sealed = ns.seal_block(b"data", BlockId(5)).unwrap();
    assert_eq!(
        ns.open_block(&sealed, BlockId(5)).unwrap(),
        Some(b"data".to_vec())
    );

    assert_eq!(namespace(4).open_block(&sealed, BlockId(5)).unwrap(), None);
    let other_medium = Namespace::new(SecretKey::from_bytes([3; 32]), b"other medium").unwrap();
    assert_eq!(other_medium.open_block(&sealed, BlockId(5)).unwrap(), None);
    for id in [0, 4, 6, 5 | 1 << 32, u64::MAX] {
        assert_eq!(ns.open_block(&sealed, BlockId(id)).unwrap(), None, "{id}");
    }
    let mut noise = vec![0u8; 4096];
    for _ in 0..100 {
        getrandom::fill(&mut noise).unwrap();
        assert_eq!(ns.open_block(&noise, BlockId(5)).unwrap(), None);
    }
    assert_eq!(ns.open_block(&[0u8; 4096], BlockId(5)).unwrap(), None);
    assert_eq!(ns.open_block(&[0xffu8; 4096], BlockId(5)).unwrap(), None);
}

#[test]
fn swapped_parts_are_not_ours() {
    // Two valid blocks of the same namespace and position: mixing their nonces, bodies and tags
    // gives nothing that opens.
    let ns = namespace(5);
    let a = ns.seal_block(b"aaaa", BlockId(1)).unwrap();
    let b = ns.seal_block(b"bbbb", BlockId(1)).unwrap();
    for cut in [24, 28, 4096 - 16] {
        let mut mixed = a[..cut].to_vec();
        mixed.extend_from_slice(&b[cut..]);
        assert_eq!(ns.open_block(&mixed, BlockId(1)).unwrap(), None, "{cut}");
    }
}

#[test]
fn wrong_sizes_are_errors() {
    let ns = namespace(6);
    let sealed = ns.seal_block(b"x", BlockId(0)).unwrap();
    for len in [0, 1, SEAL_OVERHEAD, 4095] {
        let err = ns.open_block(&sealed[..len], BlockId(0)).unwrap_err();
        assert!(
            matches!(err, Error::InvalidLength { expected: 4096, got, .. } if got == len),
            "{err:?}"
        );
    }
    let mut longer = sealed;
    longer.push(0);
    assert!(matches!(
        ns.open_block(&longer, BlockId(0)),
        Err(Error::InvalidLength { got: 4097, .. })
    ));
    let mut out = vec![0u8; 4095];
    assert!(matches!(
        ns.seal_block_into(b"x", BlockId(0), &mut out),
        Err(Error::InvalidLength { got: 4095, .. })
    ));
    let err = ns
        .seal_block(&vec![1; ns.capacity() + 1], BlockId(0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::DataTooLarge {
                max: 4052,
                got: 4053
            }
        ),
        "{err:?}"
    );
}

#[test]
fn resealing_gives_unrelated_bytes() {
    let ns = namespace(7);
    let data = vec![0x42u8; 3000];
    let a = ns.seal_block(&data, BlockId(9)).unwrap();
    let b = ns.seal_block(&data, BlockId(9)).unwrap();
    // Same plaintext: if the keystream repeated, a XOR b would be all zero. About half of the
    // 32768 bits differ; 15 standard deviations (90.5 bits each) either side.
    let differing: u32 = a.iter().zip(&b).map(|(x, y)| (x ^ y).count_ones()).sum();
    assert!((15_000..17_800).contains(&differing), "{differing}");
    assert_ne!(a[..24], b[..24], "nonces must differ");
    assert_eq!(ns.open_block(&a, BlockId(9)).unwrap(), Some(data.clone()));
    assert_eq!(ns.open_block(&b, BlockId(9)).unwrap(), Some(data));
}

#[test]
fn lengths_do_not_show() {
    let ns = namespace(8);
    for len in [0, 1, 100, ns.capacity()] {
        let sealed = ns.seal_block(&vec![0; len], BlockId(0)).unwrap();
        assert_eq!(sealed.len(), 4096);
        // Zero padding and zero data are encrypted: no long zero runs in the output.
        assert!(
            sealed.windows(16).all(|w| w.iter().any(|&b| b != 0)),
            "{len}"
        );
    }
}

#[test]
fn every_block_size_round_trips() {
    for size in [512, 1024, 1536, 8192, 1 << 20] {
        let block_size = BlockSize::new(size).unwrap();
        let ns =
            Namespace::with_block_size(SecretKey::from_bytes([9; 32]), HW, block_size).unwrap();
        let data = vec![0xa5; ns.capacity()];
        let mut out = vec![0u8; size];
        ns.seal_block_into(&data, BlockId(3), &mut out).unwrap();
        assert_eq!(
            ns.open_block(&out, BlockId(3)).unwrap(),
            Some(data),
            "{size}"
        );
        // A namespace of another block size rejects the length.
        assert!(namespace(9).open_block(&out, BlockId(3)).is_err() || size == 4096);
    }
    for size in [0, 256, 511, 4000, (1 << 20) + 512, usize::MAX] {
        assert!(matches!(
            BlockSize::new(size),
            Err(Error::InvalidParameter(_))
        ));
    }
}

#[test]
fn a_block_sealer_and_a_namespace_of_one_key_open_each_other() {
    let key = SecretKey::from_bytes([0x21; 32]);
    for size in [512, 4096] {
        let block_size = BlockSize::new(size).unwrap();
        let sealer = BlockSealer::new(&key, HW, block_size);
        let ns = Namespace::with_block_size(key.clone_key(), HW, block_size).unwrap();
        let by_sealer = sealer.seal_block(b"share", BlockId(8)).unwrap();
        let by_namespace = ns.seal_block(b"root", BlockId(9)).unwrap();
        assert_eq!(
            ns.open_block(&by_sealer, BlockId(8)).unwrap(),
            Some(b"share".to_vec())
        );
        assert_eq!(
            sealer.open_block(&by_namespace, BlockId(9)).unwrap(),
            Some(b"root".to_vec())
        );
        // Another medium or key: a different sealer.
        let elsewhere = BlockSealer::new(&key, b"another medium", block_size);
        assert_eq!(elsewhere.open_block(&by_sealer, BlockId(8)).unwrap(), None);
        let stranger = BlockSealer::new(&SecretKey::from_bytes([0x22; 32]), HW, block_size);
        assert_eq!(stranger.open_block(&by_sealer, BlockId(8)).unwrap(), None);
    }
    assert_eq!(
        format!("{:?}", BlockSealer::new(&key, HW, BlockSize::DEFAULT)),
        "BlockSealer { block_size: 4096, .. }"
    );
}

#[test]
fn debug_prints_no_secrets() {
    let ns = namespace(0x5a);
    let printed = format!("{ns:?} {ns:#?}");
    assert!(printed.contains("4096"));
    assert!(!printed.contains("90"), "{printed}");
    assert!(!printed.to_lowercase().contains("5a"), "{printed}");
}
