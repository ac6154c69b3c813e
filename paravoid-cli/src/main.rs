//! The `paravoid-cli` binary: see the crate's README for commands and exit codes.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use paravoid_cli::{CliError, Link, OwnLink, RequestLink, Result, ServerUrl};
use zeroize::Zeroizing;

/// Send and open paravoid's end-to-end notes: sealed on this machine, opened once.
#[derive(Debug, Parser)]
#[command(name = "paravoid-cli", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Seal the message on standard input, store it, and print its one-time link.
    Send {
        /// The paravoid server: the address of its page, with https:// (or http://).
        #[arg(long, env = "PARAVOID_SERVER", value_name = "URL")]
        server: String,
        /// How long the note waits to be read: seconds, or with a unit (30m, 1h, 7d).
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// Also protect the note with a passphrase, asked for without echo.
        #[arg(long, conflicts_with = "passphrase_file")]
        passphrase: bool,
        /// Also protect the note with the passphrase in this file (one final line break is
        /// dropped).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// Attach this file (repeat for more, at most 32); the message may then be empty.
        #[arg(long = "file", value_name = "FILE")]
        files: Vec<PathBuf>,
        /// Ask for a read receipt: its status token is printed on a second line, for
        /// `paravoid-cli status`.
        #[arg(long)]
        receipt: bool,
        /// Have the server call this https URL, signed, when the note goes (implies --receipt):
        /// the webhook's id and signing secret are printed on a third line.
        #[arg(long, value_name = "URL")]
        webhook: Option<String>,
    },
    /// Ask someone for a secret: print a request link to send them (first line) and the link
    /// that opens their answer (second line, keep it to yourself).
    Request {
        /// The paravoid server: the address of its page, with https:// (or http://).
        #[arg(long, env = "PARAVOID_SERVER", value_name = "URL")]
        server: String,
        /// How long the request waits for an answer: seconds, or with a unit (30m, 1h, 7d).
        #[arg(long, value_name = "DURATION")]
        ttl: Option<String>,
        /// How long the answer then waits to be opened.
        #[arg(long, value_name = "DURATION")]
        response_ttl: Option<String>,
    },
    /// Answer a request link with the secret on standard input, sealed to the requester.
    Respond {
        /// The request link, `<server>/r/<id>#req.<key>` (quote it for the shell).
        link: String,
        /// Attach this file (repeat for more, at most 32); the message may then be empty.
        #[arg(long = "file", value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print whether a note created with a read receipt was revealed, expired or destroyed
    /// (`pending` while it waits), and the minute of the change.
    Status {
        /// The paravoid server: the address of its page, with https:// (or http://).
        #[arg(long, env = "PARAVOID_SERVER", value_name = "URL")]
        server: String,
        /// The status token answered once when the note was created with a receipt.
        token: String,
    },
    /// Claim and open the note of an end-to-end link (it is then gone from the server).
    Open {
        /// The link, `<server>/s/<id>#e2e.<keys>`, or the link of your own request,
        /// `<server>/r/<id>#own.<keys>` (quote it for the shell).
        link: String,
        /// Write the message to DIR/message.txt instead of standard output, and the files of
        /// the note or answer into DIR (without it, files go to the current directory).
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: Option<PathBuf>,
        /// The note's passphrase, from this file, if it has one (else asked without echo).
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _printed = writeln!(std::io::stderr(), "paravoid-cli: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

fn run(command: Command) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::io("start the runtime", err))?;
    match command {
        Command::Send {
            server,
            ttl,
            passphrase,
            passphrase_file,
            files,
            receipt,
            webhook,
        } => {
            let server = ServerUrl::parse(&server)?;
            let ttl_secs = ttl.as_deref().map(paravoid_cli::parse_ttl).transpose()?;
            let passphrase = match (passphrase, passphrase_file) {
                (_, Some(path)) => Some(paravoid_cli::passphrase_from_file(&path)?),
                (true, None) => Some(paravoid_cli::prompt_passphrase(true)?),
                (false, None) => None,
            };
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                if files.is_empty() {
                    eprintln!("Type the message, then Ctrl-D on a line of its own.");
                } else {
                    eprintln!("Type the message (or none), then Ctrl-D on a line of its own.");
                }
            }
            let message = if files.is_empty() {
                paravoid_cli::read_message(stdin.lock())?
            } else {
                paravoid_cli::input::read_bounded(
                    stdin.lock(),
                    paravoid_cli::input::MAX_MESSAGE_BYTES,
                    "standard input",
                )?
            };
            warn_if_plaintext(&server);
            let mut options =
                paravoid_cli::SendOptions::new(passphrase.as_deref().map(Vec::as_slice), ttl_secs);
            if receipt {
                options = options.with_receipt();
            }
            if let Some(url) = &webhook {
                options = options.with_webhook(url);
            }
            let receipt = receipt || webhook.is_some();
            let sent =
                runtime.block_on(paravoid_cli::send_note(&server, &message, &files, options))?;
            if receipt && sent.receipt.is_none() {
                eprintln!("paravoid-cli: the server issued no read receipt (it predates them).");
            }
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", sent.link.to_text().as_str())
                .and_then(|()| match &sent.receipt {
                    Some(token) => writeln!(out, "{}", token.as_str()),
                    None => Ok(()),
                })
                .and_then(|()| match &sent.webhook {
                    Some(keys) => writeln!(out, "{} {}", keys.id(), keys.secret()),
                    None => Ok(()),
                })
                .and_then(|()| out.flush())
                .map_err(|err| CliError::io("write standard output", err))?;
            let reminder = if passphrase.is_some() {
                "; the reader also needs the passphrase"
            } else {
                ""
            };
            eprintln!(
                "The link opens once, until {}{reminder}.",
                paravoid_cli::utc_time(sent.expires_at)
            );
            if sent.receipt.is_some() {
                eprintln!(
                    "The second line is the read receipt's token: paravoid-cli status TOKEN."
                );
            }
            if sent.webhook.is_some() {
                eprintln!(
                    "The third line is the webhook's id (the token of its call) and its signing \
                     secret."
                );
            }
            Ok(())
        }
        Command::Request {
            server,
            ttl,
            response_ttl,
        } => {
            let server = ServerUrl::parse(&server)?;
            let ttl_secs = ttl.as_deref().map(paravoid_cli::parse_ttl).transpose()?;
            let response_ttl_secs = response_ttl
                .as_deref()
                .map(paravoid_cli::parse_ttl)
                .transpose()?;
            warn_if_plaintext(&server);
            let requested =
                runtime.block_on(paravoid_cli::request(&server, ttl_secs, response_ttl_secs))?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", requested.request_link.to_text().as_str())
                .and_then(|()| writeln!(out, "{}", requested.own_link.to_text().as_str()))
                .and_then(|()| out.flush())
                .map_err(|err| CliError::io("write standard output", err))?;
            eprintln!(
                "Send the first link to whoever holds the secret; it takes one answer until {}. \
                 Keep the second link: `paravoid-cli open` with it opens the answer once.",
                paravoid_cli::utc_time(requested.expires_at)
            );
            Ok(())
        }
        Command::Status { server, token } => {
            let server = ServerUrl::parse(&server)?;
            let receipt = runtime.block_on(paravoid_cli::receipt_status(&server, &token))?;
            let mut out = std::io::stdout().lock();
            writeln!(
                out,
                "{} {}",
                receipt.status.as_str(),
                paravoid_cli::utc_time(receipt.at)
            )
            .and_then(|()| out.flush())
            .map_err(|err| CliError::io("write standard output", err))
        }
        Command::Respond { link, files } => {
            let link = RequestLink::parse(&Zeroizing::new(link))?;
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                if files.is_empty() {
                    eprintln!("Type the secret, then Ctrl-D on a line of its own.");
                } else {
                    eprintln!("Type the secret (or none), then Ctrl-D on a line of its own.");
                }
            }
            let message = if files.is_empty() {
                paravoid_cli::read_message(stdin.lock())?
            } else {
                paravoid_cli::input::read_bounded(
                    stdin.lock(),
                    paravoid_cli::input::MAX_MESSAGE_BYTES,
                    "standard input",
                )?
            };
            warn_if_plaintext(&link.server);
            let expires_at =
                runtime.block_on(paravoid_cli::respond_with_files(&link, &message, &files))?;
            eprintln!(
                "Sent: only the requester can open it, once, until {}.",
                paravoid_cli::utc_time(expires_at)
            );
            Ok(())
        }
        Command::Open {
            link,
            output,
            passphrase_file,
        } => {
            let link = Zeroizing::new(link);
            let dir = output.clone().unwrap_or_else(|| PathBuf::from("."));
            let (opened, id) = if OwnLink::is_own_link(&link) {
                let link = OwnLink::parse(&link)?;
                warn_if_plaintext(&link.server);
                let opened = runtime.block_on(paravoid_cli::open_answer_into(&link, &dir))?;
                (opened, link.id)
            } else {
                let link = Link::parse(&link)?;
                warn_if_plaintext(&link.server);
                let opened = runtime.block_on(paravoid_cli::open_into(
                    &link,
                    || match passphrase_file {
                        Some(path) => paravoid_cli::passphrase_from_file(&path),
                        None => paravoid_cli::prompt_passphrase(false),
                    },
                    &dir,
                ))?;
                (opened, link.id)
            };
            for file in &opened.files {
                eprintln!("Wrote {} ({} bytes).", file.path.display(), file.size);
            }
            let message = opened.message;
            if message.is_empty() && !opened.files.is_empty() {
                return Ok(());
            }
            match output {
                Some(dir) => {
                    // A file of the note may be called message.txt: the message then takes a
                    // name of its own rather than fail after the note is gone.
                    let name = if opened
                        .files
                        .iter()
                        .any(|file| file.path.file_name() == Some("message.txt".as_ref()))
                    {
                        format!("message-{}.txt", id.simple())
                    } else {
                        "message.txt".to_owned()
                    };
                    let path = paravoid_cli::write_new_file(&dir, &name, &message)?;
                    eprintln!("Wrote {}.", path.display());
                }
                // Text with escape sequences could act on the terminal: such a message goes to
                // a new file instead, so it is neither run nor lost (the server no longer has it).
                None if std::io::stdout().is_terminal()
                    && !paravoid_cli::is_plain_text(&message) =>
                {
                    let name = format!("paravoid-{}.bin", id.simple());
                    let path = paravoid_cli::write_new_file(Path::new("."), &name, &message)?;
                    eprintln!(
                        "The message is not plain text: wrote it to {} instead of the terminal.",
                        path.display()
                    );
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(&message)
                        .and_then(|()| out.flush())
                        .map_err(|err| CliError::io("write standard output", err))?;
                }
            }
            Ok(())
        }
    }
}

/// Warns on standard error when notes travel unencrypted over the network: the sealed note is
/// safe, but an observer could claim (burn) it with the tokens it sees.
fn warn_if_plaintext(server: &ServerUrl) {
    if server.is_plaintext_remote() {
        eprintln!(
            "warning: {server} is plain HTTP: anyone on the way can see the request and burn the note"
        );
    }
}
