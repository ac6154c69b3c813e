//! `cargo xtask bench volume`: one NBD client, four servers on the same disk — qemu-nbd on a
//! raw file (the ceiling), qemu-nbd on a LUKS2 image (AES-256-XTS), nbdkit with the qsmm
//! plugin on a single-snapshot medium, and on a multi-snapshot medium (the decoy written, a
//! hidden volume above it served too, the default tick) — sequential write and read of 512 MiB
//! with `nbdcopy`, 4 KiB random read and write at queue depth 1 and 16 with `fio`'s nbd engine,
//! write amplification (bytes the server wrote, from `/proc/PID/io`, over bytes the client
//! wrote: the sequential write, and 32 MiB of 4 KiB random writes at QD16), and the plugin's
//! memory (RSS of nbdkit) for a 1 GiB volume. Writes `target/bench-volume.md`.
//!
//! Every server uses the page cache and makes data durable on NBD flush (qemu-nbd's default
//! `--cache=writeback`, the plugin's `pwrite` + `fdatasync`), so the rows differ only in what
//! each server does per request.
#![allow(
    clippy::let_underscore_must_use,
    reason = "writes to a String cannot fail; cleanup of servers and files is best effort"
)]

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const MIB: u64 = 1 << 20;
/// Volume size of the speed runs.
const SIZE: u64 = 512 * MIB;
/// Volume size of the memory run.
const MEMORY_SIZE: u64 = 1024 * MIB;
/// Seconds per fio run.
const FIO_SECONDS: u32 = 10;
const PASSPHRASE: &str = "bench passphrase";

/// One server's results.
#[derive(Debug, Default, Clone)]
struct Row {
    name: &'static str,
    seq_write_mib_s: f64,
    seq_read_mib_s: f64,
    /// (rw, iodepth) → IOPS.
    random: Vec<(&'static str, u32, f64)>,
    /// Write amplification: sequential, 4 KiB random.
    write_amp: (f64, f64),
}

/// Bytes of 4 KiB random writes of the write-amplification run.
const WA_RANDOM_BYTES: u64 = 32 * MIB;

/// Runs the volume benchmark.
pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    for tool in ["nbdkit", "qemu-nbd", "qemu-img", "nbdcopy", "fio"] {
        if !on_path(tool) {
            return Err(format!(
                "`{tool}` is missing (Debian: nbdkit libnbd-bin qemu-utils fio)"
            ));
        }
    }
    let status = Command::new("cargo")
        .args(["build", "--release", "-p", "qsmm-nbd", "-p", "qsmm-cli"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build failed".into());
    }
    let release = super::target_dir().join("release");
    let plugin = release.join("libqsmm_nbd.so");
    let qsmm = release.join("qsmm");
    let dir = super::target_dir().join("bench-volume");
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
    }
    fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let pw = dir.join("pw");
    fs::write(&pw, PASSPHRASE).map_err(|e| e.to_string())?;
    let seconds = if quick { 3 } else { FIO_SECONDS };

    // Random source data so that no client or server can skip zeros.
    let source = dir.join("source.bin");
    exec(
        "head",
        &["-c", &SIZE.to_string(), "/dev/urandom"],
        Some(&source),
    )?;

    let mut rows = Vec::new();

    // 1. qemu-nbd on a raw file.
    let raw = dir.join("raw.img");
    exec(
        "qemu-img",
        &["create", "-q", "-f", "raw", s(&raw), &SIZE.to_string()],
        None,
    )?;
    let sock = dir.join("raw.sock");
    let server = spawn(
        "qemu-nbd",
        &["-t", "-e", "16", "-f", "raw", "-k", s(&sock), s(&raw)],
    )?;
    rows.push(measure(
        "qemu-nbd, raw file",
        &sock,
        "",
        &source,
        seconds,
        server,
    )?);

