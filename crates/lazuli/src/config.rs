//! Configuration: command-line flags named like the emulator's, `LAZULI_*` environment
//! variables, an optional TOML file, and extra accounts from `AZURITE_ACCOUNTS`.
//! Precedence: flag, then environment, then file, then default.

use std::path::PathBuf;

use anyhow::{bail, Context};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use clap::Parser;
use lazuli_frontend::{Account, FrontendConfig};
use serde::Deserialize;

/// The development account every Azure SDK knows (`UseDevelopmentStorage=true`).
pub const DEV_ACCOUNT: &str = "devstoreaccount1";
pub const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// Memtable size that triggers a checkpoint. Small blobs ride inline in their rows, so the
/// memtable holds their bodies: two of them (active and frozen) plus the block cache are most
/// of the server's memory, and together they must stay well under the 256 MiB the server is
/// allowed. 32 MiB still gives checkpoints of ~8,000 4 KiB blobs, few enough flushes per
/// second that compaction keeps up.
pub const MEMTABLE_MIB_DEFAULT: usize = 32;
/// Decoded checkpoint blocks kept in memory. Reads of recent rows come from the memtables;
/// the cache serves the hot part of older ones.
pub const BLOCK_CACHE_MIB_DEFAULT: usize = 32;
/// Threads for blocking partition calls. Each request in flight holds one until its write is
/// durable, so this bounds both the requests that share a group commit and the thread
/// count (every thread's stack and allocator cache is memory). 64 is enough for a group commit
/// to cover 64 concurrent writers; more requests wait in the pool's queue.
pub const BLOCKING_THREADS_DEFAULT: usize = 64;

#[derive(Parser, Debug, Default)]
#[command(name = "lazuli", version, about = "An Azure Blob Storage compatible storage server")]
pub struct Cli {
    /// Address to listen on.
    #[arg(long = "blobHost", env = "LAZULI_BLOB_HOST")]
    pub blob_host: Option<String>,
    /// Port to listen on (0 picks a free port).
    #[arg(long = "blobPort", env = "LAZULI_BLOB_PORT")]
    pub blob_port: Option<u16>,
    /// Data directory.
    #[arg(long = "location", short = 'l', env = "LAZULI_LOCATION")]
    pub location: Option<PathBuf>,
    /// Accept requests the service would refuse for unsupported headers.
    #[arg(long = "loose", short = 'L', env = "LAZULI_LOOSE")]
    pub loose: bool,
    /// Accepted for compatibility: Lazuli never refuses a request for its API version.
    #[arg(long = "skipApiVersionCheck", env = "LAZULI_SKIP_API_VERSION_CHECK")]
    pub skip_api_version_check: bool,
    /// Write a debug log (every request) to this file.
    #[arg(long = "debug", short = 'd', env = "LAZULI_DEBUG")]
    pub debug: Option<PathBuf>,
    /// Log only warnings and errors.
    #[arg(long = "silent", short = 's', env = "LAZULI_SILENT")]
    pub silent: bool,
    /// Prometheus metrics port (0 disables).
    #[arg(long = "metricsPort", env = "LAZULI_METRICS_PORT")]
    pub metrics_port: Option<u16>,
    /// PEM certificate chain: serve HTTPS instead of HTTP.
    #[arg(long = "cert", env = "LAZULI_CERT", requires = "key")]
    pub cert: Option<PathBuf>,
    /// PEM private key for `--cert`.
    #[arg(long = "key", env = "LAZULI_KEY", requires = "cert")]
    pub key: Option<PathBuf>,
    /// PEM files (comma-separated) of CA certificates trusted for `https://` copy sources,
    /// besides the platform's bundle.
    #[arg(long = "copySourceCaFile", env = "LAZULI_COPY_SOURCE_CA_FILE", value_delimiter = ',')]
    pub copy_source_ca_files: Vec<PathBuf>,
    /// A TOML configuration file.
    #[arg(long = "config", env = "LAZULI_CONFIG")]
    pub config: Option<PathBuf>,
}

