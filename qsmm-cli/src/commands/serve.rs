//! `qsmm serve`: exports volumes over NBD with nbdkit and the `qsmm-nbd` plugin.

use std::ffi::OsString;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use clap::Args;
use zeroize::Zeroizing;

/// File name of the plugin that cargo builds next to the `qsmm` binary.
const PLUGIN_FILE: &str = "libqsmm_nbd.so";

/// How `qsmm serve --help` ends: how to use the export.
const AFTER_HELP: &str = "\
Each passphrase opens one volume; all are opened together and protect each other. Export \"0\"
(also the default export \"\") is the first volume, \"1\" the second, and so on. Passphrases
are asked on the terminal without echo (once per --exports) unless given with
--passphrase-file; they reach nbdkit through a private file that is removed once it serves,
never through the command line.

Mount on a Linux machine with the nbd kernel module:
    qsmm serve dark.img --socket /run/qsmm.sock &
    modprobe nbd
    nbd-client -unix /run/qsmm.sock /dev/nbd0 -N 0
    mkfs.ext4 /dev/nbd0            # the first time only
    mount /dev/nbd0 /mnt
    ...
    umount /mnt && nbd-client -d /dev/nbd0

Mount without kernel modules (FUSE; Debian packages nbdfuse and fuse2fs):
    qsmm serve dark.img --socket /tmp/qsmm.sock &
    mkdir -p /tmp/nbd /mnt/hidden
    nbdfuse /tmp/nbd/disk 'nbd+unix:///0?socket=/tmp/qsmm.sock' &
    mkfs.ext4 /tmp/nbd/disk        # the first time only
    fuse2fs /tmp/nbd/disk /mnt/hidden
    ...
    umount /mnt/hidden && umount /tmp/nbd

Stop the server with Ctrl-C or SIGTERM: nbdkit flushes and closes the volumes.

The NBD socket is unauthenticated plaintext: anyone who can connect can read and write the
volume. Prefer --socket in a directory only you can enter; --listen is for 127.0.0.1 or a
network you trust (nbdkit's TLS options are not wired here: run nbdkit by hand for TLS).";

/// Arguments of `qsmm serve`.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub(crate) struct ServeArgs {
    /// The medium: an image file or a block device made by `qsmm format`.
    medium: PathBuf,
    /// Serve on this Unix socket (the default: ./qsmm.sock).
    #[arg(long, value_name = "PATH", conflicts_with = "listen")]
    socket: Option<PathBuf>,
    /// Serve on this TCP address instead, e.g. 127.0.0.1:10809.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<std::net::SocketAddr>,
    /// A file holding the passphrase of a volume to export; repeat for several volumes.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Vec<PathBuf>,
    /// A file holding the passphrase of a volume to protect but not export; repeatable.
    #[arg(long, value_name = "FILE")]
    protect_file: Vec<PathBuf>,
    /// How many passphrases to ask for on the terminal when no --passphrase-file is given.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=64))]
    exports: u8,
    /// The plugin `libqsmm_nbd.so` (default: next to this program).
    #[arg(long, value_name = "FILE")]
    plugin: Option<PathBuf>,
    /// The nbdkit program.
    #[arg(long, value_name = "PROGRAM", default_value = "nbdkit")]
    nbdkit: PathBuf,
}

/// Where nbdkit listens.
#[derive(Debug, PartialEq, Eq)]
enum Endpoint {
    Unix(PathBuf),
    Tcp(std::net::SocketAddr),
}

impl ServeArgs {
    fn endpoint(&self) -> Endpoint {
        match (&self.listen, &self.socket) {
            (Some(addr), _) => Endpoint::Tcp(*addr),
            (None, Some(path)) => Endpoint::Unix(path.clone()),
            (None, None) => Endpoint::Unix(PathBuf::from("qsmm.sock")),
        }
    }
}

/// Runs `qsmm serve`.
pub(crate) fn run(args: &ServeArgs) -> Result<(), String> {
    if !args.medium.exists() {
        return Err(format!(
            "the medium {} does not exist",
            args.medium.display()
        ));
    }
    let plugin = match &args.plugin {
        Some(path) => path.clone(),
        None => find_plugin(std::env::current_exe().ok().as_deref())?,
    };
    // Passphrases asked on the terminal go to files in a private directory (mode 0700, files
    // 0600) that is removed as soon as nbdkit serves (or fails).
    let private = tempfile::Builder::new()
        .prefix("qsmm-serve-")
        .tempdir()
        .map_err(|e| format!("cannot make a private directory: {e}"))?;
    let mut export_files = args.passphrase_file.clone();
    if export_files.is_empty() {
        for i in 0..args.exports {
            let prompt = if args.exports == 1 {
                "Passphrase: ".to_owned()
            } else {
                format!("Passphrase of volume {i}: ")
            };
            let passphrase = crate::passphrase::read(None, &prompt)?;
            export_files.push(write_private(
                private.path(),
                &format!("pw{i}"),
                &passphrase,
            )?);
        }
    }
    let pidfile = private.path().join("nbdkit.pid");
    let endpoint = args.endpoint();
    let command = nbdkit_args(
        &endpoint,
        &pidfile,
        &plugin,
        &args.medium,
        &export_files,
        &args.protect_file,
    );
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .map_err(|e| format!("cannot handle signals: {e}"))?;
    }
    let mut child = Command::new(&args.nbdkit)
        .args(&command)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.nbdkit.display()))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break Some(status);
        }
        if fs::metadata(&pidfile).is_ok_and(|m| m.len() > 0) {
            break None;
        }
        if stop.load(Ordering::SeqCst) {
            break Some(terminate(&mut child)?);
        }
        thread::sleep(Duration::from_millis(20));
    };
    drop(private);
    if let Some(status) = status {
        return exited(status);
    }
    match &endpoint {
        Endpoint::Unix(path) => eprintln!(
            "qsmm: serving {} export(s) on nbd+unix:///0?socket={} (Ctrl-C stops)",
            export_files.len(),
            path.display()
        ),
        Endpoint::Tcp(addr) => eprintln!(
            "qsmm: serving {} export(s) on nbd://{addr}/0 (Ctrl-C stops)",
            export_files.len()
        ),
    }
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if stop.load(Ordering::SeqCst) {
            break terminate(&mut child)?;
        }
        thread::sleep(Duration::from_millis(50));
    };
    exited(status)
}

