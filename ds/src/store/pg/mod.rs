//! [`MetaStore`] on PostgreSQL, shared by any number of DS replicas.
//!
//! Driver: the synchronous `postgres` crate (a thin blocking wrapper of `tokio-postgres`, no
//! extra features), because [`MetaStore`] is a synchronous trait called from async handlers,
//! as SQLite is. Each call is handed to a small pool of worker threads that own one connection
//! each, so a handler never blocks inside a nested runtime, and the calling thread waits the
//! way it waits for SQLite.
//!
//! What is made race-free across replicas:
//! * quota reservations and copies take a per-group transaction-scoped advisory lock, then check
//!   usage and insert in the same transaction;
//! * relay sequence numbers take a per-group advisory lock (and the primary key refuses a
//!   duplicate anyway); every append sends `NOTIFY mimi_relay`, which wakes long polls on every
//!   replica (a listener thread per process, [`MetaStore::on_remote_message`]);
//! * a commit replaces the group state only if the stored epoch is still the previous one;
//! * the replay cache is the `nonces` table: `INSERT … ON CONFLICT` refuses a nonce whose entry
//!   has not expired, whichever replica saw it first;
//! * key packages and Welcomes are popped with `DELETE … RETURNING` on a `SKIP LOCKED` row.
//!
//! Errors: PostgreSQL errors travel as `rusqlite::Error` (the trait's error type); an engine that
//! cannot be reached becomes `SQLITE_CANTOPEN` with a message, which the HTTP layer answers with
//! `503 Unavailable`.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use postgres::{Client, Config};

mod pool;

pub use pool::unavailable;
use pool::{connect, meta_err, other, Pool, CONNECT_TIMEOUT};

use crate::meta::{AttachmentRow, GroupQuota, MetaResult, MetaStore, Reserve, StoredGroup, UploadRow};

/// Versioned migrations, applied in order at startup (each once, under an advisory lock).
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("../../../migrations/0001_init.sql")),
    (2, include_str!("../../../migrations/0002_identity.sql")),
];

/// Advisory lock classes (first key of `pg_advisory_xact_lock(int, int)`).
const LOCK_QUOTA: i32 = 1;
const LOCK_RELAY: i32 = 2;
/// Per client (uploader): taken after the group's `LOCK_QUOTA`, always in that order.
const LOCK_CLIENT: i32 = 3;
/// Per client: the key-package count check and insert.
const LOCK_KEY_PACKAGES: i32 = 4;
const LOCK_MIGRATE: i64 = 0x6d69_6d69_6473; // "mimids"

const NONCE_PURGE_EVERY_MS: u64 = 10_000;

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Metadata in PostgreSQL.
pub struct PgMeta {
    pool: Pool,
    config: Config,
    next_nonce_purge: AtomicU64,
}

fn migrate(c: &mut Client) -> Result<(), postgres::Error> {
    let mut tx = c.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK_MIGRATE])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS mimi_schema_migrations(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
    )?;
    for (v, sql) in MIGRATIONS {
        let done = tx.query_opt("SELECT 1 FROM mimi_schema_migrations WHERE version=$1", &[v])?.is_some();
        if !done {
            tx.batch_execute(sql)?;
            tx.execute("INSERT INTO mimi_schema_migrations(version) VALUES($1)", &[v])?;
            tracing::info!(version = v, "applied PostgreSQL migration");
        }
    }
    tx.commit()
}

fn lock_group(tx: &mut postgres::Transaction<'_>, class: i32, group_id: &[u8]) -> Result<(), postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1, hashtext(encode($2, 'hex')))", &[&class, &group_id])?;
    Ok(())
}

fn usage_of(tx: &mut postgres::Transaction<'_>, group_id: &[u8]) -> Result<(u64, u64), postgres::Error> {
    let r = tx.query_one(
        "SELECT (SELECT COALESCE(SUM(size),0)::bigint FROM attachments WHERE group_id=$1),
                (SELECT COUNT(*) FROM attachments WHERE group_id=$1),
                (SELECT COALESCE(SUM(total),0)::bigint FROM uploads WHERE group_id=$1),
                (SELECT COUNT(*) FROM uploads WHERE group_id=$1)",
        &[&group_id],
    )?;
    let (ab, ac, ub, uc): (i64, i64, i64, i64) = (r.get(0), r.get(1), r.get(2), r.get(3));
    Ok((u(ab).saturating_add(u(ub)), u(ac).saturating_add(u(uc))))
}