    // 2. qemu-nbd on a LUKS2 image, AES-256-XTS.
    let luks = dir.join("luks.img");
    let secret = format!("secret,id=s,data={PASSPHRASE}");
    exec(
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "luks",
            "--object",
            &secret,
            "-o",
            "key-secret=s,cipher-alg=aes-256,cipher-mode=xts,iter-time=10",
            s(&luks),
            &SIZE.to_string(),
        ],
        None,
    )?;
    let sock = dir.join("luks.sock");
    let opts = format!("driver=luks,key-secret=s,file.filename={}", luks.display());
    let server = spawn(
        "qemu-nbd",
        &[
            "-t",
            "-e",
            "16",
            "--object",
            &secret,
            "--image-opts",
            &opts,
            "-k",
            s(&sock),
        ],
    )?;
    rows.push(measure(
        "qemu-nbd, LUKS2 AES-256-XTS",
        &sock,
        "",
        &source,
        seconds,
        server,
    )?);

    // 3. nbdkit with the qsmm plugin.
    let medium = dir.join("medium.img");
    let medium_size = SIZE + SIZE / 2;
    exec(
        s(&qsmm),
        &["format", s(&medium), "--size", &medium_size.to_string()],
        None,
    )?;
    exec(
        s(&qsmm),
        &[
            "create",
            s(&medium),
            "--size",
            &SIZE.to_string(),
            "--passphrase-file",
            s(&pw),
        ],
        None,
    )?;
    let sock = dir.join("qsmm.sock");
    let server = nbdkit(&plugin, &medium, &[&pw], &sock)?;
    rows.push(measure(
        "nbdkit + qsmm plugin",
        &sock,
        "",
        &source,
        seconds,
        server,
    )?);
    let _ = fs::remove_file(&medium);

    // 4. The same on a multi-snapshot medium: the decoy written, a hidden volume above it
    // open and served too (so every write of the decoy is paired with a slot), the tick at its
    // default rate.
    let hidden_pw = dir.join("pw-hidden");
    fs::write(&hidden_pw, "bench hidden passphrase").map_err(|e| e.to_string())?;
    let medium = dir.join("multi.img");
    exec(
        s(&qsmm),
        &["format", s(&medium), "--size", &(2 * SIZE).to_string()],
        None,
    )?;
    exec(
        s(&qsmm),
        &[
            "create",
            s(&medium),
            "--size",
            &SIZE.to_string(),
            "--multi-snapshot",
            "--passphrase-file",
            s(&pw),
        ],
        None,
    )?;
    exec(
        s(&qsmm),
        &[
            "create",
            s(&medium),
            "--size",
            &(64 * MIB).to_string(),
            "--multi-snapshot",
            "--protect-passphrase-file",
            s(&pw),
            "--passphrase-file",
            s(&hidden_pw),
        ],
        None,
    )?;
    let sock = dir.join("multi.sock");
    let server = nbdkit(&plugin, &medium, &[&pw, &hidden_pw], &sock)?;
    rows.push(measure(
        "nbdkit + qsmm plugin, multi-snapshot",
        &sock,
        "",
        &source,
        seconds,
        server,
    )?);
    let _ = fs::remove_file(&medium);

    // Memory: nbdkit's RSS serving a 1 GiB volume, before and after writing and reading all of
    // it, beside nbdkit's own RSS with the null plugin.
    let sock = dir.join("null.sock");
    let mut null = spawn(
        "nbdkit",
        &["--foreground", "--unix", s(&sock), "null", "1G"],
    )?;
    wait_for_socket(&sock, &mut null)?;
    let baseline = rss_kib(null.id())?;
    stop(null);
    let medium = dir.join("memory.img");
    exec(
        s(&qsmm),
        &[
            "format",
            s(&medium),
            "--size",
            &(MEMORY_SIZE + MEMORY_SIZE / 4).to_string(),
        ],
        None,
    )?;
    exec(
        s(&qsmm),
        &[
            "create",
            s(&medium),
            "--size",
            &MEMORY_SIZE.to_string(),
            "--passphrase-file",
            s(&pw),
        ],
        None,
    )?;
    let sock = dir.join("memory.sock");
    let server = nbdkit(&plugin, &medium, &[&pw], &sock)?;
    let idle = rss_kib(server.id())?;
    let uri = uri(&sock, "");
    exec(
        "nbdcopy",
        &["--flush", "--", "[", "nbdkit", "pattern", "1G", "]", &uri],
        None,
    )?;
    exec("nbdcopy", &[&uri, "null:"], None)?;
    let busy = rss_kib(server.id())?;
    let peak = status_kib(server.id(), "VmHWM:")?;
    stop(server);
    let _ = fs::remove_file(&medium);

    let report = render(&rows, baseline, idle, busy, peak, quick);
    println!("\n{report}");
    let path = super::target_dir().join("bench-volume.md");
    fs::write(&path, &report).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("report written to {}", path.display());
    let _ = fs::remove_dir_all(&dir);
    Ok(())
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