/// nbdkit's arguments: foreground, the endpoint, a pidfile that tells when it serves, the
/// plugin and its parameters. No passphrase is among them, only file names.
fn nbdkit_args(
    endpoint: &Endpoint,
    pidfile: &Path,
    plugin: &Path,
    medium: &Path,
    exports: &[PathBuf],
    protect: &[PathBuf],
) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec!["--foreground".into(), "--exit-with-parent".into()];
    match endpoint {
        Endpoint::Unix(path) => {
            out.push("--unix".into());
            out.push(path.into());
        }
        Endpoint::Tcp(addr) => {
            out.push("--ipaddr".into());
            out.push(addr.ip().to_string().into());
            out.push("--port".into());
            out.push(addr.port().to_string().into());
        }
    }
    out.push("--pidfile".into());
    out.push(pidfile.into());
    out.push(plugin.into());
    out.push(key_value("medium", medium));
    out.extend(exports.iter().map(|f| key_value("passphrase-file", f)));
    out.extend(protect.iter().map(|f| key_value("protect", f)));
    out
}

fn key_value(key: &str, path: &Path) -> OsString {
    let mut out = OsString::from(format!("{key}="));
    out.push(path);
    out
}

/// Finds the plugin next to the program (`target/<profile>/qsmm` beside
/// `target/<profile>/libqsmm_nbd.so`, or an installed `bin/` beside `lib/`).
fn find_plugin(exe: Option<&Path>) -> Result<PathBuf, String> {
    let dir = exe.and_then(Path::parent);
    let candidates: Vec<PathBuf> = dir
        .into_iter()
        .flat_map(|dir| {
            [
                dir.join(PLUGIN_FILE),
                dir.join("..").join(PLUGIN_FILE),
                dir.join("../lib").join(PLUGIN_FILE),
            ]
        })
        .collect();
    candidates
        .into_iter()
        .find(|path| path.is_file())
        .ok_or_else(|| {
            format!("cannot find {PLUGIN_FILE} next to this program; build it (cargo build -p qsmm-nbd) or give --plugin")
        })
}

/// Writes a passphrase to a new file readable only by its owner.
fn write_private(
    dir: &Path,
    name: &str,
    passphrase: &Zeroizing<Vec<u8>>,
) -> Result<PathBuf, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("cannot write a private file: {e}"))?;
    file.write_all(passphrase)
        .map_err(|e| format!("cannot write a private file: {e}"))?;
    Ok(path)
}