#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
struct FileConfig {
    blob_host: Option<String>,
    blob_port: Option<u16>,
    location: Option<PathBuf>,
    loose: Option<bool>,
    metrics_port: Option<u16>,
    /// Extra accounts as `name:key1[:key2]`.
    #[serde(default)]
    accounts: Vec<String>,
    /// Accounts with blob versioning on (in the service an account property set through ARM,
    /// not the Blob API). Also from `LAZULI_VERSIONING` (names separated by `,` or `;`).
    #[serde(default)]
    versioning: Vec<String>,
    /// Container soft delete for every account: days a deleted container is kept (restorable
    /// with Restore Container). Also from `LAZULI_CONTAINER_DELETE_RETENTION_DAYS`.
    container_delete_retention_days: Option<u32>,
    /// Accounts with a hierarchical namespace (ADLS Gen2, `docs/rfcs/0001-hierarchical-namespace.md`).
    /// Also from `LAZULI_HNS_ACCOUNTS` (names separated by `,` or `;`; empty: none). Default:
    /// the development account.
    hns_accounts: Option<Vec<String>>,
    /// Memtable size in MiB (also `LAZULI_MEMTABLE_MIB`); see [`MEMTABLE_MIB_DEFAULT`].
    memtable_mib: Option<usize>,
    /// Block cache size in MiB (also `LAZULI_BLOCK_CACHE_MIB`).
    block_cache_mib: Option<usize>,
    /// Threads for blocking partition calls (also `LAZULI_BLOCKING_THREADS`).
    blocking_threads: Option<usize>,
}

#[derive(Debug)]
pub struct Settings {
    pub blob_host: String,
    pub blob_port: u16,
    pub location: PathBuf,
    pub loose: bool,
    pub skip_api_version_check: bool,
    pub debug: Option<PathBuf>,
    pub silent: bool,
    pub metrics_port: u16,
    pub accounts: Vec<Account>,
    pub tls: Option<(PathBuf, PathBuf)>,
    pub copy_source_ca_files: Vec<PathBuf>,
    /// Accounts with blob versioning on; applied at every start (the configuration decides).
    pub versioning: Vec<String>,
    /// Days deleted containers are kept, if container soft delete is on (1..=365).
    pub container_delete_retention_days: Option<u32>,
    /// Accounts with a hierarchical namespace; applied at every start.
    pub hns_accounts: Vec<String>,
    pub memtable_mib: usize,
    pub block_cache_mib: usize,
    pub blocking_threads: usize,
}

/// A positive number from the environment variable `var`, else `file`, else `default`.
fn sized(var: &str, file: Option<usize>, default: usize, max: usize) -> anyhow::Result<usize> {
    let value = match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .ok()
            .with_context(|| format!("{var}={v:?}: give a number"))?,
        _ => file.unwrap_or(default),
    };
    if value == 0 || value > max {
        bail!("{var} (or its file setting) = {value}: give 1 to {max}");
    }
    Ok(value)
}

