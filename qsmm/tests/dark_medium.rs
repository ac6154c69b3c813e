//! Dark media end to end: deniable volumes on a noise-filled image file, each passphrase finding
//! only its own data, a closed volume being fair game for the others, and the image passing
//! (and, when biased on purpose, failing) the statistical tests of uniform noise.
#![allow(
    clippy::unwrap_used,
    clippy::cast_possible_truncation,
    clippy::cast_lossless,
    clippy::cast_sign_loss,
    reason = "test helpers panic on failure; test patterns truncate on purpose"
)]

use qsmm::volume::{Error, KdfCost, Medium, Volume, format};
use qsmm_void::stats::ImageReport;

const COST: KdfCost = KdfCost::DANGER_INSECURE_FOR_TESTS;

fn sector(name: &str, lba: u64) -> Vec<u8> {
    format!("{name} {lba} ")
        .into_bytes()
        .into_iter()
        .cycle()
        .take(4096)
        .collect()
}

fn create(medium: &Medium, name: &str, size: u64, protect: &[&Volume]) -> (Volume, String) {
    for attempt in 0..20 {
        let p = format!("{name} passphrase {attempt}");
        match Volume::create(medium, p.as_bytes(), size, protect) {
            Ok(v) => return (v, p),
            Err(Error::PassphraseCollision | Error::RootBlocksHeld) => {}
            Err(e) => panic!("{e}"),
        }
    }
    panic!("20 collisions");
}

#[test]
fn two_volumes_on_an_image_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dark.img");
    format(&path, 16 << 20, |_, _| {}).unwrap();
    let medium = Medium::open_with_kdf_cost(&path, COST).unwrap();
    let (alice, pa) = create(&medium, "alice", 4 << 20, &[]);
    let (bob, pb) = create(&medium, "bob", 4 << 20, &[&alice]);
    for lba in 0..600 {
        alice.write(lba, &sector("alice", lba)).unwrap();
        bob.write(lba, &sector("bob", lba)).unwrap();
    }
    alice.close().unwrap();
    bob.close().unwrap();
    drop(medium);

    let medium = Medium::open_with_kdf_cost(&path, COST).unwrap();
    let mut buf = vec![0u8; 4096];
    for (name, p) in [("alice", &pa), ("bob", &pb)] {
        let v = Volume::open(&medium, p.as_bytes()).unwrap();
        for lba in 0..600 {
            v.read(lba, &mut buf).unwrap();
            assert_eq!(buf, sector(name, lba));
        }
    }
    assert!(matches!(
        Volume::open(&medium, b"stranger"),
        Err(Error::NoVolume)
    ));
    drop(medium);

    let image = std::fs::read(&path).unwrap();
    for period in [4096, 32] {
        let report = ImageReport::new(&image, period);
        assert!(report.failures().is_empty(), "{:?}", report.failures());
    }
    // Bias one bit of every block: the same tests reject it.
    let mut biased = image;
    for block in biased.chunks_exact_mut(4096) {
        block[17] |= 0x04;
    }
    assert!(!ImageReport::new(&biased, 4096).failures().is_empty());
}

#[test]
fn a_volume_that_is_not_open_can_be_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("small.img");
    format(&path, 1 << 20, |_, _| {}).unwrap();
    let medium = Medium::open_with_kdf_cost(&path, COST).unwrap();
    let (closed, pc) = create(&medium, "closed", 512 << 10, &[]);
    for lba in 0..100 {
        closed.write(lba, &sector("closed", lba)).unwrap();
    }
    closed.close().unwrap();
    // Another volume fills the medium while the first is closed (as with Shufflecake).
    let (other, _) = create(&medium, "other", 1 << 20, &[]);
    let mut lba = 0;
    while other.write(lba, &sector("other", lba)).is_ok() {
        lba += 1;
    }
    other.close().unwrap();
    // The closed volume now fails loudly (or is gone), never returns the other's data.
    match Volume::open(&medium, pc.as_bytes()) {
        Err(Error::NoVolume) => {}
        Err(e) => panic!("{e}"),
        Ok(v) => {
            let mut buf = vec![0u8; 4096];
            let errors = (0..100)
                .filter(|&l| match v.read(l, &mut buf) {
                    Ok(()) => {
                        assert_eq!(buf, sector("closed", l));
                        false
                    }
                    Err(Error::Integrity) => true,
                    Err(e) => panic!("{e}"),
                })
                .count();
            assert!(errors > 0);
        }
    }
}
