//! `mimi-ds`: run the reference Delivery Service. `mimi-ds --help` lists the flags.
#![forbid(unsafe_code)]

use clap::Parser as _;
use mimi_ds::{Config, LogFormat};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cfg = Config::parse();
    let filter = EnvFilter::try_from_env("MIMI_DS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    match cfg.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_env_filter(filter)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt().json().with_writer(std::io::stderr).with_env_filter(filter).init(),
    }
    let ds = match mimi_ds::start(cfg).await {
        Ok(ds) => ds,
        Err(e) => {
            tracing::error!(error = %e, "could not start");
            return std::process::ExitCode::FAILURE;
        }
    };
    let addr = ds.addr;
    // Print the bound address on stdout (useful with --listen 127.0.0.1:0).
    println!("listening on http://{addr}");
    if let Err(e) = shutdown_signal().await {
        tracing::error!(error = %e, "signal handler");
    }
    tracing::info!("shutting down");
    ds.shutdown().await;
    std::process::ExitCode::SUCCESS
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
