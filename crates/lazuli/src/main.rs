//! The `lazuli` binary: command line and configuration, wiring of the layers, signals, logs.

#[cfg(not(target_env = "msvc"))]
mod alloc;
mod config;

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use lazuli_frontend::{server, Frontend};
use lazuli_partition::Partition;
use lazuli_stream::{LocalStore, StoreOptions};
use tokio::net::TcpListener;

use crate::config::{Cli, Settings};

/// How often the blob-data garbage collector runs.
const GC_INTERVAL: Duration = Duration::from_secs(10);
/// How often soft-deleted blobs and containers past their retention are purged. Retention is
/// counted in days, and a purge reads every blob row of the table (inline bodies included),
/// so it runs every few minutes: every 10 s it took seconds of CPU per pass once the table
/// held a few GiB of small blobs.
const PURGE_INTERVAL: Duration = Duration::from_secs(300);

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let settings = Settings::load(cli)?;
    init_logging(&settings);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .max_blocking_threads(settings.blocking_threads)
        .enable_all()
        .build()?;
    runtime.block_on(run(settings))
}

fn init_logging(settings: &Settings) {
    let default_level = if settings.debug.is_some() {
        "debug"
    } else if settings.silent {
        "warn"
    } else {
        "info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("LAZULI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    match settings
        .debug
        .as_ref()
        .and_then(|path| std::fs::File::create(path).ok())
    {
        Some(file) => builder.with_ansi(false).with_writer(std::sync::Mutex::new(file)).init(),
        None => builder.with_writer(std::io::stderr).init(),
    }
}

async fn run(settings: Settings) -> anyhow::Result<()> {
    std::fs::create_dir_all(&settings.location)
        .with_context(|| format!("creating data directory {}", settings.location.display()))?;
    let store = LocalStore::open(&settings.location, StoreOptions::default())
        .with_context(|| format!("opening data directory {}", settings.location.display()))?;
    let options = settings.partition_options();
    let partition = tokio::task::spawn_blocking(move || Partition::open(store, options))
        .await?
        .context("recovering the object table")?;
    for account in &settings.accounts {
        let (partition, name) = (partition.clone(), account.name.clone());
        let enabled = settings.versioning.contains(&account.name);
        let retention = settings.container_delete_retention_days;
        partition.set_hns(&name, settings.hns_accounts.contains(&account.name));
        tokio::task::spawn_blocking(move || {
            partition.set_versioning(&name, enabled)?;
            partition.set_container_delete_retention(&name, retention)
        })
        .await?
        .map_err(|e| anyhow::anyhow!("setting versioning for {}: {}", account.name, e.message))?;
    }
    let frontend = Frontend::new(partition.clone(), settings.frontend_config());

    let listener = TcpListener::bind((settings.blob_host.as_str(), settings.blob_port))
        .await
        .with_context(|| format!("binding {}:{}", settings.blob_host, settings.blob_port))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, data = %settings.location.display(), "Lazuli blob service listening");
    let scheme = if settings.tls.is_some() { "https" } else { "http" };
    println!(
        "Lazuli listening on {scheme}://{address} (data in {})",
        settings.location.display()
    );

    if settings.metrics_port != 0 {
        let metrics = TcpListener::bind((settings.blob_host.as_str(), settings.metrics_port))
            .await
            .with_context(|| format!("binding metrics port {}", settings.metrics_port))?;
        tokio::spawn(server::serve_metrics(metrics, frontend.clone(), stream_metrics));
    }

    let collector = partition.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(GC_INTERVAL);
        let mut last_purge: Option<tokio::time::Instant> = None;
        loop {
            ticker.tick().await;
            let partition = collector.clone();
            match tokio::task::spawn_blocking(move || partition.collect_garbage()).await {
                Ok(Ok(report)) if report.extents_deleted > 0 => {
                    tracing::info!(
                        deleted = report.extents_deleted,
                        bytes = report.bytes_reclaimed,
                        "blob data reclaimed"
                    )
                }
                Ok(Err(error)) => tracing::warn!(%error, "garbage collection failed"),
                _ => {}
            }
            // Soft-deleted blobs past their retention go here; their data on a later pass.
            if last_purge.is_some_and(|at| at.elapsed() < PURGE_INTERVAL) {
                continue;
            }
            last_purge = Some(tokio::time::Instant::now());
            let partition = collector.clone();
            match tokio::task::spawn_blocking(move || partition.purge_soft_deleted()).await {
                Ok(Ok(purged)) if purged > 0 => tracing::info!(purged, "soft-deleted blobs purged"),
                Ok(Err(error)) => tracing::warn!(%error, "purging soft-deleted blobs failed"),
                _ => {}
            }
            // Trees of purged soft-deleted directories (and of any recursive delete whose
            // collection was interrupted).
            let partition = collector.clone();
            if let Ok(Err(error)) = tokio::task::spawn_blocking(move || partition.collect_deleted_paths()).await {
                tracing::warn!(code = error.code.as_str(), "collecting deleted paths failed");
            }
        }
    });

    let tls = match &settings.tls {
        Some((cert, key)) => Some(server::tls_acceptor(cert, key).context("loading --cert/--key")?),
        None => None,
    };
    let options = server::ServeOptions {
        tls,
        ..Default::default()
    };
    server::serve_with(listener, frontend, options, shutdown_signal()).await;
    tracing::info!("stopped");
    Ok(())
}

fn stream_metrics() -> String {
    let stats = lazuli_stream::stats();
    format!(
        "# TYPE lazuli_stream_appends_total counter\nlazuli_stream_appends_total {}\n\
         # TYPE lazuli_stream_records_total counter\nlazuli_stream_records_total {}\n\
         # TYPE lazuli_stream_bytes_total counter\nlazuli_stream_bytes_total {}\n\
         # TYPE lazuli_stream_syncs_total counter\nlazuli_stream_syncs_total {}\n\
         # TYPE lazuli_stream_sync_seconds_total counter\nlazuli_stream_sync_seconds_total {}\n",
        stats.appends,
        stats.records,
        stats.bytes,
        stats.syncs,
        stats.sync_nanos_total as f64 / 1e9
    )
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: no new connections; finishing in-flight requests");
}
