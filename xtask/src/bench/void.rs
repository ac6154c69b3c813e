//! The void part of the report: 4 KiB throughput of our cipher beside the crate it is built on
//! (`ring`), the portable RustCrypto crate and `openssl speed` (run here as a subprocess), each
//! as a share of OpenSSL's ChaCha20-Poly1305 measured in the same run.

use std::process::Command;

use super::Measurement;

/// Bytes per operation in every row of the table.
const BYTES: f64 = 4096.0;

/// Seconds `openssl speed` measures each cipher for.
const OPENSSL_SECONDS: &str = "3";

/// The criterion groups of the table, with a label each.
const GROUPS: [(&str, &str); 4] = [
    ("void/seal_4k", "seal a 4 KiB block"),
    ("void/open_4k", "open a 4 KiB block"),
    ("void/open_4k_wrong_key", "open another key's 4 KiB block"),
    ("void/sector_encrypt_4k", "encrypt a 4096-byte sector"),
];

/// The implementations compared in each group (criterion function ids), with a label each.
const FUNCTIONS: [(&str, &str); 3] = [
    ("ours", "qsmm-void"),
    ("raw", "ring ChaCha20-Poly1305"),
    ("rustcrypto", "RustCrypto XChaCha20-Poly1305"),
];

/// The OpenSSL ciphers measured (names as `openssl speed -evp` takes them).
const OPENSSL: [&str; 2] = ["chacha20-poly1305", "aes-256-gcm"];

/// Runs `openssl speed` and renders the void table, or `None` if no void result was measured.
pub(super) fn section(results: &[Measurement]) -> Option<String> {
    if !results.iter().any(|m| m.group.starts_with("void/")) {
        return None;
    }
    let openssl: Vec<(&str, Option<f64>)> = OPENSSL
        .iter()
        .map(|&cipher| (cipher, openssl_speed(cipher)))
        .collect();
    Some(render(results, &openssl))
}

/// Renders the table from criterion medians and OpenSSL throughputs (bytes per second).
fn render(results: &[Measurement], openssl: &[(&str, Option<f64>)]) -> String {
    let baseline = openssl.first().and_then(|(_, speed)| *speed);
    let mut out = String::from(
        "\n### void: 4 KiB throughput against OpenSSL (same run)\n\n\
         | operation | implementation | GB/s | / OpenSSL ChaCha20-Poly1305 |\n|---|---|---:|---:|\n",
    );
    let ratio = |bytes_per_second: f64| {
        baseline.map_or_else(
            || "–".to_owned(),
            |b| format!("{:.2}", bytes_per_second / b),
        )
    };
    for (group, label) in GROUPS {
        for (function, implementation) in FUNCTIONS {
            let Some(m) = results
                .iter()
                .find(|m| m.group == group && m.function == function)
            else {
                continue;
            };
            let speed = BYTES / m.median_ns * 1e9;
            out.push_str(&format!(
                "| {label} | {implementation} | {:.2} | {} |\n",
                speed / 1e9,
                ratio(speed)
            ));
        }
    }
    for (cipher, speed) in openssl {
        match speed {
            Some(speed) => out.push_str(&format!(
                "| `openssl speed -evp {cipher} -bytes 4096` | OpenSSL | {:.2} | {} |\n",
                speed / 1e9,
                ratio(*speed)
            )),
            None => out.push_str(&format!(
                "| `openssl speed -evp {cipher} -bytes 4096` | OpenSSL | not available | – |\n"
            )),
        }
    }
    out
}

/// Bytes per second of `openssl speed -evp cipher` on 4096-byte buffers, or `None` if openssl
/// is missing or its output cannot be read.
fn openssl_speed(cipher: &str) -> Option<f64> {
    println!("==> openssl speed -evp {cipher} -bytes 4096 -seconds {OPENSSL_SECONDS} -mr");
    let output = Command::new("openssl")
        .args(["speed", "-evp", cipher, "-bytes", "4096"])
        .args(["-seconds", OPENSSL_SECONDS, "-mr"])
        .output();
    match output {
        Ok(output) if output.status.success() => {
            parse_openssl(&String::from_utf8_lossy(&output.stdout))
        }
        Ok(output) => {
            eprintln!("xtask: openssl speed {cipher} failed: {}", output.status);
            None
        }
        Err(e) => {
            eprintln!("xtask: cannot run openssl: {e}");
            None
        }
    }
}

/// Reads the machine-readable (`-mr`) result line `+F:<n>:<cipher>:<bytes per second>...`.
fn parse_openssl(stdout: &str) -> Option<f64> {
    stdout
        .lines()
        .find_map(|line| line.strip_prefix("+F:"))
        .and_then(|fields| fields.split(':').nth(2))
        .and_then(|speed| speed.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_openssl_machine_readable_output() {
        let stdout = "+DT:ChaCha20-Poly1305:3:4096\n+R:1000:ChaCha20-Poly1305:3.0\n\
                      +H:4096\n+F:25:ChaCha20-Poly1305:4700000000.00\n";
        assert_eq!(parse_openssl(stdout), Some(4.7e9));
        assert_eq!(parse_openssl("no result here\n"), None);
        assert_eq!(parse_openssl("+F:25:x:not-a-number\n"), None);
    }

    #[test]
    fn renders_ratios_to_openssl_chacha() {
        let results = vec![
            Measurement {
                group: "void/seal_4k".into(),
                function: "ours".into(),
                parameter: None,
                median_ns: 1638.4,
            },
            Measurement {
                group: "void/open_4k".into(),
                function: "rustcrypto".into(),
                parameter: None,
                median_ns: 4096.0,
            },
        ];
        let table = render(
            &results,
            &[("chacha20-poly1305", Some(5e9)), ("aes-256-gcm", None)],
        );
        assert!(
            table.contains("| seal a 4 KiB block | qsmm-void | 2.50 | 0.50 |"),
            "{table}"
        );
        assert!(
            table.contains("| open a 4 KiB block | RustCrypto XChaCha20-Poly1305 | 1.00 | 0.20 |"),
            "{table}"
        );
        assert!(table.contains("chacha20-poly1305 -bytes 4096` | OpenSSL | 5.00 | 1.00 |"));
        assert!(table.contains("aes-256-gcm -bytes 4096` | OpenSSL | not available | – |"));
    }
}
