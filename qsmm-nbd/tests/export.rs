//! The plugin served by nbdkit, driven by real NBD clients: `nbdinfo`, `qemu-io`, `nbdcopy`,
//! ext4 images checked with `e2fsck`, two volumes at once, and a wrong passphrase.

#[allow(dead_code, reason = "each test file uses part of the harness")]
mod harness;

use std::fs;

use harness::{Server, Setup, copy_in, copy_out, file_digest, fsck_clean, mkfs_with, run, tools};
use rand::{RngExt, SeedableRng, rngs::StdRng};

const MIB: u64 = 1 << 20;

#[test]
fn nbdinfo_shows_the_logical_size() {
    if !tools(&["nbdkit", "nbdinfo"]) {
        return;
    }
    let setup = Setup::new(64 * MIB, &[24 * MIB + 4096]);
    let server = setup.serve();
    let size = run("nbdinfo", &["--size", &server.uri("")]);
    assert_eq!(size.trim(), (24 * MIB + 4096).to_string());
    // Export "0" is the same volume as the default export; "1" does not exist.
    let size = run("nbdinfo", &["--size", &server.uri("0")]);
    assert_eq!(size.trim(), (24 * MIB + 4096).to_string());
    let missing = std::process::Command::new("nbdinfo")
        .args(["--size", &server.uri("1")])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let info = run("nbdinfo", &["--json", &server.uri("")]);
    for flag in [
        "\"can_flush\": true",
        "\"can_fua\": true",
        "\"can_trim\": true",
        "\"can_zero\": true",
        "\"can_multi_conn\": true",
        "\"is_read_only\": false",
    ] {
        assert!(info.contains(flag), "{flag} missing in {info}");
    }
    server.stop();
}

/// Random writes, discards and zero writes at unaligned offsets through `qemu-io`, checked
/// against a model with `read -P` and with a full copy.
#[test]
fn qemu_io_patterns_read_back() {
    if !tools(&["nbdkit", "qemu-io", "nbdcopy"]) {
        return;
    }
    const SIZE: u64 = 8 * MIB;
    let setup = Setup::new(32 * MIB, &[SIZE]);
    let server = setup.serve();
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut model = vec![0u8; usize::try_from(SIZE).unwrap()];
    let mut commands = Vec::new();
    for step in 0..60 {
        let len = rng.random_range(1..=300_000u64);
        let offset = rng.random_range(0..SIZE - len);
        let range = usize::try_from(offset).unwrap()..usize::try_from(offset + len).unwrap();
        match step % 5 {
            // A whole-4-KiB-block range that reads back as zeros after a discard.
            3 => {
                let start = offset.next_multiple_of(4096);
                let blocks = (len / 4096).max(1);
                let end = (start + blocks * 4096).min(SIZE);
                commands.push(format!("discard {start} {}", end - start));
                model[usize::try_from(start).unwrap()..usize::try_from(end).unwrap()].fill(0);
            }
            4 => {
                commands.push(format!("write -z {offset} {len}"));
                model[range].fill(0);
            }
            _ => {
                let pattern: u8 = rng.random_range(1..=255);
                commands.push(format!("write -P {pattern} {offset} {len}"));
                model[range].fill(pattern);
            }
        }
    }
    commands.push("flush".into());
    // Read back runs of equal bytes from the model with `read -P`.
    let mut checks = 0;
    let mut start = 0usize;
    while start < model.len() && checks < 200 {
        let byte = model[start];
        let run_len = model[start..].iter().take_while(|&&b| b == byte).count();
        commands.push(format!("read -P {byte} {start} {run_len}"));
        start += run_len;
        checks += 1;
    }
    let mut args = vec!["-f", "raw"];
    for command in &commands {
        args.push("-c");
        args.push(command);
    }
    let uri = server.uri("");
    args.push(&uri);
    let output = run("qemu-io", &args);
    assert!(!output.contains("Pattern verification failed"), "{output}");
    assert!(!output.contains("failed"), "{output}");

    let copy = setup.path("copy.img");
    copy_out(&server, "", &copy);
    assert!(
        fs::read(&copy).unwrap() == model,
        "volume differs from the model"
    );
    server.stop();
}