fn usage_of_uploader(tx: &mut postgres::Transaction<'_>, uploader: &[u8]) -> Result<(u64, u64), postgres::Error> {
    let r = tx.query_one(
        "SELECT (SELECT COALESCE(SUM(size),0)::bigint FROM attachments WHERE uploader=$1),
                (SELECT COUNT(*) FROM attachments WHERE uploader=$1),
                (SELECT COALESCE(SUM(total),0)::bigint FROM uploads WHERE uploader=$1),
                (SELECT COUNT(*) FROM uploads WHERE uploader=$1)",
        &[&uploader],
    )?;
    let (ab, ac, ub, uc): (i64, i64, i64, i64) = (r.get(0), r.get(1), r.get(2), r.get(3));
    Ok((u(ab).saturating_add(u(ub)), u(ac).saturating_add(u(uc))))
}

/// Checks the group's and the uploader's quotas. Takes the group's and then the client's
/// advisory lock, so that concurrent reservations on any replica are serialised (the same order
/// everywhere: no deadlock).
fn check_quota(
    tx: &mut postgres::Transaction<'_>,
    group_id: &[u8],
    uploader: &[u8],
    add: u64,
    q: GroupQuota,
) -> Result<Reserve, postgres::Error> {
    lock_group(tx, LOCK_QUOTA, group_id)?;
    lock_group(tx, LOCK_CLIENT, uploader)?;
    let group = usage_of(tx, group_id)?;
    Ok(q.check(group, usage_of_uploader(tx, uploader)?, add))
}

fn append(tx: &mut postgres::Transaction<'_>, group_id: &[u8], data: &[u8]) -> Result<u64, postgres::Error> {
    lock_group(tx, LOCK_RELAY, group_id)?;
    let seq: i64 = tx
        .query_one(
            "INSERT INTO messages(group_id, seq, data)
             SELECT $1::bytea, COALESCE(MAX(seq),0)+1, $2::bytea FROM messages WHERE group_id=$1::bytea RETURNING seq",
            &[&group_id, &data],
        )?
        .get(0);
    tx.execute("SELECT pg_notify('mimi_relay', '')", &[])?;
    Ok(u(seq))
}

fn upload_from_row(r: &postgres::Row) -> UploadRow {
    UploadRow {
        id: r.get(0),
        group_id: r.get(1),
        uploader: r.get(2),
        total: u(r.get(3)),
        offset: u(r.get(4)),
        resumable: r.get(5),
        expires_ms: u(r.get(6)),
    }
}

const UPLOAD_COLS: &str = "id, group_id, uploader, total, \"offset\", resumable, expires_ms";

impl PgMeta {
    /// Connects to `url` (`postgres://user[:password]@host:port/db`), applies the migrations and
    /// starts the worker and relay-listener threads.
    pub fn open(url: &str) -> MetaResult<Self> {
        let mut config = Config::from_str(url).map_err(|e| other(&format!("bad PostgreSQL URL: {e}")))?;
        config.connect_timeout(CONNECT_TIMEOUT);
        if config.get_application_name().is_none() {
            config.application_name("mimi-ds");
        }
        // The blocking client runs its own runtime: never on a thread that drives async tasks.
        let setup = {
            let config = config.clone();
            std::thread::spawn(move || -> Result<(), postgres::Error> {
                let mut c = connect(&config)?;
                migrate(&mut c)
            })
            .join()
        };
        setup.map_err(|_| other("migration thread panicked"))?.map_err(meta_err)?;
        let pool = Pool::start(&config)?;
        Ok(Self { pool, config, next_nonce_purge: AtomicU64::new(0) })
    }

    /// The connection settings (for diagnostics).
    pub fn config(&self) -> &Config {
        &self.config
    }

    fn pop(&self, table: &'static str, client_id: &[u8]) -> MetaResult<Option<Vec<u8>>> {
        let cid = client_id.to_vec();
        self.pool.run(move |c| {
            let row = c.query_opt(
                &format!(
                    "DELETE FROM {table} WHERE id = (SELECT id FROM {table} WHERE client_id=$1 ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING data"
                ),
                &[&cid],
            )?;
            Ok(row.map(|r| r.get(0)))
        })
    }
}

fn group_from_row(r: &postgres::Row) -> StoredGroup {
    StoredGroup {
        group_id: r.get(0),
        epoch: u(r.get(1)),
        group_info: r.get(2),
        ratchet_tree: r.get(3),
        owner: r.get(4),
    }
}

