//! `qsmm mount` and `qsmm unmount`: volumes as directories without root, through nbdkit (the
//! qsmm plugin), nbdfuse and fuse2fs, running in the background.
//!
//! Each mount keeps a private state directory (mode 0700) under `$XDG_RUNTIME_DIR/qsmm` (or
//! `/tmp/qsmm-<uid>`), named by a hash of the mount point: nbdkit's socket and log, the nbdfuse
//! mount points and a `processes` file of `program pid path` lines that `unmount` reads. No
//! passphrase is ever written there.

use std::fmt::Write as _;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use qsmm_nbd::PluginParams;
use sha2::{Digest, Sha256};

use crate::interrupt::Interrupt;
use crate::nbdkit::{PassphrasePipe, running, stop_pid, wait_gone};
use crate::passphrase::Sources;

/// How `qsmm mount --help` ends: a complete example.
const AFTER_HELP: &str = "\
Example, from a new medium to files and back (no root needed; Debian packages nbdkit,
nbdfuse, fuse2fs; every passphrase is typed, none is in a file or in the shell history):
    qsmm format dark.img --size 1G
    qsmm create dark.img --size 256M                # the decoy volume (volume 0)
    qsmm create dark.img --size 512M --protect 1    # the hidden one; asks the decoy's too
    qsmm mount dark.img ~/vault --mkfs              # asks: decoy, hidden, then Enter
    cp -a ~/Documents ~/vault-1/                    # volume 1 (hidden) is on DIR-1
    qsmm unmount ~/vault                            # flushes, stops, cleans up
    qsmm mount dark.img ~/vault --volume 1          # later: only the hidden one, on ~/vault

Give every passphrase you know for the medium: the volumes opened together protect each
other, and a write to a volume opened alone may overwrite the volumes that were not opened.
The first volume is mounted on DIR, the next on DIR-1, DIR-2, ... (or only --volume N on
DIR, the others open to protect it). --mkfs makes an ext4 file system on each mounted volume
that is still empty.

qsmm mount returns once the directories are mounted; nbdkit, nbdfuse and fuse2fs keep
running in the background until `qsmm unmount DIR`, which flushes and stops them. Writes are
committed at most --commit-interval seconds after they are made (default 5): a crash loses
at most that much, and the next mount or unmount reports it (run e2fsck then)";

/// Arguments of `qsmm mount`.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub(crate) struct MountArgs {
    /// The medium: an image file or a block device made by `qsmm format`.
    medium: PathBuf,
    /// Where to mount the first volume (the others go to DIR-1, DIR-2, …).
    dir: PathBuf,
    /// Make an ext4 file system on each mounted volume that is still empty (reads as zeros).
    #[arg(long)]
    mkfs: bool,
    /// Mount read-only (nothing is written to the medium).
    #[arg(long)]
    readonly: bool,
    /// Mount only the volume of the N-th passphrase (from 0) on DIR; the others stay open to
    /// protect it.
    #[arg(long, value_name = "N")]
    volume: Option<usize>,
    /// A file holding a passphrase; repeat for several volumes (instead of asking).
    #[arg(long, value_name = "FILE")]
    passphrase_file: Vec<PathBuf>,
    /// Read the passphrases from this inherited descriptor, one per line (instead of asking).
    #[arg(long, value_name = "N")]
    passphrase_fd: Option<u32>,
    /// Commit each volume at most this many seconds after its first unsaved write (0: only
    /// when the file system flushes, e.g. at unmount).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    commit_interval: u64,
    /// Multi-snapshot media: blocks of cover traffic written per second while served,
    /// whatever the volumes do (default 256; 0: a fixed number per mount instead, and a hidden
    /// volume's flush writes at once).
    #[arg(long, value_name = "SLOTS", value_parser = clap::value_parser!(u32).range(0..=16_384))]
    tick_rate: Option<u32>,
    /// The plugin `libqsmm_nbd.so` (default: next to this program).
    #[arg(long, value_name = "FILE")]
    plugin: Option<PathBuf>,
}

