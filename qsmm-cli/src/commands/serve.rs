//! `qsmm serve`: exports volumes over NBD with nbdkit and the `qsmm-nbd` plugin.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::Duration;

use clap::Args;
use qsmm_nbd::PluginParams;

use crate::interrupt::Interrupt;
use crate::nbdkit::{PassphrasePipe, terminate, wait_ready};
use crate::passphrase::Sources;

/// How `qsmm serve --help` ends: how to use the export.
const AFTER_HELP: &str = "\
Each passphrase opens one volume; all are opened together and protect each other. Export \"0\"
(also the default export \"\") is the first volume, \"1\" the second, and so on. Passphrases
are asked on the terminal without echo (once per --exports) unless given with
--passphrase-file or --passphrase-fd; they reach nbdkit through a pipe, never through a file
or the command line.

To mount a volume as a directory, `qsmm mount` does all of this in one command. By hand:

Mount on a Linux machine with the nbd kernel module:
    qsmm serve dark.img --socket /run/qsmm/qsmm.sock &
    modprobe nbd
    nbd-client -unix /run/qsmm/qsmm.sock /dev/nbd0 -N 0
    mkfs.ext4 /dev/nbd0            # the first time only
    mount /dev/nbd0 /mnt
    ...
    umount /mnt && nbd-client -d /dev/nbd0

Stop the server with Ctrl-C or SIGTERM: nbdkit flushes and closes the volumes. Writes are
committed at most --commit-interval seconds after they are made (default 5): a crash of the
server loses at most that much. On a multi-snapshot medium the server writes --tick-rate
blocks of cover traffic per second while it runs, which carry the hidden volumes' writes.

The NBD socket (by default in a new private 0700 directory) lets anyone who can connect read
and write the volumes. --listen on an address other than loopback requires TLS (--tls-psk, or
--tls-cert and --tls-key) unless --insecure-listen is given.";

/// Arguments of `qsmm serve`.
#[derive(Debug, Args)]
#[command(after_long_help = AFTER_HELP)]
pub(crate) struct ServeArgs {
    /// The medium: an image file or a block device made by `qsmm format`.
    medium: PathBuf,
    /// Serve on this Unix socket (default: nbd.sock in a new private directory).
    #[arg(long, value_name = "PATH", conflicts_with = "listen")]
    socket: Option<PathBuf>,
    /// Serve on this TCP address instead, e.g. 127.0.0.1:10809.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// TLS with this pre-shared-key file (nbdkit's PSK format, `username:hexkey` lines).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["tls_cert", "tls_key"])]
    tls_psk: Option<PathBuf>,
    /// TLS with this certificate (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// DANGER: allow --listen on a non-loopback address without TLS (anyone on the network can
    /// then read and write the volumes).
    #[arg(long)]
    insecure_listen: bool,
    /// A file holding the passphrase of a volume to export; repeat for several volumes.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Vec<PathBuf>,
    /// Read passphrases of volumes to export from this inherited descriptor, one per line.
    #[arg(long, value_name = "N")]
    passphrase_fd: Option<u32>,
    /// A file holding the passphrase of a volume to protect but not export; repeatable.
    #[arg(long, value_name = "FILE")]
    protect_file: Vec<PathBuf>,
    /// How many passphrases to ask for on the terminal when none is given otherwise.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=64))]
    exports: u8,
    /// Commit each volume at most this many seconds after its first unsaved write (0: only
    /// when a client flushes).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    commit_interval: u64,
    /// Multi-snapshot media: blocks of cover traffic written per second while served,
    /// whatever the volumes do (default 256; 0: a fixed number per mount instead, and a hidden
    /// volume's flush writes at once).
    #[arg(long, value_name = "SLOTS", value_parser = clap::value_parser!(u32).range(0..=16_384))]
    tick_rate: Option<u32>,
    /// Export the volumes read-only.
    #[arg(long)]
    readonly: bool,
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
    Tcp(SocketAddr),
}

/// nbdkit's TLS setting.
#[derive(Debug, PartialEq, Eq)]
enum Tls {
    Off,
    Psk(PathBuf),
    /// A directory holding `server-cert.pem` and `server-key.pem`.
    Certificates(PathBuf),
}

impl ServeArgs {
    fn endpoint(&self, private: &Path) -> Endpoint {
        match (&self.listen, &self.socket) {
            (Some(addr), _) => Endpoint::Tcp(*addr),
            (None, Some(path)) => Endpoint::Unix(path.clone()),
            (None, None) => Endpoint::Unix(private.join("nbd.sock")),
        }
    }

    /// Refuses plaintext NBD on a non-loopback address unless asked for explicitly.
    fn check_network(&self) -> Result<(), String> {
        let tls = self.tls_psk.is_some() || self.tls_cert.is_some();
        match self.listen {
            Some(addr) if !addr.ip().is_loopback() && !tls && !self.insecure_listen => {
                Err(format!(
                    "--listen {addr} would export the volumes unencrypted and unauthenticated to the \
                 network: give --tls-psk FILE (or --tls-cert and --tls-key), or --insecure-listen"
                ))
            }
            _ => Ok(()),
        }
    }

    /// The TLS setting; certificates are linked into `private` under the names nbdkit expects.
    fn tls(&self, private: &Path) -> Result<Tls, String> {
        if let Some(psk) = &self.tls_psk {
            return Ok(Tls::Psk(absolute(psk)?));
        }
        let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) else {
            return Ok(Tls::Off);
        };
        let dir = private.join("tls");
        std::fs::create_dir(&dir).map_err(|e| format!("cannot make a private directory: {e}"))?;
        for (from, name) in [(cert, "server-cert.pem"), (key, "server-key.pem")] {
            std::os::unix::fs::symlink(absolute(from)?, dir.join(name))
                .map_err(|e| format!("cannot link {}: {e}", from.display()))?;
        }
        Ok(Tls::Certificates(dir))
    }
}

