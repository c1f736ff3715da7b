//! # mimi-ds — the reference MIMI Delivery Service
//!
//! An HTTP server (axum) that follows MLS groups with openmls' `PublicGroup`, relays group
//! messages, stores key packages and Welcomes, and stores end-to-end encrypted attachments as
//! described by draft-robert-mimi-attachments (§2, §3.1, §3.3–3.5). See `ds/README.md` for the
//! HTTP API.
//!
//! The binary (`src/main.rs`) parses [`Config`] and calls [`start`]; tests call [`start`] directly
//! with a config from [`Config::for_data_dir`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod blob;
pub mod config;
pub mod error;
pub mod groups;
pub mod identity;
pub mod limits;
pub mod meta;
pub mod reqauth;
pub mod server;
pub mod state;
pub mod store;
pub mod www;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use openmls_rust_crypto::RustCrypto;
use tokio::sync::{oneshot, Notify};
use tokio::task::JoinHandle;

pub use config::{Config, DeletePolicy, LogFormat};
pub use state::App;

use blob::{BlobStore, FsBlobStore};
use groups::Groups;
use meta::MetaStore;
use reqauth::NonceCache;
use store::sqlite::SqliteMeta;

/// Why the DS could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Filesystem or socket.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// SQLite.
    #[error("metadata store: {0}")]
    Meta(#[from] rusqlite::Error),
    /// Group restore.
    #[error("groups: {0}")]
    Groups(#[from] groups::GroupError),
    /// Client identity configuration.
    #[error("{0}")]
    Identity(#[from] identity::IdentityError),
    /// Flags that do not go together.
    #[error("configuration: {0}")]
    Config(&'static str),
}

/// A running DS.
pub struct RunningDs {
    /// The bound address.
    pub addr: SocketAddr,
    /// The shared state.
    pub app: Arc<App>,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
}

impl RunningDs {
    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Stops accepting, lets requests in flight finish, and stops the sweeper.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.sweeper.abort();
        let _ = (&mut self.server).await;
    }
    /// Waits until the server stops.
    pub async fn wait(mut self) -> std::io::Result<()> {
        let r = (&mut self.server).await.map_err(std::io::Error::other)?;
        self.sweeper.abort();
        r
    }
}

/// Opens the storage under `cfg.data_dir`, recovers, binds `cfg.listen` and serves.
pub async fn start(cfg: Config) -> Result<RunningDs, StartError> {
    let identity = identity::Identity::from_config(cfg.dev_identity, cfg.token_secret_file.as_deref())?;
    if cfg.direct_download_secs > 0 && cfg.blobs.is_none() {
        return Err(StartError::Config("--direct-download-secs needs --blobs (object storage that presigns URLs)"));
    }
    let www = www::StaticRoots::open(cfg.www.as_deref(), cfg.www_pkg.as_deref())?;
    std::fs::create_dir_all(&cfg.data_dir)?;
    let meta: Arc<dyn MetaStore> = match &cfg.meta {
        Some(url) => Arc::new(store::pg::PgMeta::open(url)?),
        None => Arc::new(SqliteMeta::open(&cfg.data_dir.join("meta.sqlite"))?),
    };
    let blobs: Arc<dyn BlobStore> = match &cfg.blobs {
        Some(url) => Arc::new(store::s3::S3BlobStore::open(&store::s3::S3Url::parse(url)?)?),
        None => Arc::new(FsBlobStore::open(&cfg.data_dir)?),
    };
    let groups = Groups::new(Duration::from_secs(cfg.epoch_grace_secs));
    if meta.is_shared() {
        groups.share_with(meta.clone());
    }
    let failed = groups.restore(meta.as_ref())?;
    if failed > 0 {
        tracing::warn!(failed, "some groups could not be restored");
    }
    let nonces = if meta.is_shared() { NonceCache::shared(meta.clone()) } else { NonceCache::default() };
    let app = Arc::new(App {
        cfg: cfg.clone(),
        meta,
        blobs,
        groups,
        crypto: RustCrypto::default(),
        nonces,
        busy: Mutex::new(HashSet::new()),
        notify: Notify::new(),
        www,
        identity,
        register_limit: limits::RateLimiter::new(cfg.register_per_min, cfg.register_per_min),
        claim_limit: limits::RateLimiter::new(cfg.claim_per_min, cfg.claim_per_min),
    });
    if app.identity.is_dev() {
        tracing::warn!(
            "DEVELOPMENT IDENTITY MODE: POST /v1/dev/login issues a token for any client name; \
             anyone can impersonate anyone. Never use --dev-identity in production."
        );
    }
    if app.meta.is_shared() {
        // Other replicas' uploads are in flight: no start-up recovery (expiry cleans up after
        // a replica that died), and long polls wake on every replica's appends.
        let weak = Arc::downgrade(&app);
        app.meta.on_remote_message(Box::new(move || {
            if let Some(a) = weak.upgrade() {
                a.notify.notify_waiters();
            }
        }));
    } else {
        app.recover().await?;
    }
    let listener = tokio::net::TcpListener::bind(cfg.listen).await?;
    let addr = listener.local_addr()?;
    let router = api::router(app.clone()).merge(store::health_router(app.clone()));
    let (tx, rx) = oneshot::channel::<()>();
    let limits = server::Limits::from_config(&cfg);
    let server = tokio::spawn(server::serve(listener, router, limits, async move {
        let _ = rx.await;
    }));
    let sweep_app = app.clone();
    let interval = Duration::from_secs(cfg.sweep_interval_secs.max(1));
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            match sweep_app.sweep().await {
                Ok((a, u)) if a + u > 0 => tracing::info!(attachments = a, uploads = u, "swept expired objects"),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "sweeper failed"),
            }
        }
    });
    tracing::info!(%addr, data_dir = %cfg.data_dir.display(), "mimi-ds listening");
    Ok(RunningDs { addr, app, shutdown: Some(tx), server, sweeper })
}