/// Arguments of `qsmm unmount`.
#[derive(Debug, Args)]
pub(crate) struct UnmountArgs {
    /// The directory given to `qsmm mount`.
    dir: PathBuf,
}

/// One background process of a mount.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Process {
    program: String,
    pid: u32,
    /// The mount point it serves (none for nbdkit).
    path: Option<PathBuf>,
}

/// Runs `qsmm mount`.
pub(crate) fn run(args: &MountArgs) -> Result<(), String> {
    let interrupt = Interrupt::install()?;
    if !args.medium.exists() {
        return Err(format!(
            "the medium {} does not exist",
            args.medium.display()
        ));
    }
    let plugin = crate::nbdkit::plugin(args.plugin.as_deref())?;
    let dir = absolute(&args.dir)?;
    let state = state_dir(&dir)?;
    if state.exists() {
        let processes = read_processes(&state)?;
        let dead = report_dead(&dir, &processes);
        if dead == 0 {
            return Err(format!(
                "{} is already mounted (qsmm unmount {} first)",
                dir.display(),
                dir.display()
            ));
        }
        cleanup(&state, &processes);
    }
    let sources = Sources {
        files: args.passphrase_file.clone(),
        fd: args.passphrase_fd,
    };
    let passphrases = sources.read_all(None)?;
    interrupt.prompts_done();
    let count = passphrases.len();
    if let Some(n) = args.volume
        && n >= count
    {
        return Err(format!(
            "--volume {n}: only {count} passphrase(s) were given"
        ));
    }
    if count == 1 && !args.readonly {
        eprintln!(
            "qsmm: warning: only one volume is open; writes to it may overwrite other volumes \
             of this medium. To keep them, give every passphrase you know (qsmm mount asks for \
             more until an empty answer) and choose the one to mount with --volume N."
        );
    }
    let targets: Vec<(usize, PathBuf)> = match args.volume {
        Some(n) => vec![(n, dir)],
        None => (0..count)
            .map(|i| (i, numbered(&dir, i)))
            .collect::<Vec<_>>(),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&state)
        .map_err(|e| format!("cannot make {}: {e}", state.display()))?;
    let mut processes = Vec::new();
    let result = start(
        args,
        &plugin,
        &state,
        passphrases,
        &targets,
        &mut processes,
        &interrupt,
    );
    if let Err(error) = result {
        cleanup(&state, &processes);
        return Err(error);
    }
    for (index, path) in &targets {
        println!("mounted volume {index} on {}", path.display());
    }
    Ok(())
}

/// Runs `qsmm unmount`.
pub(crate) fn unmount(args: &UnmountArgs) -> Result<(), String> {
    let dir = absolute(&args.dir)?;
    let state = state_dir(&dir)?;
    if !state.exists() {
        return Err(format!("{} is not mounted by qsmm", dir.display()));
    }
    let processes = read_processes(&state)?;
    let dead = report_dead(&dir, &processes);
    // File systems first (fuse2fs writes its caches and exits), then the NBD files (nbdfuse
    // flushes), then nbdkit (commits and closes the volumes).
    let mut failed = Vec::new();
    for program in ["fuse2fs", "nbdfuse"] {
        for process in processes.iter().filter(|p| p.program == program) {
            if let Some(path) = &process.path
                && !fuse_unmount(path, running(process.pid, program))
            {
                failed.push(path.display().to_string());
            }
            if !wait_gone(process.pid, program, Duration::from_secs(60)) {
                stop_pid(process.pid, program);
            }
        }
    }
    for process in processes.iter().filter(|p| p.program == "nbdkit") {
        stop_pid(process.pid, "nbdkit");
    }
    if !failed.is_empty() {
        return Err(format!(
            "cannot unmount {} (in use?); nothing was stopped abruptly, try again",
            failed.join(", ")
        ));
    }
    fs::remove_dir_all(&state).map_err(|e| format!("cannot remove {}: {e}", state.display()))?;
    if dead > 0 {
        return Err(format!(
            "{} was unmounted after a crash; check each volume's file system (qsmm mount, then \
             e2fsck on the device, or fuse2fs reports errors)",
            dir.display()
        ));
    }
    println!("unmounted {}", dir.display());
    Ok(())
}

