//! Configuration: command-line flags, each also settable by an environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Who may delete an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeletePolicy {
    /// Only a member with the uploader's credential.
    Uploader,
    /// Any current member of the attachment's group.
    Member,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The reference MIMI Delivery Service: MLS group tracking, message relay, key packages and
/// end-to-end encrypted attachments (draft-robert-mimi-attachments).
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "mimi-ds", version, about)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "MIMI_DS_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory for the SQLite metadata and attachment files (created if missing).
    #[arg(long, env = "MIMI_DS_DATA_DIR", default_value = "./mimi-ds-data")]
    pub data_dir: PathBuf,
    /// Largest attachment (ciphertext bytes).
    #[arg(long, env = "MIMI_DS_MAX_FILE_BYTES", default_value_t = 2 * 1024 * 1024 * 1024)]
    pub max_file_bytes: u64,
    /// Per-group quota: total bytes of attachments plus uploads in progress.
    #[arg(long, env = "MIMI_DS_GROUP_QUOTA_BYTES", default_value_t = 10 * 1024 * 1024 * 1024)]
    pub group_quota_bytes: u64,
    /// Per-group quota: number of attachments plus uploads in progress.
    #[arg(long, env = "MIMI_DS_GROUP_QUOTA_COUNT", default_value_t = 10_000)]
    pub group_quota_count: u64,
    /// Lifetime of an attachment, in seconds (default 30 days).
    #[arg(long, env = "MIMI_DS_ATTACHMENT_TTL_SECS", default_value_t = 30 * 24 * 3600)]
    pub attachment_ttl_secs: u64,
    /// Lifetime of an incomplete upload, in seconds (default 24 hours).
    #[arg(long, env = "MIMI_DS_UPLOAD_TTL_SECS", default_value_t = 24 * 3600)]
    pub upload_ttl_secs: u64,
    /// How often the sweeper removes expired attachments and uploads, in seconds.
    #[arg(long, env = "MIMI_DS_SWEEP_INTERVAL_SECS", default_value_t = 60)]
    pub sweep_interval_secs: u64,
    /// Who may delete an attachment.
    #[arg(long, env = "MIMI_DS_DELETE_POLICY", value_enum, default_value = "uploader")]
    pub delete_policy: DeletePolicy,
    /// Accepted clock skew of signed requests, in seconds (also the replay window).
    #[arg(long, env = "MIMI_DS_CLOCK_SKEW_SECS", default_value_t = 120)]
    pub clock_skew_secs: u64,
    /// How long after a commit a request signed in the previous epoch is still accepted, in seconds.
    #[arg(long, env = "MIMI_DS_EPOCH_GRACE_SECS", default_value_t = 60)]
    pub epoch_grace_secs: u64,
    /// Longest wait of a long-poll message fetch, in seconds.
    #[arg(long, env = "MIMI_DS_MAX_POLL_SECS", default_value_t = 30)]
    pub max_poll_secs: u64,
    /// Allowed CORS origins, comma separated; `*` allows any origin (no credentials are used).
    #[arg(long, env = "MIMI_DS_CORS_ORIGINS", default_value = "*")]
    pub cors_origins: String,
    /// Serve the demo page from this directory: `GET /` is `<DIR>/index.html`, `GET /<path>` a
    /// file below it (API routes under `/v1` take precedence).
    #[arg(long, env = "MIMI_DS_WWW", value_name = "DIR")]
    pub www: Option<PathBuf>,
    /// Serve this directory (the package's wasm-pack output) at `/pkg/`.
    #[arg(long = "www-pkg", env = "MIMI_DS_WWW_PKG", value_name = "DIR")]
    pub www_pkg: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "MIMI_DS_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Most connections served at once; further ones wait in the listen backlog until one closes.
    #[arg(long, env = "MIMI_DS_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,
    /// Time a client has to send a complete request head, from the connection's start or the end
    /// of the previous response (so also the idle keep-alive limit), in seconds; 0 disables.
    #[arg(long, env = "MIMI_DS_HEADER_TIMEOUT_SECS", default_value_t = 30)]
    pub header_timeout_secs: u64,
    /// Longest wait for the next bytes of a request body, in seconds (408 `Timeout`); also the
    /// grace period before `--body-min-rate` applies. 0 disables both.
    #[arg(long, env = "MIMI_DS_BODY_TIMEOUT_SECS", default_value_t = 30)]
    pub body_timeout_secs: u64,
    /// Slowest accepted average body rate, in bytes per second, after the `--body-timeout-secs`
    /// grace period: a body must have arrived by `grace + received / rate` (408 `Timeout`); 0
    /// disables.
    #[arg(long, env = "MIMI_DS_BODY_MIN_RATE", default_value_t = 1024)]
    pub body_min_rate: u64,
    /// Longest time a response write may stay blocked by a client that does not read, in seconds;
    /// then the connection is closed. 0 disables.
    #[arg(long, env = "MIMI_DS_WRITE_TIMEOUT_SECS", default_value_t = 60)]
    pub write_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes (at least 1024); larger gets 431.
    #[arg(long, env = "MIMI_DS_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Free disk space kept in reserve under the data directory, in bytes: an upload that would
    /// leave less gets 507 `InsufficientStorage` (metadata writes and deletions keep working).
    #[arg(long, env = "MIMI_DS_MIN_FREE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub min_free_bytes: u64,
    /// Metadata in PostgreSQL instead of `<data-dir>/meta.sqlite`: `postgres://user[:pw]@host:port/db`
    /// (stateless replicas share it; migrations are applied at start).
    #[arg(long, env = "MIMI_DS_META", value_name = "URL")]
    pub meta: Option<String>,
    /// Attachment bytes in S3-compatible object storage instead of `<data-dir>`:
    /// `s3://bucket?endpoint=http://host:port&region=…&access_key=…&secret_key=…` (keys also
    /// from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`).
    #[arg(long, env = "MIMI_DS_BLOBS", value_name = "URL")]
    pub blobs: Option<String>,
}

impl Config {
    /// The defaults (and `MIMI_DS_*` environment variables) with the given data directory,
    /// listening on an ephemeral port of 127.0.0.1 (for tests and embedding). Fails only on an
    /// invalid `MIMI_DS_*` variable.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Result<Self, clap::Error> {
        let mut c = <Self as clap::Parser>::try_parse_from(["mimi-ds"])?;
        c.data_dir = data_dir.into();
        c.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        Ok(c)
    }
}
