//! A short, bounded run of the load generator (`examples/loadgen`) against the real binary:
//! nothing may be lost, corrupted or fail, the books must agree with the DS, and the DS's memory
//! must stay bounded. No assertion on speed.

#[allow(dead_code)]
#[path = "common/backend.rs"]
mod backend;
#[path = "../examples/loadgen/mod.rs"]
mod loadgen;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_mixed_load_loses_nothing_and_memory_stays_bounded() {
    let cfg = loadgen::LoadConfig {
        seconds: 12,
        groups: 4,
        members: 4,
        concurrency: 8,
        size_min: 0,
        size_max: 256 * 1024,
        max_live_bytes: 64 << 20,
        seed: 7,
        warmup_secs: 4,
        ds_bin: Some(env!("CARGO_BIN_EXE_mimi-ds").into()),
        // MIMI_DS_TEST_BACKEND=pg-s3: the same load on PostgreSQL + S3.
        ds_args: backend::ds_args(),
        ..Default::default()
    };
    let r = loadgen::run(cfg, "ds/tests/load.rs".into()).await.unwrap();
    eprintln!("{}", r.table());
    // It did all kinds of work (counts, not rates).
    assert!(r.uploads > 0 && r.downloads > 0 && r.copies > 0 && r.deletes > 0, "{}", r.table());
    assert!(r.ops.iter().any(|o| o.op == "patch"), "resumable uploads ran");
    assert!(r.ops.iter().any(|o| o.op == "download_range"), "range downloads ran");
    // Nothing lost, corrupted, resurrected or failing.
    assert_eq!(r.lost, 0, "lost attachments: {:?}", r.errors);
    assert_eq!(r.corrupted, 0, "corrupted downloads: {:?}", r.errors);
    assert_eq!(r.zombies, 0, "deleted attachments still served: {:?}", r.errors);
    assert_eq!(r.unexpected_errors, 0, "unexpected errors: {:?}", r.errors);
    assert_eq!(r.quota_mismatches, 0, "quota endpoint disagrees: {:?}", r.errors);
    assert_eq!(r.staging_files_left, Some(0), "uploads left staging files");
    assert!(r.blob_files.unwrap() <= r.final_verified, "no blob without a live attachment");
    // Memory: the end is not more than 2x the post-warm-up RSS + 64 MiB.
    let warm = r.rss_warm_kib.expect("RSS sampled after the warm-up");
    let end = r.rss_end_kib.expect("RSS sampled at the end");
    assert!(end <= 2 * warm + 64 * 1024, "DS RSS grew from {warm} KiB (after warm-up) to {end} KiB");
    // File descriptors do not leak: back near where they started.
    let (start, _, end) = r.fds_start_peak_end.unwrap();
    assert!(end <= start + 16, "DS fds {start} -> {end}");
    assert_eq!(r.graceful_shutdown, Some(true), "SIGTERM stops the DS");
}