/// Starts nbdkit, then for each target nbdfuse (and mkfs) and fuse2fs; records each process.
fn start(
    args: &MountArgs,
    plugin: &Path,
    state: &Path,
    passphrases: Vec<qsmm_volume::Passphrase>,
    targets: &[(usize, PathBuf)],
    processes: &mut Vec<Process>,
    interrupt: &Interrupt,
) -> Result<(), String> {
    let socket = state.join("nbd.sock");
    let pidfile = state.join("nbdkit.pid");
    let pipe = PassphrasePipe::new()?;
    let mut params = PluginParams::new(absolute(&args.medium)?);
    params.passphrase_fd = Some(pipe.fd());
    params.commit_interval = Some(Duration::from_secs(args.commit_interval));
    params.tick_rate = args.tick_rate;
    // nbdkit forks into the background itself once it serves (a foreground nbdkit stops with
    // the process that started it); it reads the passphrases and opens the volumes before.
    let mut nbdkit = Command::new("nbdkit");
    nbdkit.arg("--log=stderr");
    if args.readonly {
        nbdkit.arg("--readonly");
    }
    nbdkit
        .arg("--unix")
        .arg(&socket)
        .arg("--pidfile")
        .arg(&pidfile)
        .arg(plugin)
        .args(params.to_args());
    let log = state.join("nbdkit.log");
    let mut child = background(nbdkit, &log)?;
    let sent = pipe.send(&passphrases);
    drop(passphrases);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if interrupt.stopped() {
            crate::nbdkit::terminate(&mut child)?;
            return Err("interrupted".into());
        }
        thread::sleep(Duration::from_millis(20));
    };
    // The process started exits once the server has forked into the background, and the
    // server writes the pidfile after the fork: on a busy machine it may not be there yet.
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        let pid = fs::read_to_string(&pidfile)
            .ok()
            .filter(|text| text.ends_with('\n'))
            .and_then(|text| text.trim().parse::<u32>().ok());
        if pid.is_some() || !status.success() || Instant::now() > deadline {
            break pid;
        }
        thread::sleep(Duration::from_millis(20));
    };
    let (true, Some(pid)) = (status.success(), pid) else {
        return Err(format!("nbdkit stopped ({status}): {}", log_tail(&log)));
    };
    record(state, processes, "nbdkit", pid, None)?;
    sent?;
    for (index, path) in targets {
        let device_dir = state.join(format!("dev-{index}"));
        fs::create_dir(&device_dir).map_err(|e| format!("cannot make a directory: {e}"))?;
        let disk = device_dir.join("disk");
        let uri = format!("nbd+unix:///{index}?socket={}", socket.display());
        let mut nbdfuse = Command::new("nbdfuse");
        if args.readonly {
            nbdfuse.arg("--readonly");
        }
        nbdfuse.arg(&disk).arg(&uri);
        let mut child = background(nbdfuse, &state.join(format!("nbdfuse-{index}.log")))?;
        record(state, processes, "nbdfuse", child.id(), Some(&device_dir))?;
        wait_until(&mut child, "nbdfuse", || disk.exists())?;
        if args.mkfs && !args.readonly {
            mkfs_if_empty(&disk, *index)?;
        }
        fs::create_dir_all(path).map_err(|e| format!("cannot make {}: {e}", path.display()))?;
        let mut fuse2fs = Command::new("fuse2fs");
        fuse2fs.arg(&disk).arg(path).arg("-f");
        if args.readonly {
            fuse2fs.arg("-o").arg("ro");
        }
        let mut child = background(fuse2fs, &state.join(format!("fuse2fs-{index}.log")))?;
        record(state, processes, "fuse2fs", child.id(), Some(path))?;
        wait_until(&mut child, "fuse2fs", || is_mount_point(path)).map_err(|e| {
            format!(
                "{e} (does volume {index} hold an ext4 file system? --mkfs makes one on a new volume)"
            )
        })?;
    }
    Ok(())
}