impl Settings {
    pub fn load(cli: Cli) -> anyhow::Result<Settings> {
        let file: FileConfig = match &cli.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let mut accounts = vec![parse_account(&format!("{DEV_ACCOUNT}:{DEV_ACCOUNT_KEY}"))?];
        let env_accounts = std::env::var("AZURITE_ACCOUNTS").ok();
        let extra = file.accounts.iter().cloned().chain(env_accounts.iter().flat_map(|v| {
            v.split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        }));
        for spec in extra {
            let account = parse_account(&spec)?;
            accounts.retain(|a| a.name != account.name);
            accounts.push(account);
        }
        Ok(Settings {
            blob_host: cli.blob_host.or(file.blob_host).unwrap_or_else(|| "127.0.0.1".into()),
            blob_port: cli.blob_port.or(file.blob_port).unwrap_or(10000),
            location: cli
                .location
                .or(file.location)
                .unwrap_or_else(|| PathBuf::from("lazuli-data")),
            loose: cli.loose || file.loose.unwrap_or(false),
            skip_api_version_check: cli.skip_api_version_check,
            debug: cli.debug,
            silent: cli.silent,
            metrics_port: cli.metrics_port.or(file.metrics_port).unwrap_or(10010),
            accounts,
            tls: cli.cert.zip(cli.key),
            copy_source_ca_files: {
                // A CA file that cannot be read fails the start, not the first copy.
                lazuli_frontend::copy_tls_connector(&cli.copy_source_ca_files)
                    .map_err(|e| anyhow::anyhow!("copy source CA file (--copySourceCaFile): {e}"))?;
                cli.copy_source_ca_files
            },
            versioning: file
                .versioning
                .iter()
                .cloned()
                .chain(std::env::var("LAZULI_VERSIONING").ok().iter().flat_map(|v| {
                    v.split([',', ';'])
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect::<Vec<_>>()
                }))
                .collect(),
            container_delete_retention_days: match std::env::var("LAZULI_CONTAINER_DELETE_RETENTION_DAYS") {
                Ok(v) if !v.trim().is_empty() => Some(
                    v.trim()
                        .parse()
                        .ok()
                        .filter(|d| (1..=365).contains(d))
                        .with_context(|| format!("LAZULI_CONTAINER_DELETE_RETENTION_DAYS={v:?}: give 1 to 365"))?,
                ),
                _ => file.container_delete_retention_days,
            },
            // The environment, when set (even empty), replaces the file's list, which replaces
            // the default: the development account has a hierarchical namespace.
            hns_accounts: match std::env::var("LAZULI_HNS_ACCOUNTS") {
                Ok(v) => v
                    .split([',', ';'])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
                Err(_) => file.hns_accounts.unwrap_or_else(|| vec![DEV_ACCOUNT.to_string()]),
            },
            memtable_mib: sized("LAZULI_MEMTABLE_MIB", file.memtable_mib, MEMTABLE_MIB_DEFAULT, 4096)?,
            block_cache_mib: sized(
                "LAZULI_BLOCK_CACHE_MIB",
                file.block_cache_mib,
                BLOCK_CACHE_MIB_DEFAULT,
                65536,
            )?,
            blocking_threads: sized(
                "LAZULI_BLOCKING_THREADS",
                file.blocking_threads,
                BLOCKING_THREADS_DEFAULT,
                4096,
            )?,
        })
    }

    pub fn partition_options(&self) -> lazuli_partition::PartitionOptions {
        let mut options = lazuli_partition::PartitionOptions::default();
        options.table.memtable_bytes_max = self.memtable_mib << 20;
        options.table.block_cache_bytes = self.block_cache_mib << 20;
        options
    }

    pub fn frontend_config(&self) -> FrontendConfig {
        FrontendConfig {
            accounts: self.accounts.clone(),
            loose: self.loose,
            skip_api_version_check: self.skip_api_version_check,
            https: self.tls.is_some(),
            copy_source_ca_files: self.copy_source_ca_files.clone(),
        }
    }
}

/// `name:key1[:key2]`, keys in base64.
fn parse_account(spec: &str) -> anyhow::Result<Account> {
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or_default().trim().to_string();
    if !lazuli_types::names::is_valid_account_name(&name) {
        bail!("invalid account name {name:?} (3-24 lowercase letters and digits)");
    }
    let keys: Vec<Vec<u8>> = parts
        .map(|k| {
            BASE64
                .decode(k.trim())
                .with_context(|| format!("account {name}: key is not base64"))
        })
        .collect::<anyhow::Result<_>>()?;
    if keys.is_empty() || keys.len() > 2 {
        bail!("account {name}: give one or two keys");
    }
    Ok(Account { name, keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_parse() {
        let account = parse_account("acct2:a2V5MQ==:a2V5Mg==").unwrap();
        assert_eq!(account.name, "acct2");
        assert_eq!(account.keys, vec![b"key1".to_vec(), b"key2".to_vec()]);
        assert!(parse_account("Bad:a2V5MQ==").is_err());
        assert!(parse_account("acct2").is_err());
        assert!(parse_account("acct2:!!!").is_err());
    }

    #[test]
    fn defaults() {
        let settings = Settings::load(Cli::default()).unwrap();
        assert_eq!(settings.blob_port, 10000);
        assert_eq!(settings.blob_host, "127.0.0.1");
        assert_eq!(settings.accounts[0].name, DEV_ACCOUNT);
    }
}
