//! The paravoid server: parses the configuration, sets up logging, opens the database and serves
//! until SIGTERM or SIGINT.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use paravoid::{AppState, Config};
use tokio::net::TcpListener;
use tracing_subscriber::filter::{FilterExt as _, LevelFilter, Targets};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{EnvFilter, fmt};

#[tokio::main]
async fn main() -> ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|arg| arg == "store-key")
    {
        return store_key();
    }
    let config = Config::parse();
    let wanted = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::registry()
        .with(
            fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .with_filter(wanted.and(driver_cap())),
        )
        .init();
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("paravoid failed: {err}");
            ExitCode::FAILURE
        }
    }
}

/// `paravoid store-key …`: store key maintenance, without serving.
fn store_key() -> ExitCode {
    let command =
        paravoid::StoreKeyCommand::parse_from(std::env::args_os().skip(1).collect::<Vec<_>>());
    match command.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("paravoid store-key: {err}");
            ExitCode::FAILURE
        }
    }
}

/// A filter no `RUST_LOG` can lower: the PostgreSQL driver logs each statement's parameters
/// (note ids, sealed rows, claim hashes) at debug level, so its crates log at info at most.
///
/// An event is logged only if both `RUST_LOG`'s filter and this one let it through: a directive
/// such as `tokio_postgres::query=trace` passes the first but not this one.
fn driver_cap() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        .with_target("tokio_postgres", LevelFilter::INFO)
        .with_target("postgres_protocol", LevelFilter::INFO)
        .with_target("postgres_types", LevelFilter::INFO)
        .with_target("deadpool_postgres", LevelFilter::INFO)
}

/// Opens the state, binds and serves (HTTPS if a certificate is given) until a shutdown signal.
///
/// Returns an error (so the process exits non-zero for its supervisor to restart it) if the
/// store's writer thread stops.
async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    let bind = config.bind;
    let tls = config.tls_cert.clone().zip(config.tls_key.clone());
    let config_metrics_bind = config.metrics_bind;
    let state = AppState::open(config)?;
    let listener = TcpListener::bind(bind).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(
        "paravoid listening on {} ({scheme})",
        listener.local_addr()?
    );
    // The browser code that seals and opens notes is served from here: print its hashes so an
    // operator can check them against the release's list (README) and pin them.
    for (path, hash) in paravoid::served_file_hashes() {
        tracing::info!("serving {path} sha256:{hash}");
    }
    if let Some(metrics_bind) = config_metrics_bind {
        let metrics = TcpListener::bind(metrics_bind).await?;
        tracing::info!("metrics on http://{}/metrics", metrics.local_addr()?);
        let app = paravoid::metrics_app(state.clone());
        tokio::spawn(async move {
            if let Err(err) = axum::serve(metrics, app).await {
                tracing::error!(error = %err, "the metrics listener stopped");
            }
        });
    }
    match tls {
        Some((cert, key)) => {
            let listener = listener.into_std()?;
            paravoid::serve_tls(listener, state, &cert, &key, shutdown_signal()).await?;
        }
        None => paravoid::serve(listener, state, shutdown_signal()).await?,
    }
    tracing::info!("paravoid stopped");
    Ok(())
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}