/// Asks nbdkit to stop (SIGTERM: it finishes requests, flushes and closes the volumes) and
/// waits for it.
fn terminate(child: &mut Child) -> Result<ExitStatus, String> {
    let pid = i32::try_from(child.id()).map_err(|e| e.to_string())?;
    // The child may have exited on its own (it gets Ctrl-C from the terminal too).
    if let Err(errno) = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    ) && errno != nix::errno::Errno::ESRCH
    {
        return Err(format!("cannot stop nbdkit: {errno}"));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if Instant::now() > deadline {
            child.kill().map_err(|e| e.to_string())?;
            return child.wait().map_err(|e| e.to_string());
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn exited(status: ExitStatus) -> Result<(), String> {
    use std::os::unix::process::ExitStatusExt;
    // A stop by signal (SIGINT from the terminal, SIGTERM from us) is a normal end.
    if status.success() || matches!(status.signal(), Some(2 | 15)) {
        Ok(())
    } else {
        Err(format!("nbdkit stopped with {status}"))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: ServeArgs,
    }

    fn parse(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        Wrapper::try_parse_from(std::iter::once("serve").chain(args.iter().copied()))
            .map(|w| w.args)
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            parse(&["m.img"]).unwrap().endpoint(),
            Endpoint::Unix("qsmm.sock".into())
        );
        assert_eq!(
            parse(&["m.img", "--socket", "/run/q.sock"])
                .unwrap()
                .endpoint(),
            Endpoint::Unix("/run/q.sock".into())
        );
        assert_eq!(
            parse(&["m.img", "--listen", "127.0.0.1:10809"])
                .unwrap()
                .endpoint(),
            Endpoint::Tcp("127.0.0.1:10809".parse().unwrap())
        );
        assert!(parse(&["m.img", "--listen", "localhost"]).is_err());
        assert!(parse(&["m.img", "--socket", "s", "--listen", "127.0.0.1:1"]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn repeated_files_and_export_count() {
        let args = parse(&[
            "m.img",
            "--passphrase-file",
            "a",
            "--passphrase-file",
            "b",
            "--protect-file",
            "c",
            "--plugin",
            "p.so",
        ])
        .unwrap();
        assert_eq!(
            args.passphrase_file,
            [PathBuf::from("a"), PathBuf::from("b")]
        );
        assert_eq!(args.protect_file, [PathBuf::from("c")]);
        assert_eq!(args.plugin, Some(PathBuf::from("p.so")));
        assert_eq!(args.exports, 1);
        assert_eq!(parse(&["m.img", "--exports", "3"]).unwrap().exports, 3);
        assert!(parse(&["m.img", "--exports", "0"]).is_err());
        assert!(parse(&["m.img", "--exports", "65"]).is_err());
    }

    #[test]
    fn nbdkit_gets_file_names_only() {
        let args = nbdkit_args(
            &Endpoint::Tcp("127.0.0.1:10809".parse().unwrap()),
            Path::new("/p/pid"),
            Path::new("/x/libqsmm_nbd.so"),
            Path::new("dark.img"),
            &[PathBuf::from("/p/pw0"), PathBuf::from("/p/pw1")],
            &[PathBuf::from("/p/low")],
        );
        let args: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "--foreground",
                "--exit-with-parent",
                "--ipaddr",
                "127.0.0.1",
                "--port",
                "10809",
                "--pidfile",
                "/p/pid",
                "/x/libqsmm_nbd.so",
                "medium=dark.img",
                "passphrase-file=/p/pw0",
                "passphrase-file=/p/pw1",
                "protect=/p/low",
            ]
        );
        let unix = nbdkit_args(
            &Endpoint::Unix("s.sock".into()),
            Path::new("pid"),
            Path::new("p.so"),
            Path::new("m"),
            &[],
            &[],
        );
        assert_eq!(
            unix[2..4],
            [OsString::from("--unix"), OsString::from("s.sock")]
        );
    }

    #[test]
    fn plugin_is_found_next_to_the_program_only() {
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("qsmm");
        assert!(find_plugin(Some(&exe)).is_err());
        assert!(find_plugin(None).is_err());
        fs::write(dir.path().join(PLUGIN_FILE), b"").unwrap();
        assert_eq!(
            find_plugin(Some(&exe)).unwrap(),
            dir.path().join(PLUGIN_FILE)
        );
    }

    #[test]
    fn private_passphrase_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = write_private(dir.path(), "pw", &Zeroizing::new(b"secret".to_vec())).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"secret");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert!(write_private(dir.path(), "pw", &Zeroizing::new(b"again".to_vec())).is_err());
    }

    #[test]
    fn signals_are_a_clean_stop() {
        use std::os::unix::process::ExitStatusExt;
        assert!(exited(ExitStatus::from_raw(0)).is_ok());
        assert!(exited(ExitStatus::from_raw(15)).is_ok());
        assert!(exited(ExitStatus::from_raw(2)).is_ok());
        assert!(exited(ExitStatus::from_raw(1 << 8)).is_err());
        assert!(exited(ExitStatus::from_raw(9)).is_err());
    }
}