/// An ext4 image with a few hundred files copied in and read back byte-identical, then checked
/// clean by `e2fsck -fn`, also after restarting the server.
#[test]
fn ext4_image_round_trips() {
    if !tools(&["nbdkit", "nbdcopy", "mke2fs", "e2fsck"]) {
        return;
    }
    const SIZE: u64 = 32 * MIB;
    let setup = Setup::new(64 * MIB, &[SIZE]);
    let tree = setup.path("tree");
    harness::make_tree(&tree, 300, 1);
    let image = setup.path("fs.img");
    mkfs_with(&image, SIZE, &tree);

    let server = setup.serve();
    copy_in(&server, "", &image);
    let back = setup.path("back.img");
    copy_out(&server, "", &back);
    assert_eq!(file_digest(&back), file_digest(&image));
    server.stop();

    let server = setup.serve();
    copy_out(&server, "", &back);
    server.stop();
    assert_eq!(file_digest(&back), file_digest(&image));
    fsck_clean(&back);
}

/// Two volumes of one medium served by one nbdkit: an ext4 on each, written in turns; both read
/// back and check clean, also after a restart.
#[test]
fn two_volumes_at_once() {
    if !tools(&["nbdkit", "nbdcopy", "qemu-io", "mke2fs", "e2fsck"]) {
        return;
    }
    const SIZE: u64 = 16 * MIB;
    let setup = Setup::new(64 * MIB, &[SIZE, SIZE]);
    let mut images = Vec::new();
    for i in 0..2 {
        let tree = setup.path(&format!("tree{i}"));
        harness::make_tree(&tree, 120, 10 + i);
        let image = setup.path(&format!("fs{i}.img"));
        mkfs_with(&image, SIZE, &tree);
        images.push(image);
    }
    let server = setup.serve();
    assert_eq!(
        run("nbdinfo", &["--size", &server.uri("1")]).trim(),
        SIZE.to_string()
    );
    // Mixed writes: both images go in at the same time, by two concurrent clients.
    let copies: Vec<_> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            std::process::Command::new("nbdcopy")
                .args([image.to_str().unwrap(), &server.uri(&i.to_string())])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut copy in copies {
        assert!(copy.wait().unwrap().success());
    }
    server.stop();
    let server = setup.serve();
    for (i, image) in images.iter().enumerate() {
        let back = setup.path(&format!("back{i}.img"));
        copy_out(&server, &i.to_string(), &back);
        assert_eq!(file_digest(&back), file_digest(image), "volume {i}");
        fsck_clean(&back);
    }
    server.stop();
}

#[test]
fn wrong_passphrase_refuses_to_serve() {
    if !tools(&["nbdkit"]) {
        return;
    }
    let setup = Setup::new(32 * MIB, &[4 * MIB]);
    let wrong = setup.path("wrong");
    fs::write(&wrong, "not the passphrase\n").unwrap();
    let error = Server::start(
        &setup.medium,
        &[format!("passphrase-file={}", wrong.display())],
    )
    .err()
    .expect("nbdkit served a volume with a wrong passphrase");
    assert!(error.contains("wrong passphrase"), "{error}");
    assert!(
        !error.contains("not the passphrase"),
        "passphrase leaked: {error}"
    );

    // A right passphrase beside a wrong protected one refuses too.
    let error = Server::start(
        &setup.medium,
        &[
            format!("passphrase-file={}", setup.passfiles[0].display()),
            format!("protect={}", wrong.display()),
        ],
    )
    .err()
    .expect("nbdkit served with a wrong protected passphrase");
    assert!(error.contains("protected volume 0"), "{error}");

    // Missing parameters are refused at config_complete.
    let error = Server::start(&setup.medium, &[]).err().unwrap();
    assert!(error.contains("passphrase-file"), "{error}");
}
