//! Bounded load generator for the DS: many groups and members uploading (one-shot and resumable),
//! downloading (full, Range, TLS), copying and deleting concurrently for a fixed time, with every
//! downloaded byte verified, latency per request kind, throughput and the DS's RSS over time.
//!
//! ```sh
//! CARGO_TARGET_DIR=target-ds cargo build --profile ds -p mimi-ds --bins --examples
//! CARGO_TARGET_DIR=target-ds cargo run --profile ds -p mimi-ds --example load -- \
//!     --seconds 120 --groups 32 --members 8 --concurrency 64 --size-range 0..4M --report docs/DS-LOAD.md
//! ```
//! The DS binary is `--ds-bin`, `$MIMI_DS_BIN`, or `mimi-ds` next to this example's directory;
//! `--url` (with `--pid`, `--data-dir`) points it at a running DS instead. The exit status is
//! non-zero if anything was lost, corrupted or failed unexpectedly. `--report FILE.md` writes the
//! markdown report (with the JSON embedded), `--json FILE` the JSON alone.

mod loadgen;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser as _;

/// Bounded DS load generator.
#[derive(Debug, clap::Parser)]
struct Args {
    /// Length of the load phase, seconds.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// MLS groups.
    #[arg(long, default_value_t = 8)]
    groups: usize,
    /// Members per group.
    #[arg(long, default_value_t = 4)]
    members: usize,
    /// Concurrent workers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Attachment sizes `MIN..MAX` (inclusive), with optional K/M suffixes (KiB/MiB).
    #[arg(long, default_value = "0..1M")]
    size_range: String,
    /// Bound on live attachment data, MiB.
    #[arg(long, default_value_t = 512)]
    max_live_mb: u64,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// RSS "after warm-up" sample time, seconds into the load.
    #[arg(long, default_value_t = 10)]
    warmup_secs: u64,
    /// Use a running DS.
    #[arg(long)]
    url: Option<String>,
    /// PID of the running DS (RSS sampling).
    #[arg(long)]
    pid: Option<u32>,
    /// The mimi-ds binary to start.
    #[arg(long, env = "MIMI_DS_BIN")]
    ds_bin: Option<PathBuf>,
    /// Data directory (of the started DS; default a temporary one, or of `--url` for disk checks).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Extra flag for the started DS (repeatable), e.g. `--ds-arg=--max-connections=256`.
    #[arg(long = "ds-arg", allow_hyphen_values = true)]
    ds_args: Vec<String>,
    /// Per-request timeout, seconds.
    #[arg(long, default_value_t = 60)]
    request_timeout_secs: u64,
    /// Write the markdown report here (the full JSON report is embedded at its end).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Also write the JSON report to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let (num, mul) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1024),
        Some((i, 'm' | 'M')) => (&s[..i], 1024 * 1024),
        _ => (s, 1),
    };
    num.trim().parse::<usize>().map(|n| n * mul).map_err(|e| format!("bad size {s:?}: {e}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let Some((a, b)) = args.size_range.split_once("..") else {
        eprintln!("--size-range must be MIN..MAX");
        return std::process::ExitCode::from(2);
    };
    let (size_min, size_max) = match (parse_size(a), parse_size(b)) {
        (Ok(a), Ok(b)) if a <= b => (a, b),
        _ => {
            eprintln!("bad --size-range {:?}", args.size_range);
            return std::process::ExitCode::from(2);
        }
    };
    let ds_bin = args.ds_bin.clone().or_else(|| {
        let exe = std::env::current_exe().ok()?;
        Some(exe.parent()?.parent()?.join("mimi-ds"))
    });
    let cfg = loadgen::LoadConfig {
        seconds: args.seconds,
        groups: args.groups,
        members: args.members,
        concurrency: args.concurrency,
        size_min,
        size_max,
        max_live_bytes: args.max_live_mb << 20,
        seed: args.seed,
        warmup_secs: args.warmup_secs,
        url: args.url.clone(),
        pid: args.pid,
        ds_bin,
        data_dir: args.data_dir.clone(),
        ds_args: args.ds_args.clone(),
        request_timeout: Duration::from_secs(args.request_timeout_secs),
        verbose: true,
    };
    let mut cmd: Vec<String> = std::env::args().skip(1).collect();
    cmd.insert(0, "CARGO_TARGET_DIR=target-ds cargo run --profile ds -p mimi-ds --example load --".into());
    let report = match loadgen::run(cfg, cmd.join(" ")).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("load run failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    print!("{}", report.table());
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    if let Some(path) = &args.report {
        let md = format!(
            "{}\n<details><summary>Full JSON report</summary>\n\n```json\n{json}\n```\n\n</details>\n",
            report.markdown()
        );
        match std::fs::write(path, md) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
    }
    if let Some(path) = &args.json {
        match std::fs::write(path, &json) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => eprintln!("cannot write {}: {e}", path.display()),
        }
    }
    let bad = report.lost
        + report.corrupted
        + report.zombies
        + report.unexpected_errors
        + report.quota_mismatches
        + report.staging_files_left.unwrap_or(0);
    if bad == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
