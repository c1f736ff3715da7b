//! Which storage backend the DS under test uses — one harness for both:
//!
//! * `MIMI_DS_TEST_BACKEND=embedded` (default): SQLite + files in a temp dir;
//! * `MIMI_DS_TEST_BACKEND=pg-s3`: PostgreSQL + S3 as started by `scripts/ds-engines.sh start`
//!   (`MIMI_DS_TEST_META`, `MIMI_DS_TEST_BLOBS`). Every DS gets its own fresh database and key
//!   prefix, so tests stay independent; replicas share one (see [`shared`]).

use std::sync::atomic::{AtomicU64, Ordering};

pub fn name() -> String {
    std::env::var("MIMI_DS_TEST_BACKEND").unwrap_or_else(|_| "embedded".into())
}

pub fn is_embedded() -> bool {
    name() == "embedded"
}

/// The engines' URLs, if `scripts/ds-engines.sh start` was run.
pub fn engines() -> Option<(String, String)> {
    match (std::env::var("MIMI_DS_TEST_META"), std::env::var("MIMI_DS_TEST_BLOBS")) {
        (Ok(m), Ok(b)) if !m.is_empty() && !b.is_empty() => Some((m, b)),
        _ => None,
    }
}

fn required_engines() -> (String, String) {
    engines().unwrap_or_else(|| {
        panic!(
            "MIMI_DS_TEST_BACKEND={} needs the engines: eval \"$(scripts/ds-engines.sh start)\" \
             (sets MIMI_DS_TEST_META and MIMI_DS_TEST_BLOBS)",
            name()
        )
    })
}

static SEQ: AtomicU64 = AtomicU64::new(0);

fn unique(tag: &str) -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{tag}_{}_{}_{n}", std::process::id(), nanos % 1_000_000_000)
}

/// Creates a fresh database on the server of `meta_url`; returns its URL.
pub fn fresh_database(meta_url: &str) -> String {
    let db = unique("mimi_t");
    let url = meta_url.to_owned();
    let db2 = db.clone();
    // The blocking client must not run on a runtime thread.
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).expect("connect to the test PostgreSQL");
        c.batch_execute(&format!("CREATE DATABASE {db2}")).expect("create database");
    })
    .join()
    .unwrap();
    let base = meta_url.rsplit_once('/').map(|(b, _)| b).unwrap_or(meta_url);
    format!("{base}/{db}")
}

/// `blobs_url` with a fresh key prefix.
pub fn fresh_prefix(blobs_url: &str) -> String {
    let sep = if blobs_url.contains('?') { '&' } else { '?' };
    format!("{blobs_url}{sep}prefix={}", unique("t"))
}

/// A fresh (database, bucket prefix) pair for a set of replicas sharing both.
pub fn shared() -> Option<(String, String)> {
    let (m, b) = engines()?;
    Some((fresh_database(&m), fresh_prefix(&b)))
}

/// Points `cfg` at the selected backend.
pub fn configure(cfg: &mut mimi_ds::Config) {
    match name().as_str() {
        "embedded" => {}
        "pg-s3" => {
            let (m, b) = required_engines();
            cfg.meta = Some(fresh_database(&m));
            let blobs = fresh_prefix(&b);
            BLOBS_OF.lock().unwrap().push((cfg.data_dir.clone(), blobs.clone()));
            cfg.blobs = Some(blobs);
        }
        other => panic!("MIMI_DS_TEST_BACKEND={other}: expected embedded or pg-s3"),
    }
}

/// Command-line flags selecting the backend, for tests that spawn the `mimi-ds` binary.
pub fn ds_args() -> Vec<String> {
    match name().as_str() {
        "embedded" => vec![],
        "pg-s3" => {
            let (m, b) = required_engines();
            vec!["--meta".into(), fresh_database(&m), "--blobs".into(), fresh_prefix(&b)]
        }
        other => panic!("MIMI_DS_TEST_BACKEND={other}: expected embedded or pg-s3"),
    }
}

static BLOBS_OF: std::sync::Mutex<Vec<(std::path::PathBuf, String)>> = std::sync::Mutex::new(Vec::new());

/// The S3 URL a DS started by [`configure`] with data dir `data` uses, if any.
pub fn blobs_for(data: &std::path::Path) -> Option<String> {
    BLOBS_OF.lock().unwrap().iter().find(|(d, _)| d == data).map(|(_, u)| u.clone())
}

/// What `files_in(data, "blobs" | "staging")` counts on the embedded backend, in the bucket:
/// recorded blobs (objects under `blobs/` that are not an upload's first part in progress) or
/// uploads in progress (`staging/<id>/`).
pub fn count_objects(url: &str, sub: &str) -> usize {
    use mimi_ds::blob::BlobStore as _;
    let (url, sub) = (url.to_owned(), sub.to_owned());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let store =
                mimi_ds::store::s3::S3BlobStore::open(&mimi_ds::store::s3::S3Url::parse(&url).unwrap()).unwrap();
            let staging = store.list_staging().await.unwrap();
            match sub.as_str() {
                "staging" => staging.len(),
                "blobs" => store.list_blobs().await.unwrap().iter().filter(|b| !staging.contains(b)).count(),
                other => panic!("count_objects: {other}"),
            }
        })
    })
    .join()
    .unwrap()
}