impl MetaStore for PgMeta {
    fn load_groups(&self) -> MetaResult<Vec<StoredGroup>> {
        self.pool.run(|c| {
            Ok(c.query("SELECT group_id, epoch, group_info, ratchet_tree, owner FROM groups", &[])?
                .iter()
                .map(group_from_row)
                .collect())
        })
    }
    fn insert_group(&self, g: &StoredGroup) -> MetaResult<bool> {
        let g = g.clone();
        self.pool.run(move |c| {
            let n = c.execute(
                "INSERT INTO groups(group_id, epoch, group_info, ratchet_tree, owner) VALUES($1,$2,$3,$4,$5) ON CONFLICT DO NOTHING",
                &[&g.group_id, &i(g.epoch), &g.group_info, &g.ratchet_tree, &g.owner],
            )?;
            Ok(n == 1)
        })
    }
    fn set_group(&self, g: &StoredGroup) -> MetaResult<()> {
        let g = g.clone();
        self.pool.run(move |c| {
            c.execute(
                "UPDATE groups SET epoch=$2, group_info=$3, ratchet_tree=$4 WHERE group_id=$1",
                &[&g.group_id, &i(g.epoch), &g.group_info, &g.ratchet_tree],
            )
            .map(drop)
        })
    }
    fn update_group(&self, g: &StoredGroup, message: &[u8]) -> MetaResult<u64> {
        let (g, message) = (g.clone(), message.to_vec());
        let r = self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            // Only from the previous epoch: another replica may have accepted a commit already.
            let n = tx.execute(
                "UPDATE groups SET epoch=$2, group_info=$3, ratchet_tree=$4 WHERE group_id=$1 AND epoch=$2::bigint-1",
                &[&g.group_id, &i(g.epoch), &g.group_info, &g.ratchet_tree],
            )?;
            if n != 1 {
                return Ok(None);
            }
            let seq = append(&mut tx, &g.group_id, &message)?;
            tx.commit()?;
            Ok(Some(seq))
        })?;
        r.ok_or_else(|| other("the group's epoch was changed by another DS replica"))
    }
    fn append_message(&self, group_id: &[u8], data: &[u8]) -> MetaResult<u64> {
        let (gid, data) = (group_id.to_vec(), data.to_vec());
        self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            let seq = append(&mut tx, &gid, &data)?;
            tx.commit()?;
            Ok(seq)
        })
    }
    fn messages_after(&self, group_id: &[u8], after: u64, limit: u32) -> MetaResult<Vec<(u64, Vec<u8>)>> {
        let gid = group_id.to_vec();
        self.pool.run(move |c| {
            Ok(c.query(
                "SELECT seq, data FROM messages WHERE group_id=$1 AND seq>$2 ORDER BY seq LIMIT $3",
                &[&gid, &i(after), &i64::from(limit)],
            )?
            .iter()
            .map(|r| (u(r.get(0)), r.get(1)))
            .collect())
        })
    }
    fn push_key_package(&self, client_id: &[u8], data: &[u8], last_resort: bool, max: u64) -> MetaResult<bool> {
        let (cid, data) = (client_id.to_vec(), data.to_vec());
        self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            // Serialises the count check and the insert for this client across replicas.
            lock_group(&mut tx, LOCK_KEY_PACKAGES, &cid)?;
            let n: i64 = tx.query_one("SELECT COUNT(*) FROM key_packages WHERE client_id=$1", &[&cid])?.get(0);
            if u(n) >= max {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO key_packages(client_id, data, last_resort) VALUES($1,$2,$3)",
                &[&cid, &data, &last_resort],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }
    fn pop_key_package(&self, client_id: &[u8]) -> MetaResult<Option<Vec<u8>>> {
        let cid = client_id.to_vec();
        self.pool.run(move |c| {
            let ordinary = c.query_opt(
                "DELETE FROM key_packages WHERE id = (SELECT id FROM key_packages WHERE client_id=$1 AND NOT last_resort ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING data",
                &[&cid],
            )?;
            if let Some(r) = ordinary {
                return Ok(Some(r.get(0)));
            }
            // None left: the newest last-resort one, which stays.
            Ok(c.query_opt(
                "SELECT data FROM key_packages WHERE client_id=$1 AND last_resort ORDER BY id DESC LIMIT 1",
                &[&cid],
            )?
            .map(|r| r.get(0)))
        })
    }
    fn push_welcome(&self, client_id: &[u8], data: &[u8]) -> MetaResult<()> {
        let (cid, data) = (client_id.to_vec(), data.to_vec());
        self.pool
            .run(move |c| c.execute("INSERT INTO welcomes(client_id, data) VALUES($1,$2)", &[&cid, &data]).map(drop))
    }
    fn pop_welcome(&self, client_id: &[u8]) -> MetaResult<Option<Vec<u8>>> {
        self.pop("welcomes", client_id)
    }
    fn reserve_upload(&self, up: &UploadRow, q: GroupQuota) -> MetaResult<Reserve> {
        let up = up.clone();
        self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            let r = check_quota(&mut tx, &up.group_id, &up.uploader, up.total, q)?;
            if r == Reserve::Ok {
                tx.execute(
                    &format!("INSERT INTO uploads({UPLOAD_COLS}) VALUES($1,$2,$3,$4,$5,$6,$7)"),
                    &[
                        &up.id,
                        &up.group_id,
                        &up.uploader,
                        &i(up.total),
                        &i(up.offset),
                        &up.resumable,
                        &i(up.expires_ms),
                    ],
                )?;
            }
            tx.commit()?;
            Ok(r)
        })
    }
    fn get_upload(&self, id: &str) -> MetaResult<Option<UploadRow>> {
        let id = id.to_owned();
        self.pool.run(move |c| {
            Ok(c.query_opt(&format!("SELECT {UPLOAD_COLS} FROM uploads WHERE id=$1"), &[&id])?
                .as_ref()
                .map(upload_from_row))
        })
    }
    fn all_uploads(&self) -> MetaResult<Vec<UploadRow>> {
        self.pool.run(|c| {
            Ok(c.query(&format!("SELECT {UPLOAD_COLS} FROM uploads"), &[])?.iter().map(upload_from_row).collect())
        })
    }
    fn set_upload_offset(&self, id: &str, offset: u64) -> MetaResult<()> {
        let id = id.to_owned();
        self.pool.run(move |c| c.execute("UPDATE uploads SET \"offset\"=$2 WHERE id=$1", &[&id, &i(offset)]).map(drop))
    }
    fn delete_upload(&self, id: &str) -> MetaResult<()> {
        let id = id.to_owned();
        self.pool.run(move |c| c.execute("DELETE FROM uploads WHERE id=$1", &[&id]).map(drop))
    }
    fn finish_upload(&self, upload_id: &str, a: &AttachmentRow) -> MetaResult<()> {
        let (id, a) = (upload_id.to_owned(), a.clone());
        self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            tx.execute("DELETE FROM uploads WHERE id=$1", &[&id])?;
            tx.execute("INSERT INTO blobs(id, size, refcount) VALUES($1,$2,1)", &[&a.blob_id, &i(a.size)])?;
            tx.execute(
                "INSERT INTO attachments(token_hash, group_id, blob_id, size, uploader, expires_ms) VALUES($1,$2,$3,$4,$5,$6)",
                &[&a.token_hash, &a.group_id, &a.blob_id, &i(a.size), &a.uploader, &i(a.expires_ms)],
            )?;
            tx.commit()
        })
    }
    fn get_attachment(&self, token_hash: &[u8]) -> MetaResult<Option<AttachmentRow>> {
        let th = token_hash.to_vec();
        self.pool.run(move |c| {
            Ok(c.query_opt(
                "SELECT token_hash, group_id, blob_id, size, uploader, expires_ms FROM attachments WHERE token_hash=$1",
                &[&th],
            )?
            .map(|r| AttachmentRow {
                token_hash: r.get(0),
                group_id: r.get(1),
                blob_id: r.get(2),
                size: u(r.get(3)),
                uploader: r.get(4),
                expires_ms: u(r.get(5)),
            }))
        })
    }
    fn delete_attachment(&self, token_hash: &[u8]) -> MetaResult<Option<String>> {
        let th = token_hash.to_vec();
        self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            let Some(row) = tx.query_opt("DELETE FROM attachments WHERE token_hash=$1 RETURNING blob_id", &[&th])?
            else {
                tx.commit()?;
                return Ok(None);
            };
            let blob: String = row.get(0);
            let rc: Option<i64> = tx
                .query_opt("UPDATE blobs SET refcount=refcount-1 WHERE id=$1 RETURNING refcount", &[&blob])?
                .map(|r| r.get(0));
            let gone = if rc.unwrap_or(0) <= 0 {
                tx.execute("DELETE FROM blobs WHERE id=$1", &[&blob])?;
                Some(blob)
            } else {
                None
            };
            tx.commit()?;
            Ok(gone)
        })
    }
    fn copy_attachment(&self, src_token_hash: &[u8], a: &AttachmentRow, q: GroupQuota) -> MetaResult<Reserve> {
        let (src, a) = (src_token_hash.to_vec(), a.clone());
        self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            lock_group(&mut tx, LOCK_QUOTA, &a.group_id)?;
            lock_group(&mut tx, LOCK_CLIENT, &a.uploader)?;
            // FOR SHARE: a concurrent delete of the source waits for this copy (or wins first).
            let exists: Option<String> = tx
                .query_opt("SELECT blob_id FROM attachments WHERE token_hash=$1 FOR SHARE", &[&src])?
                .map(|r| r.get(0));
            if exists.as_deref() != Some(a.blob_id.as_str()) {
                return Ok(Reserve::Missing);
            }
            let r = check_quota(&mut tx, &a.group_id, &a.uploader, a.size, q)?;
            if r == Reserve::Ok {
                tx.execute("UPDATE blobs SET refcount=refcount+1 WHERE id=$1", &[&a.blob_id])?;
                tx.execute(
                    "INSERT INTO attachments(token_hash, group_id, blob_id, size, uploader, expires_ms) VALUES($1,$2,$3,$4,$5,$6)",
                    &[&a.token_hash, &a.group_id, &a.blob_id, &i(a.size), &a.uploader, &i(a.expires_ms)],
                )?;
            }
            tx.commit()?;
            Ok(r)
        })
    }
    fn expired_attachments(&self, now_ms: u64) -> MetaResult<Vec<Vec<u8>>> {
        self.pool.run(move |c| {
            Ok(c.query("SELECT token_hash FROM attachments WHERE expires_ms<=$1", &[&i(now_ms)])?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }
    fn expired_uploads(&self, now_ms: u64) -> MetaResult<Vec<String>> {
        self.pool.run(move |c| {
            Ok(c.query("SELECT id FROM uploads WHERE expires_ms<=$1", &[&i(now_ms)])?
                .iter()
                .map(|r| r.get(0))
                .collect())
        })
    }
    fn blob_ids(&self) -> MetaResult<Vec<String>> {
        self.pool.run(|c| Ok(c.query("SELECT id FROM blobs", &[])?.iter().map(|r| r.get(0)).collect()))
    }
    fn usage(&self, group_id: &[u8]) -> MetaResult<(u64, u64)> {
        let gid = group_id.to_vec();
        self.pool.run(move |c| {
            let mut tx = c.transaction()?;
            let r = usage_of(&mut tx, &gid)?;
            tx.commit()?;
            Ok(r)
        })
    }

    fn is_shared(&self) -> bool {
        true
    }
    fn load_group(&self, group_id: &[u8]) -> MetaResult<Option<StoredGroup>> {
        let gid = group_id.to_vec();
        self.pool.run(move |c| {
            Ok(c.query_opt(
                "SELECT group_id, epoch, group_info, ratchet_tree, owner FROM groups WHERE group_id=$1",
                &[&gid],
            )?
            .as_ref()
            .map(group_from_row))
        })
    }
    fn group_epoch(&self, group_id: &[u8]) -> MetaResult<Option<u64>> {
        let gid = group_id.to_vec();
        self.pool
            .run(move |c| Ok(c.query_opt("SELECT epoch FROM groups WHERE group_id=$1", &[&gid])?.map(|r| u(r.get(0)))))
    }
    fn insert_nonce(&self, nonce: &[u8], now_ms: u64, keep_until_ms: u64) -> MetaResult<Option<bool>> {
        let nonce = nonce.to_vec();
        let purge = {
            let next = self.next_nonce_purge.load(Ordering::Relaxed);
            now_ms >= next
                && self
                    .next_nonce_purge
                    .compare_exchange(
                        next,
                        now_ms.saturating_add(NONCE_PURGE_EVERY_MS),
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    )
                    .is_ok()
        };
        self.pool.run(move |c| {
            if purge {
                c.execute("DELETE FROM nonces WHERE until_ms<=$1", &[&i(now_ms)])?;
            }
            // Inserted, or replaced an expired entry: fresh. Otherwise a replay.
            let fresh = c
                .query_opt(
                    "INSERT INTO nonces(nonce, until_ms) VALUES($1,$2)
                     ON CONFLICT (nonce) DO UPDATE SET until_ms=EXCLUDED.until_ms WHERE nonces.until_ms<=$3
                     RETURNING 1",
                    &[&nonce, &i(keep_until_ms), &i(now_ms)],
                )?
                .is_some();
            Ok(Some(fresh))
        })
    }
    fn on_remote_message(&self, wake: Box<dyn Fn() + Send + Sync>) {
        self.pool.on_notify(wake);
    }
    fn ping(&self) -> MetaResult<()> {
        self.pool.run(|c| c.simple_query("SELECT 1").map(drop))
    }
}