/// Runs `qsmm serve`.
pub(crate) fn run(args: &ServeArgs) -> Result<(), String> {
    let interrupt = Interrupt::install()?;
    if !args.medium.exists() {
        return Err(format!(
            "the medium {} does not exist",
            args.medium.display()
        ));
    }
    args.check_network()?;
    let plugin = crate::nbdkit::plugin(args.plugin.as_deref())?;
    let sources = Sources {
        files: args.passphrase_file.clone(),
        fd: args.passphrase_fd,
    };
    let passphrases = sources.read_all(Some(args.exports))?;
    interrupt.prompts_done();
    // A private directory (0700) for the pidfile, the default socket and TLS links; no secret
    // is ever written to it.
    let private = tempfile::Builder::new()
        .prefix("qsmm-serve-")
        .tempdir()
        .map_err(|e| format!("cannot make a private directory: {e}"))?;
    let pidfile = private.path().join("nbdkit.pid");
    let endpoint = args.endpoint(private.path());
    let tls = args.tls(private.path())?;
    let pipe = PassphrasePipe::new()?;
    let mut params = PluginParams::new(&args.medium);
    params.passphrase_fd = Some(pipe.fd());
    params.protect_files.clone_from(&args.protect_file);
    params.commit_interval = Some(Duration::from_secs(args.commit_interval));
    params.tick_rate = args.tick_rate;
    let command = nbdkit_args(&endpoint, &tls, args.readonly, &pidfile, &plugin, &params);
    let mut child = Command::new(&args.nbdkit)
        .args(&command)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", args.nbdkit.display()))?;
    let sent = pipe.send(&passphrases);
    drop(passphrases);
    if let Some(status) = wait_ready(&mut child, &pidfile, &|| interrupt.stopped())? {
        return exited(status);
    }
    sent?;
    let count = params_count(&args.passphrase_file, args.passphrase_fd, args.exports);
    match &endpoint {
        Endpoint::Unix(path) => eprintln!(
            "qsmm: serving {count} on nbd+unix:///0?socket={} (Ctrl-C stops)",
            path.display()
        ),
        Endpoint::Tcp(addr) => {
            let scheme = if tls == Tls::Off { "nbd" } else { "nbds" };
            eprintln!("qsmm: serving {count} on {scheme}://{addr}/0 (Ctrl-C stops)");
        }
    }
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if interrupt.stopped() {
            break terminate(&mut child)?;
        }
        thread::sleep(Duration::from_millis(50));
    };
    drop(private);
    exited(status)
}

/// "N export(s)" when the count is known without the passphrases, else "the export(s)".
fn params_count(files: &[PathBuf], fd: Option<u32>, exports: u8) -> String {
    match (files.len(), fd) {
        (0, None) => format!("{exports} export(s)"),
        (n, None) => format!("{n} export(s)"),
        _ => "the export(s)".to_owned(),
    }
}

/// nbdkit's arguments: foreground, the endpoint, TLS, a pidfile that tells when it serves, the
/// plugin and its parameters. No passphrase and no count of volumes is among them.
fn nbdkit_args(
    endpoint: &Endpoint,
    tls: &Tls,
    readonly: bool,
    pidfile: &Path,
    plugin: &Path,
    params: &PluginParams,
) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec!["--foreground".into(), "--exit-with-parent".into()];
    if readonly {
        out.push("--readonly".into());
    }
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
    match tls {
        Tls::Off => {}
        Tls::Psk(file) => {
            out.push("--tls=require".into());
            let mut arg = OsString::from("--tls-psk=");
            arg.push(file);
            out.push(arg);
        }
        Tls::Certificates(dir) => {
            out.push("--tls=require".into());
            let mut arg = OsString::from("--tls-certificates=");
            arg.push(dir);
            out.push(arg);
        }
    }
    out.push("--pidfile".into());
    out.push(pidfile.into());
    out.push(plugin.into());
    out.extend(params.to_args());
    out
}

