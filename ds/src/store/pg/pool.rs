//! The connection pool under [`super::PgMeta`]: worker threads that own one connection each and
//! run the calls handed to them, reconnecting after a server restart, and a listener thread
//! whose `LISTEN mimi_relay` wakes long polls on every replica.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator as _;
use postgres::{Client, Config, NoTls};

use crate::meta::MetaResult;

const WORKERS: usize = 4;
pub(super) const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection idle longer than this is pinged before use. The synchronous client notices a
/// server restart only when it next talks to the server, so a request on a connection that sat
/// idle across a restart would fail with 503. A restart takes well over this; under load the
/// connections are never idle this long, so the ping costs nothing there.
const IDLE_CHECK: Duration = Duration::from_millis(50);

type Job = Box<dyn FnOnce(&mut Option<Client>, &Config) + Send>;
type Waker = Arc<Mutex<Option<Box<dyn Fn() + Send + Sync>>>>;

/// Whether `e` means the server cannot be reached (as opposed to a refused statement).
fn is_unreachable(e: &postgres::Error) -> bool {
    use std::error::Error as _;
    e.is_closed()
        || match e.as_db_error() {
            // 08: connection exception, 57P: operator intervention (shutdown, cannot connect now).
            Some(db) => db.code().code().starts_with("08") || db.code().code().starts_with("57P"),
            None => {
                e.source().is_some_and(|s| s.is::<std::io::Error>())
                    || e.to_string().contains("timeout")
                    || e.to_string().contains("connect")
            }
        }
}

pub(super) fn meta_err(e: postgres::Error) -> rusqlite::Error {
    if is_unreachable(&e) {
        unavailable(&e.to_string())
    } else {
        rusqlite::Error::ToSqlConversionFailure(Box::new(e))
    }
}

/// The "engine unreachable" error (answered with 503).
pub fn unavailable(msg: &str) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
        Some(format!("PostgreSQL unavailable: {msg}")),
    )
}

pub(super) fn other(msg: &str) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(msg.to_owned().into())
}

/// The workers and the listener; dropping it stops the listener (the workers end when the job
/// channel closes).
pub(super) struct Pool {
    jobs: Mutex<mpsc::Sender<Job>>,
    waker: Waker,
    stop: Arc<AtomicBool>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Pool {
    /// Starts the workers and the relay listener.
    pub(super) fn start(config: &Config) -> MetaResult<Pool> {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..WORKERS {
            let (rx, config) = (rx.clone(), config.clone());
            std::thread::Builder::new()
                .name(format!("mimi-ds-pg-{n}"))
                .spawn(move || worker(rx, config))
                .map_err(|e| other(&e.to_string()))?;
        }
        let waker: Waker = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        {
            let (config, waker, stop) = (config.clone(), waker.clone(), stop.clone());
            std::thread::Builder::new()
                .name("mimi-ds-pg-listen".into())
                .spawn(move || listener(config, waker, stop))
                .map_err(|e| other(&e.to_string()))?;
        }
        Ok(Pool { jobs: Mutex::new(tx), waker, stop })
    }

    /// Calls `wake` whenever another replica appends a relay message.
    pub(super) fn on_notify(&self, wake: Box<dyn Fn() + Send + Sync>) {
        let mut g = match self.waker.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Some(wake);
    }

    /// Runs `f` on a worker's connection (connecting first if needed) and waits for its result.
    pub(super) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> MetaResult<T> {
        let (reply_tx, reply_rx) = mpsc::channel::<MetaResult<T>>();
        let job: Job = Box::new(move |slot: &mut Option<Client>, config: &Config| {
            if slot.is_none() {
                match connect(config) {
                    Ok(c) => *slot = Some(c),
                    Err(e) => {
                        let _ = reply_tx.send(Err(meta_err(e)));
                        return;
                    }
                }
            }
            let Some(c) = slot.as_mut() else { return };
            let r = f(c);
            if let Err(e) = &r {
                if is_unreachable(e) {
                    *slot = None;
                }
            }
            let _ = reply_tx.send(r.map_err(meta_err));
        });
        {
            let g = match self.jobs.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            g.send(job).map_err(|_| unavailable("worker threads stopped"))?;
        }
        match reply_rx.recv_timeout(CALL_TIMEOUT) {
            Ok(r) => r,
            Err(_) => Err(unavailable("no answer in time")),
        }
    }
}

pub(super) fn connect(config: &Config) -> Result<Client, postgres::Error> {
    config.connect(NoTls)
}

fn worker(rx: Arc<Mutex<mpsc::Receiver<Job>>>, config: Config) {
    let mut client: Option<Client> = None;
    let mut last_used = Instant::now();
    loop {
        let job = {
            let guard = match rx.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            match guard.recv() {
                Ok(j) => j,
                Err(_) => return, // PgMeta dropped
            }
        };
        // A connection idle for a while may have been cut (server restart): check it before use
        // so a request is never sent into a dead socket.
        if let Some(c) = &mut client {
            if c.is_closed() || (last_used.elapsed() > IDLE_CHECK && c.is_valid(CONNECT_TIMEOUT).is_err()) {
                client = None;
            }
        }
        job(&mut client, &config);
        last_used = Instant::now();
    }
}

fn listener(config: Config, waker: Waker, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let mut c = match connect(&config) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "relay listener: cannot connect to PostgreSQL; retrying");
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
        };
        if let Err(e) = c.batch_execute("LISTEN mimi_relay") {
            tracing::warn!(error = %e, "relay listener: LISTEN failed");
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        // Messages appended while we were not listening: wake everyone once.
        wake(&waker);
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let (got, failed) = {
                let mut n = c.notifications();
                let mut it = n.timeout_iter(Duration::from_millis(500));
                match it.next() {
                    Ok(Some(_)) => (true, false),
                    Ok(None) => (false, false),
                    Err(e) => {
                        tracing::warn!(error = %e, "relay listener: connection lost; reconnecting");
                        (false, true)
                    }
                }
            };
            if got {
                wake(&waker);
            }
            if failed || c.is_closed() {
                break;
            }
        }
    }
}

fn wake(waker: &Waker) {
    let g = match waker.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if let Some(f) = g.as_ref() {
        f();
    }
}
