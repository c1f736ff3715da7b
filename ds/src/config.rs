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

/// A byte size for the flags: a number with an optional unit, `B`, decimal `KB`/`MB`/`GB`/`TB`
/// (or `K`/`M`/`G`/`T`) and binary `KiB`/`MiB`/`GiB`/`TiB`, case-insensitive: `2GiB`, `500MB`,
/// `1048576`, `1.5 GiB` (fractions round down to whole bytes).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "m" | "mb" => 1000_u64.pow(2),
        "g" | "gb" => 1000_u64.pow(3),
        "t" | "tb" => 1000_u64.pow(4),
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        u => return Err(format!("unknown unit \"{u}\" in \"{s}\" (use B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)")),
    };
    let bad = || format!("\"{s}\" is not a byte size (examples: 2GiB, 500MB, 1048576)");
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().map_err(|_| bad())? };
    let mut total = whole.checked_mul(mult).ok_or_else(|| format!("\"{s}\" is too large"))?;
    if !frac.is_empty() {
        if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
            return Err(bad());
        }
        let f: u64 = frac.parse().map_err(|_| bad())?;
        let scale = 10_u64.pow(frac.len() as u32);
        let part = u128::from(f) * u128::from(mult) / u128::from(scale);
        total = total.checked_add(part as u64).ok_or_else(|| format!("\"{s}\" is too large"))?;
    }
    Ok(total)
}

fn parse_bytes_usize(s: &str) -> Result<usize, String> {
    usize::try_from(parse_bytes(s)?).map_err(|_| format!("\"{s}\" is too large"))
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
    #[arg(long, env = "MIMI_DS_MAX_FILE_BYTES", value_parser = parse_bytes, default_value_t = 2 * 1024 * 1024 * 1024)]
    pub max_file_bytes: u64,
    /// Per-group quota: total bytes of attachments plus uploads in progress.
    #[arg(long, env = "MIMI_DS_GROUP_QUOTA_BYTES", value_parser = parse_bytes, default_value_t = 10 * 1024 * 1024 * 1024)]
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
    #[arg(long, env = "MIMI_DS_BODY_MIN_RATE", value_parser = parse_bytes, default_value_t = 1024)]
    pub body_min_rate: u64,
    /// Longest time a response write may stay blocked by a client that does not read, in seconds;
    /// then the connection is closed. 0 disables.
    #[arg(long, env = "MIMI_DS_WRITE_TIMEOUT_SECS", default_value_t = 60)]
    pub write_timeout_secs: u64,
    /// Largest request head (request line and headers), in bytes (at least 1024); larger gets 431.
    #[arg(long, env = "MIMI_DS_MAX_HEADER_BYTES", value_parser = parse_bytes_usize, default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Free disk space kept in reserve under the data directory, in bytes: an upload that would
    /// leave less gets 507 `InsufficientStorage` (metadata writes and deletions keep working).
    #[arg(long, env = "MIMI_DS_MIN_FREE_BYTES", value_parser = parse_bytes, default_value_t = 64 * 1024 * 1024)]
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
    /// Direct downloads (needs `--blobs`): `GET /v1/attachments/{token}/direct` answers a member
    /// with a presigned object-store URL valid this many seconds (1..=3600), so the ciphertext
    /// goes straight from the bucket to the browser. 0 (the default): off, the DS proxies.
    #[arg(long, env = "MIMI_DS_DIRECT_DOWNLOAD_SECS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub direct_download_secs: u64,
    /// Development identity mode: `POST /v1/dev/login` hands out a client token for ANY name,
    /// every response says `Mimi-DS-Mode: development`. For local demos and tests only.
    #[arg(long, env = "MIMI_DS_DEV_IDENTITY")]
    pub dev_identity: bool,
    /// File holding the HS256 secret (at least 32 bytes) shared with the operator's login, which
    /// issues `Authorization: Bearer` JWTs with `sub` = client id and `exp`. Required unless
    /// `--dev-identity`.
    #[arg(long, env = "MIMI_DS_TOKEN_SECRET_FILE", value_name = "FILE")]
    pub token_secret_file: Option<PathBuf>,
    /// Per-client quota: bytes of attachments plus uploads in progress, over all groups, counted
    /// by uploader credential.
    #[arg(long, env = "MIMI_DS_CLIENT_QUOTA_BYTES", default_value_t = 20 * 1024 * 1024 * 1024)]
    pub client_quota_bytes: u64,
    /// Per-client quota: number of attachments plus uploads in progress, over all groups.
    #[arg(long, env = "MIMI_DS_CLIENT_QUOTA_COUNT", default_value_t = 20_000)]
    pub client_quota_count: u64,
    /// Most groups one client may register.
    #[arg(long, env = "MIMI_DS_CLIENT_MAX_GROUPS", default_value_t = 200)]
    pub client_max_groups: usize,
    /// Most groups the DS tracks (the registry is held in memory and persisted).
    #[arg(long, env = "MIMI_DS_MAX_GROUPS", default_value_t = 100_000)]
    pub max_groups: usize,
    /// Group registrations per client and minute (bursts of as many); 0 disables.
    #[arg(long, env = "MIMI_DS_REGISTER_PER_MIN", default_value_t = 10)]
    pub register_per_min: u32,
    /// Key-package claims per claiming client and minute (bursts of as many); 0 disables.
    #[arg(long, env = "MIMI_DS_CLAIM_PER_MIN", default_value_t = 60)]
    pub claim_per_min: u32,
    /// Most key packages stored per client.
    #[arg(long, env = "MIMI_DS_MAX_KEY_PACKAGES", default_value_t = 100)]
    pub max_key_packages: u64,
    /// Free disk space reserved for the groups that already exist, in bytes: below
    /// `--min-free-bytes` + this, new groups are refused (507) while existing ones keep uploading.
    #[arg(long, env = "MIMI_DS_REGISTRATION_FLOOR_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub registration_floor_bytes: u64,
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn byte_sizes_take_units() {
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("500MB"), Ok(500_000_000));
        assert_eq!(parse_bytes("500 mb"), Ok(500_000_000));
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("64KiB"), Ok(65536));
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_bytes("10B"), Ok(10));
        for bad in ["", "GiB", "2 parsecs", "-1", "1.2.3", "99999999999TiB", "1e9"] {
            assert!(parse_bytes(bad).is_err(), "{bad} accepted");
        }
        let c = Config::try_parse_from([
            "mimi-ds",
            "--max-file-bytes",
            "2GiB",
            "--group-quota-bytes",
            "500MB",
            "--max-header-bytes",
            "16KiB",
        ])
        .expect("flags");
        assert_eq!((c.max_file_bytes, c.group_quota_bytes, c.max_header_bytes), (2 << 30, 500_000_000, 16384));
        assert!(Config::try_parse_from(["mimi-ds", "--max-file-bytes", "2 apples"]).is_err());
    }
}