/// A path made absolute against the working directory (nbdkit resolves its own).
fn absolute(path: &Path) -> Result<PathBuf, String> {
    std::path::absolute(path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))
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
        let private = Path::new("/private");
        assert_eq!(
            parse(&["m.img"]).unwrap().endpoint(private),
            Endpoint::Unix("/private/nbd.sock".into())
        );
        assert_eq!(
            parse(&["m.img", "--socket", "/run/q.sock"])
                .unwrap()
                .endpoint(private),
            Endpoint::Unix("/run/q.sock".into())
        );
        assert_eq!(
            parse(&["m.img", "--listen", "127.0.0.1:10809"])
                .unwrap()
                .endpoint(private),
            Endpoint::Tcp("127.0.0.1:10809".parse().unwrap())
        );
        assert!(parse(&["m.img", "--listen", "localhost"]).is_err());
        assert!(parse(&["m.img", "--socket", "s", "--listen", "127.0.0.1:1"]).is_err());
        assert!(parse(&[]).is_err());
    }

    #[test]
    fn the_network_needs_tls_or_an_explicit_danger_flag() {
        let check = |args: &[&str]| parse(args).unwrap().check_network();
        assert!(check(&["m", "--listen", "127.0.0.1:1"]).is_ok());
        assert!(check(&["m", "--listen", "[::1]:1"]).is_ok());
        let err = check(&["m", "--listen", "0.0.0.0:1"]).unwrap_err();
        assert!(err.contains("--tls-psk"), "{err}");
        assert!(check(&["m", "--listen", "192.0.2.1:1"]).is_err());
        assert!(check(&["m", "--listen", "0.0.0.0:1", "--tls-psk", "k"]).is_ok());
        assert!(
            check(&[
                "m",
                "--listen",
                "0.0.0.0:1",
                "--tls-cert",
                "c",
                "--tls-key",
                "k"
            ])
            .is_ok()
        );
        assert!(check(&["m", "--listen", "0.0.0.0:1", "--insecure-listen"]).is_ok());
        assert!(parse(&["m", "--tls-cert", "c"]).is_err());
        assert!(parse(&["m", "--tls-psk", "p", "--tls-cert", "c", "--tls-key", "k"]).is_err());
    }

    #[test]
    fn repeated_files_export_count_and_interval() {
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
        assert_eq!(args.commit_interval, 5);
        assert!(!args.readonly);
        assert_eq!(parse(&["m.img", "--exports", "3"]).unwrap().exports, 3);
        assert!(parse(&["m.img", "--exports", "0"]).is_err());
        assert!(parse(&["m.img", "--exports", "65"]).is_err());
        assert_eq!(
            parse(&["m.img", "--commit-interval", "0"])
                .unwrap()
                .commit_interval,
            0
        );
        assert!(parse(&["m.img", "--commit-interval", "-1"]).is_err());
        assert_eq!(args.tick_rate, None);
        let rate = parse(&["m.img", "--tick-rate", "1000"]).unwrap();
        assert_eq!(rate.tick_rate, Some(1000));
        assert!(parse(&["m.img", "--tick-rate", "16385"]).is_err());
    }

    #[test]
    fn nbdkit_gets_no_passphrase_and_no_count_of_volumes() {
        let mut params = PluginParams::new("dark.img");
        params.passphrase_fd = Some(7);
        params.protect_files = vec![PathBuf::from("/p/low")];
        params.commit_interval = Some(Duration::from_secs(5));
        let args = nbdkit_args(
            &Endpoint::Tcp("0.0.0.0:10809".parse().unwrap()),
            &Tls::Psk("/k/psk".into()),
            true,
            Path::new("/p/pid"),
            Path::new("/x/libqsmm_nbd.so"),
            &params,
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
                "--readonly",
                "--ipaddr",
                "0.0.0.0",
                "--port",
                "10809",
                "--tls=require",
                "--tls-psk=/k/psk",
                "--pidfile",
                "/p/pid",
                "/x/libqsmm_nbd.so",
                "medium=dark.img",
                "passphrase-fd=7",
                "protect=/p/low",
                "commit-interval=5",
            ]
        );
        let unix = nbdkit_args(
            &Endpoint::Unix("s.sock".into()),
            &Tls::Off,
            false,
            Path::new("pid"),
            Path::new("p.so"),
            &PluginParams::new("m"),
        );
        assert_eq!(
            unix[2..4],
            [OsString::from("--unix"), OsString::from("s.sock")]
        );
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
