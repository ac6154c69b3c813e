use std::fs::{File, OpenOptions, TryLockError};
use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Args)]
pub(crate) struct FormatArgs {
    /// The image file to create (or a block device to overwrite).
    medium: PathBuf,
    /// Size of the medium: 1G, 256M, 512K, … (a multiple of 4096, at least 1M).
    #[arg(long, value_parser = crate::size::parse_size)]
    size: u64,
    /// For a medium whose volumes will use the multi-snapshot mode. The noise is the same in
    /// both modes (nothing on the medium tells them apart); the mode is chosen by
    /// `qsmm create --multi-snapshot`, and this flag only says so.
    #[arg(long)]
    multi_snapshot: bool,
    /// Overwrite an existing file or device that holds data (every volume on it is lost).
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: &FormatArgs) -> Result<(), String> {
    // Held until the noise is written: no server or other format works on it meanwhile.
    let _lock = lock_existing(&args.medium, args.force)?;
    let bar = ProgressBar::new(args.size);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = qsmm_volume::format(&args.medium, args.size, |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    });
    bar.finish_and_clear();
    result.map_err(|e| {
        format!(
            "cannot format {}: {}",
            args.medium.display(),
            crate::commands::sentence(&e)
        )
    })?;
    println!(
        "formatted {} ({} bytes of noise)",
        args.medium.display(),
        args.size
    );
    if args.multi_snapshot {
        println!(
            "create its volumes with `qsmm create --multi-snapshot` (the mode lives in their roots)"
        );
    }
    Ok(())
}

/// For a medium that exists already: refuses one that holds data unless `force`, and takes its
/// lock (the one every open medium holds), failing if a server or another command has it.
fn lock_existing(path: &Path, force: bool) -> Result<Option<File>, String> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(None);
    };
    let is_device = meta.file_type().is_block_device();
    if !meta.is_file() && !is_device {
        return Err(format!(
            "{} is neither a file nor a block device",
            path.display()
        ));
    }
    let file = OpenOptions::new()
        .read(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => {
            return Err(format!(
                "{} is in use (a server or another command has it open)",
                path.display()
            ));
        }
        Err(TryLockError::Error(e)) => {
            return Err(format!("cannot lock {}: {e}", path.display()));
        }
    }
    if !force && holds_data(&file)? {
        return Err(format!(
            "{} already holds data (every volume on it would be lost); give --force to overwrite it",
            path.display()
        ));
    }
    Ok(Some(file))
}

/// Whether any of the first MiB is not zero (an empty file or a zeroed device holds nothing).
fn holds_data(file: &File) -> Result<bool, String> {
    let mut head = vec![0u8; 1 << 20];
    let mut reader = file.take(1 << 20);
    let mut filled = 0;
    loop {
        let n = reader
            .read(head.get_mut(filled..).unwrap_or_default())
            .map_err(|e| format!("cannot read the medium: {e}"))?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(head
        .get(..filled)
        .is_some_and(|h| h.iter().any(|&b| b != 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_data_needs_force_and_a_free_lock() {
        let dir = tempfile::tempdir().unwrap();
        let absent = dir.path().join("new.img");
        assert!(lock_existing(&absent, false).unwrap().is_none());
        let empty = dir.path().join("empty.img");
        std::fs::write(&empty, b"").unwrap();
        assert!(lock_existing(&empty, false).is_ok());
        let zeros = dir.path().join("zeros.img");
        std::fs::write(&zeros, vec![0u8; 8192]).unwrap();
        assert!(lock_existing(&zeros, false).is_ok());
        let data = dir.path().join("data.img");
        std::fs::write(&data, b"\0\0something").unwrap();
        let err = lock_existing(&data, false).unwrap_err();
        assert!(err.contains("--force"), "{err}");
        let held = lock_existing(&data, true).unwrap();
        assert!(held.is_some());
        let err = lock_existing(&data, true).unwrap_err();
        assert!(err.contains("in use"), "{err}");
        drop(held);
        assert!(lock_existing(&data, true).is_ok());
        assert!(lock_existing(dir.path(), true).is_err());
    }
}