fn uri(sock: &Path, export: &str) -> String {
    format!("nbd+unix:///{export}?socket={}", sock.display())
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()))
}

/// Runs a program to completion; its standard output goes to `stdout_to` if given.
fn exec(program: &str, args: &[&str], stdout_to: Option<&Path>) -> Result<String, String> {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    if let Some(path) = stdout_to {
        let file = fs::File::create(path).map_err(|e| e.to_string())?;
        command.stdout(file);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn spawn(program: &str, args: &[&str]) -> Result<Child, String> {
    Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))
}

fn nbdkit(plugin: &Path, medium: &Path, pws: &[&Path], sock: &Path) -> Result<Child, String> {
    let mut args = vec![
        "--foreground".to_owned(),
        "--unix".to_owned(),
        s(sock).to_owned(),
        s(plugin).to_owned(),
        format!("medium={}", medium.display()),
    ];
    args.extend(
        pws.iter()
            .map(|pw| format!("passphrase-file={}", pw.display())),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut child = spawn("nbdkit", &args)?;
    wait_for_socket(sock, &mut child)?;
    Ok(child)
}

fn wait_for_socket(sock: &Path, child: &mut Child) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !sock.exists() {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("server exited: {status}"));
        }
        if Instant::now() > deadline {
            return Err("server did not start".into());
        }
        thread::sleep(Duration::from_millis(20));
    }
    // The socket exists once bound; give the server a moment to listen.
    thread::sleep(Duration::from_millis(200));
    Ok(())
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

fn status_kib(pid: u32, field: &str) -> Result<u64, String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no {field} for process {pid}"))
}

/// Bytes a process has written through `write` and `pwrite` so far (`wchar`: the medium's
/// writes, whether or not the page cache absorbs them, plus small NBD replies).
fn written_bytes(pid: u32) -> Result<u64, String> {
    let io = fs::read_to_string(format!("/proc/{pid}/io")).map_err(|e| e.to_string())?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))
        .and_then(|rest| rest.trim().parse().ok())
        .ok_or_else(|| format!("no wchar for process {pid}"))
}

fn rss_kib(pid: u32) -> Result<u64, String> {
    status_kib(pid, "VmRSS:")
}

/// Runs every workload against one server, then stops it.
fn measure(
    name: &'static str,
    sock: &Path,
    export: &str,
    source: &Path,
    seconds: u32,
    mut server: Child,
) -> Result<Row, String> {
    wait_for_socket(sock, &mut server)?;
    let uri = uri(sock, export);
    println!("==> {name}");
    let mib = SIZE as f64 / MIB as f64;
    let pid = server.id();
    let before = written_bytes(pid)?;
    let start = Instant::now();
    exec("nbdcopy", &["--flush", s(source), &uri], None)?;
    let seq_write_mib_s = mib / start.elapsed().as_secs_f64();
    let seq_amp = written_bytes(pid)?.saturating_sub(before) as f64 / SIZE as f64;
    let start = Instant::now();
    exec("nbdcopy", &[&uri, "null:"], None)?;
    let seq_read_mib_s = mib / start.elapsed().as_secs_f64();
    // Write amplification of random writes, right after the flushed sequential write (so no
    // earlier write is committed inside it): a fixed amount, no ramp, a flush at the end.
    let before = written_bytes(pid)?;
    fio_run(&[
        "--name=wa",
        "--ioengine=nbd",
        &format!("--uri={uri}"),
        "--rw=randwrite",
        "--bs=4k",
        "--iodepth=16",
        &format!("--size={SIZE}"),
        &format!("--io_size={WA_RANDOM_BYTES}"),
        "--end_fsync=1",
        "--output-format=json",
    ])?;
    let random_amp = written_bytes(pid)?.saturating_sub(before) as f64 / WA_RANDOM_BYTES as f64;
    let mut random = Vec::new();
    for rw in ["randread", "randwrite"] {
        for depth in [1, 16] {
            let iops = fio(&uri, rw, depth, seconds)?;
            println!("    {rw} QD{depth}: {iops:.0} IOPS");
            random.push((rw, depth, iops));
        }
    }
    println!(
        "    seq write {seq_write_mib_s:.0} MiB/s, seq read {seq_read_mib_s:.0} MiB/s, \
         write amplification seq {seq_amp:.2}, 4K random {random_amp:.2}"
    );
    stop(server);
    Ok(Row {
        name,
        seq_write_mib_s,
        seq_read_mib_s,
        random,
        write_amp: (seq_amp, random_amp),
    })
}