/// Makes ext4 on a volume that reads as zeros (a new volume); leaves any other alone.
fn mkfs_if_empty(disk: &Path, index: usize) -> Result<(), String> {
    let mut head = vec![0u8; 1 << 20];
    let n = fs::File::open(disk)
        .and_then(|f| f.take(1 << 20).read(&mut head))
        .map_err(|e| format!("cannot read volume {index}: {e}"))?;
    if head.get(..n).is_some_and(|h| h.iter().any(|&b| b != 0)) {
        eprintln!("qsmm: volume {index} already holds data; --mkfs leaves it as it is");
        return Ok(());
    }
    // The file system's root belongs to whoever mounts it, who can then write to it.
    let (uid, gid) = (nix::unistd::getuid(), nix::unistd::getgid());
    let output = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-b", "4096", "-E"])
        .arg(format!("root_owner={uid}:{gid}"))
        .arg(disk)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run mkfs.ext4: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "mkfs.ext4 failed on volume {index}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// Starts a program in its own process group (a Ctrl-C on this terminal does not reach it),
/// its output in `log`, so that it keeps running after `qsmm mount` returns.
fn background(mut command: Command, log: &Path) -> Result<Child, String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = fs::File::create(log).map_err(|e| format!("cannot make {}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    std::os::unix::process::CommandExt::process_group(&mut command, 0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))
}

/// Waits until `ready()`, or fails if the program exits first or takes over two minutes.
fn wait_until(child: &mut Child, name: &str, ready: impl Fn() -> bool) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("{name} stopped ({status})"));
        }
        if Instant::now() > deadline {
            return Err(format!("{name} did not start in time"));
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Adds a process to the state's `processes` file (written at once, so that a failure half way
/// still knows what to stop).
fn record(
    state: &Path,
    processes: &mut Vec<Process>,
    program: &str,
    pid: u32,
    path: Option<&Path>,
) -> Result<(), String> {
    processes.push(Process {
        program: program.to_owned(),
        pid,
        path: path.map(Path::to_owned),
    });
    let mut text = String::new();
    for p in processes.iter() {
        let path = p
            .path
            .as_ref()
            .map_or_else(String::new, |p| p.to_string_lossy().into_owned());
        // A path with a newline cannot be recorded faithfully: refuse it (checked below).
        writeln!(text, "{} {} {path}", p.program, p.pid).map_err(|e| e.to_string())?;
    }
    if path.is_some_and(|p| p.to_string_lossy().contains('\n')) {
        return Err("a mount point with a line break in its name".into());
    }
    fs::write(state.join("processes"), text).map_err(|e| format!("cannot write state: {e}"))
}

fn read_processes(state: &Path) -> Result<Vec<Process>, String> {
    let text = fs::read_to_string(state.join("processes")).unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut parts = line.splitn(3, ' ');
        let (Some(program), Some(pid), path) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!("damaged state in {}", state.display()));
        };
        let pid = pid
            .parse()
            .map_err(|_| format!("damaged state in {}", state.display()))?;
        out.push(Process {
            program: program.to_owned(),
            pid,
            path: path.filter(|p| !p.is_empty()).map(PathBuf::from),
        });
    }
    Ok(out)
}

/// Reports every recorded process that no longer runs; returns how many.
fn report_dead(dir: &Path, processes: &[Process]) -> usize {
    let dead: Vec<&Process> = processes
        .iter()
        .filter(|p| !running(p.pid, &p.program))
        .collect();
    for p in &dead {
        eprintln!(
            "qsmm: {} (pid {}) of the mount on {} stopped unexpectedly: writes of its last \
             seconds may be lost",
            p.program,
            p.pid,
            dir.display()
        );
    }
    dead.len()
}

/// Stops what still runs of a mount and removes its state (after a crash or a failed mount).
fn cleanup(state: &Path, processes: &[Process]) {
    for program in ["fuse2fs", "nbdfuse"] {
        for p in processes.iter().filter(|p| p.program == program) {
            if let Some(path) = &p.path {
                fuse_unmount(path, running(p.pid, program));
            }
            if !wait_gone(p.pid, program, Duration::from_secs(10)) {
                stop_pid(p.pid, program);
            }
        }
    }
    for p in processes.iter().filter(|p| p.program == "nbdkit") {
        stop_pid(p.pid, "nbdkit");
    }
    // Best effort: what is left is reported by the next mount.
    fs::remove_dir_all(state).ok();
}

