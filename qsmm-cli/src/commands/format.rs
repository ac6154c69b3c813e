use std::path::PathBuf;

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
}

pub(crate) fn run(args: &FormatArgs) -> Result<(), String> {
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