/// Runs fio with `args`; its JSON report.
fn fio_run(args: &[&str]) -> Result<serde_json::Value, String> {
    let out = exec("fio", args, None)?;
    // fio's nbd engine prints a line before the JSON document.
    let json_text = out.get(out.find('{').unwrap_or(0)..).unwrap_or_default();
    serde_json::from_str(json_text).map_err(|e| format!("fio output: {e}"))
}

fn fio(uri: &str, rw: &str, depth: u32, seconds: u32) -> Result<f64, String> {
    let json = fio_run(&[
        "--name=bench",
        "--ioengine=nbd",
        &format!("--uri={uri}"),
        &format!("--rw={rw}"),
        "--bs=4k",
        &format!("--iodepth={depth}"),
        &format!("--size={SIZE}"),
        "--time_based",
        &format!("--runtime={seconds}"),
        "--ramp_time=1",
        "--output-format=json",
    ])?;
    let side = if rw == "randread" { "read" } else { "write" };
    json["jobs"][0][side]["iops"]
        .as_f64()
        .ok_or_else(|| "fio output without iops".to_owned())
}

fn render(rows: &[Row], baseline: u64, idle: u64, busy: u64, peak: u64, quick: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| server | seq write MiB/s | seq read MiB/s | 4K randread QD1 | 4K randread QD16 | 4K randwrite QD1 | 4K randwrite QD16 | WA seq | WA 4K rand |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let mut line = format!(
            "| {} | {:.0} | {:.0} |",
            row.name, row.seq_write_mib_s, row.seq_read_mib_s
        );
        for (_, _, iops) in &row.random {
            let _ = write!(line, " {iops:.0} |");
        }
        let _ = write!(line, " {:.2} | {:.2} |", row.write_amp.0, row.write_amp.1);
        let _ = writeln!(out, "{line}");
    }
    if let Some(luks) = rows.get(1) {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        for (label, qsmm) in [("qsmm", rows.get(2)), ("qsmm multi-snapshot", rows.get(3))] {
            let Some(qsmm) = qsmm else { continue };
            let _ = writeln!(
                out,
                "\n{label} / LUKS: seq write {:.2}×, seq read {:.2}×, 4K randwrite QD1 {:.2}×, QD16 {:.2}×, 4K randread QD1 {:.2}×, QD16 {:.2}×",
                ratio(qsmm.seq_write_mib_s, luks.seq_write_mib_s),
                ratio(qsmm.seq_read_mib_s, luks.seq_read_mib_s),
                ratio(qsmm.random[2].2, luks.random[2].2),
                ratio(qsmm.random[3].2, luks.random[3].2),
                ratio(qsmm.random[0].2, luks.random[0].2),
                ratio(qsmm.random[1].2, luks.random[1].2),
            );
        }
    }
    let _ = writeln!(
        out,
        "\nnbdkit RSS (KiB): null plugin {baseline}; qsmm plugin, 1 GiB volume: idle {idle}, after writing and reading it all {busy} (peak {peak}); delta over null {} KiB",
        busy.saturating_sub(baseline)
    );
    if quick {
        let _ = writeln!(out, "\n(quick run: short fio runs, numbers are rough)");
    }
    out
}