/// Unmounts a FUSE mount point: `fusermount3 -u` (or `fusermount -u`, or `umount` as root);
/// lazily when its daemon is gone. True when it is no longer mounted.
fn fuse_unmount(path: &Path, daemon_alive: bool) -> bool {
    if !is_mount_point(path) {
        return true;
    }
    let flag = if daemon_alive { "-u" } else { "-uz" };
    for (program, args) in [
        ("fusermount3", vec![flag]),
        ("fusermount", vec![flag]),
        ("umount", if daemon_alive { vec![] } else { vec!["-l"] }),
    ] {
        let status = Command::new(program)
            .args(&args)
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if status.is_ok_and(|s| s.success()) {
            return true;
        }
    }
    !is_mount_point(path)
}

/// Whether `path` is a mount point (in this process's mount table).
fn is_mount_point(path: &Path) -> bool {
    let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let wanted = escape_mount_path(path);
    table
        .lines()
        .any(|line| line.split(' ').nth(4) == Some(wanted.as_str()))
}

/// A path as `/proc/self/mountinfo` writes it (space, tab, newline and backslash in octal).
fn escape_mount_path(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}

/// The mount point of the `index`-th volume: `dir`, then `dir-1`, `dir-2`, …
fn numbered(dir: &Path, index: usize) -> PathBuf {
    if index == 0 {
        return dir.to_owned();
    }
    let mut name = dir.as_os_str().to_owned();
    name.push(format!("-{index}"));
    PathBuf::from(name)
}

/// The state directory of a mount point: private (0700, owned by this user) under the runtime
/// directory, named by a hash of the mount point.
fn state_dir(dir: &Path) -> Result<PathBuf, String> {
    let uid = nix::unistd::getuid();
    let base = match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(runtime) if !runtime.is_empty() => PathBuf::from(runtime).join("qsmm"),
        _ => std::env::temp_dir().join(format!("qsmm-{uid}")),
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&base)
        .map_err(|e| format!("cannot make {}: {e}", base.display()))?;
    let meta = fs::symlink_metadata(&base).map_err(|e| e.to_string())?;
    if !meta.is_dir() || meta.uid() != uid.as_raw() || meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "{} is not a private directory of this user",
            base.display()
        ));
    }
    let digest = Sha256::digest(dir.as_os_str().as_encoded_bytes());
    Ok(base.join(hex::encode(digest.get(..16).unwrap_or_default())))
}

/// A path made absolute and free of `.`/`..` (the directory need not exist yet).
fn absolute(path: &Path) -> Result<PathBuf, String> {
    let path =
        std::path::absolute(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))?;
    Ok(fs::canonicalize(&path).unwrap_or(path))
}

/// The last lines of a log, on one line.
fn log_tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(3).collect();
    lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_are_numbered_after_the_first() {
        assert_eq!(numbered(Path::new("/m/x"), 0), PathBuf::from("/m/x"));
        assert_eq!(numbered(Path::new("/m/x"), 2), PathBuf::from("/m/x-2"));
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(escape_mount_path(Path::new("/a b\\c")), "/a\\040b\\134c");
        assert!(is_mount_point(Path::new("/")));
        assert!(!is_mount_point(Path::new("/surely/not/a/mount/point")));
    }

    #[test]
    fn the_state_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut processes = Vec::new();
        record(dir.path(), &mut processes, "nbdkit", 10, None).unwrap();
        record(
            dir.path(),
            &mut processes,
            "fuse2fs",
            11,
            Some(Path::new("/m/with space")),
        )
        .unwrap();
        assert_eq!(read_processes(dir.path()).unwrap(), processes);
        fs::write(dir.path().join("processes"), "nbdkit notanumber\n").unwrap();
        assert!(read_processes(dir.path()).is_err());
    }
}
