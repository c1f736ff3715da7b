//! Metadata in SQLite (`<data>/meta.sqlite`): the embedded default [`MetaStore`].
//!
//! Tokens are never stored: attachments are keyed by `SHA-256(token)`.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::meta::{AttachmentRow, GroupQuota, MetaResult, MetaStore, Reserve, StoredGroup, UploadRow};

/// SQLite in `<data>/meta.sqlite` (WAL, `synchronous=FULL`).
pub struct SqliteMeta {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
PRAGMA journal_mode=WAL;
PRAGMA synchronous=FULL;
PRAGMA foreign_keys=ON;
CREATE TABLE IF NOT EXISTS groups(group_id BLOB PRIMARY KEY, epoch INTEGER NOT NULL, group_info BLOB NOT NULL, ratchet_tree BLOB NOT NULL, owner BLOB NOT NULL DEFAULT x'');
CREATE TABLE IF NOT EXISTS messages(group_id BLOB NOT NULL, seq INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY(group_id, seq));
CREATE TABLE IF NOT EXISTS key_packages(id INTEGER PRIMARY KEY AUTOINCREMENT, client_id BLOB NOT NULL, data BLOB NOT NULL, last_resort INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS welcomes(id INTEGER PRIMARY KEY AUTOINCREMENT, client_id BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS uploads(id TEXT PRIMARY KEY, group_id BLOB NOT NULL, uploader BLOB NOT NULL, total INTEGER NOT NULL, offset INTEGER NOT NULL, resumable INTEGER NOT NULL, expires_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS blobs(id TEXT PRIMARY KEY, size INTEGER NOT NULL, refcount INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS attachments(token_hash BLOB PRIMARY KEY, group_id BLOB NOT NULL, blob_id TEXT NOT NULL REFERENCES blobs(id), size INTEGER NOT NULL, uploader BLOB NOT NULL, expires_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS attachments_group ON attachments(group_id);
CREATE INDEX IF NOT EXISTS uploads_group ON uploads(group_id);
CREATE INDEX IF NOT EXISTS attachments_uploader ON attachments(uploader);
CREATE INDEX IF NOT EXISTS uploads_uploader ON uploads(uploader);
CREATE INDEX IF NOT EXISTS key_packages_client ON key_packages(client_id);
";

fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn usage_of(c: &Connection, group_id: &[u8]) -> MetaResult<(u64, u64)> {
    let (ab, ac): (i64, i64) = c.query_row(
        "SELECT COALESCE(SUM(size),0), COUNT(*) FROM attachments WHERE group_id=?1",
        params![group_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (ub, uc): (i64, i64) = c.query_row(
        "SELECT COALESCE(SUM(total),0), COUNT(*) FROM uploads WHERE group_id=?1",
        params![group_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((u(ab).saturating_add(u(ub)), u(ac).saturating_add(u(uc))))
}

fn usage_of_uploader(c: &Connection, uploader: &[u8]) -> MetaResult<(u64, u64)> {
    let (ab, ac): (i64, i64) = c.query_row(
        "SELECT COALESCE(SUM(size),0), COUNT(*) FROM attachments WHERE uploader=?1",
        params![uploader],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let (ub, uc): (i64, i64) = c.query_row(
        "SELECT COALESCE(SUM(total),0), COUNT(*) FROM uploads WHERE uploader=?1",
        params![uploader],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok((u(ab).saturating_add(u(ub)), u(ac).saturating_add(u(uc))))
}

fn check_quota(c: &Connection, group_id: &[u8], uploader: &[u8], add: u64, q: GroupQuota) -> MetaResult<Reserve> {
    Ok(q.check(usage_of(c, group_id)?, usage_of_uploader(c, uploader)?, add))
}

fn upload_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRow> {
    Ok(UploadRow {
        id: r.get(0)?,
        group_id: r.get(1)?,
        uploader: r.get(2)?,
        total: u(r.get(3)?),
        offset: u(r.get(4)?),
        resumable: r.get::<_, i64>(5)? != 0,
        expires_ms: u(r.get(6)?),
    })
}

impl SqliteMeta {
    /// Opens (creating) the database.
    pub fn open(path: &Path) -> MetaResult<Self> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        // Databases from before group owners were recorded.
        let has_owner: bool =
            conn.prepare("SELECT 1 FROM pragma_table_info('groups') WHERE name='owner'")?.exists([])?;
        if !has_owner {
            conn.execute_batch("ALTER TABLE groups ADD COLUMN owner BLOB NOT NULL DEFAULT x''")?;
        }
        let has_last_resort: bool =
            conn.prepare("SELECT 1 FROM pragma_table_info('key_packages') WHERE name='last_resort'")?.exists([])?;
        if !has_last_resort {
            conn.execute_batch("ALTER TABLE key_packages ADD COLUMN last_resort INTEGER NOT NULL DEFAULT 0")?;
        }
        Ok(Self { conn: Mutex::new(conn) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> MetaResult<T>) -> MetaResult<T> {
        // A poisoned lock only means another thread panicked mid-call; SQLite transactions keep
        // the data consistent, so continue with the connection.
        let mut g = match self.conn.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut g)
    }
}

fn append(c: &Connection, group_id: &[u8], data: &[u8]) -> MetaResult<u64> {
    let next: i64 =
        c.query_row("SELECT COALESCE(MAX(seq),0)+1 FROM messages WHERE group_id=?1", params![group_id], |r| r.get(0))?;
    c.execute("INSERT INTO messages(group_id, seq, data) VALUES(?1,?2,?3)", params![group_id, next, data])?;
    Ok(u(next))
}

fn pop(c: &mut Connection, table: &str, client_id: &[u8]) -> MetaResult<Option<Vec<u8>>> {
    let tx = c.transaction()?;
    let row: Option<(i64, Vec<u8>)> = tx
        .query_row(
            &format!("SELECT id, data FROM {table} WHERE client_id=?1 ORDER BY id LIMIT 1"),
            params![client_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    if let Some((id, _)) = &row {
        tx.execute(&format!("DELETE FROM {table} WHERE id=?1"), params![id])?;
    }
    tx.commit()?;
    Ok(row.map(|(_, d)| d))
}

impl MetaStore for SqliteMeta {
    fn load_groups(&self) -> MetaResult<Vec<StoredGroup>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT group_id, epoch, group_info, ratchet_tree, owner FROM groups")?;
            let rows = st.query_map([], |r| {
                Ok(StoredGroup {
                    group_id: r.get(0)?,
                    epoch: u(r.get(1)?),
                    group_info: r.get(2)?,
                    ratchet_tree: r.get(3)?,
                    owner: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }
    fn insert_group(&self, g: &StoredGroup) -> MetaResult<bool> {
        self.with(|c| {
            let n = c.execute(
                "INSERT OR IGNORE INTO groups(group_id, epoch, group_info, ratchet_tree, owner) VALUES(?1,?2,?3,?4,?5)",
                params![g.group_id, i(g.epoch), g.group_info, g.ratchet_tree, g.owner],
            )?;
            Ok(n == 1)
        })
    }
    fn set_group(&self, g: &StoredGroup) -> MetaResult<()> {
        self.with(|c| {
            c.execute(
                "UPDATE groups SET epoch=?2, group_info=?3, ratchet_tree=?4 WHERE group_id=?1",
                params![g.group_id, i(g.epoch), g.group_info, g.ratchet_tree],
            )
            .map(|_| ())
        })
    }
    fn update_group(&self, g: &StoredGroup, message: &[u8]) -> MetaResult<u64> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE groups SET epoch=?2, group_info=?3, ratchet_tree=?4 WHERE group_id=?1",
                params![g.group_id, i(g.epoch), g.group_info, g.ratchet_tree],
            )?;
            let seq = append(&tx, &g.group_id, message)?;
            tx.commit()?;
            Ok(seq)
        })
    }
    fn append_message(&self, group_id: &[u8], data: &[u8]) -> MetaResult<u64> {
        self.with(|c| append(c, group_id, data))
    }
    fn messages_after(&self, group_id: &[u8], after: u64, limit: u32) -> MetaResult<Vec<(u64, Vec<u8>)>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT seq, data FROM messages WHERE group_id=?1 AND seq>?2 ORDER BY seq LIMIT ?3")?;
            let rows = st.query_map(params![group_id, i(after), limit], |r| Ok((u(r.get(0)?), r.get(1)?)))?;
            rows.collect()
        })
    }
    fn push_key_package(&self, client_id: &[u8], data: &[u8], last_resort: bool, max: u64) -> MetaResult<bool> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let n: i64 =
                tx.query_row("SELECT COUNT(*) FROM key_packages WHERE client_id=?1", params![client_id], |r| r.get(0))?;
            if u(n) >= max {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO key_packages(client_id, data, last_resort) VALUES(?1,?2,?3)",
                params![client_id, data, last_resort as i64],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }
    fn pop_key_package(&self, client_id: &[u8]) -> MetaResult<Option<Vec<u8>>> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let ordinary: Option<(i64, Vec<u8>)> = tx
                .query_row(
                    "SELECT id, data FROM key_packages WHERE client_id=?1 AND last_resort=0 ORDER BY id LIMIT 1",
                    params![client_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let out = match ordinary {
                Some((id, data)) => {
                    tx.execute("DELETE FROM key_packages WHERE id=?1", params![id])?;
                    Some(data)
                }
                None => tx
                    .query_row(
                        "SELECT data FROM key_packages WHERE client_id=?1 AND last_resort=1 ORDER BY id DESC LIMIT 1",
                        params![client_id],
                        |r| r.get(0),
                    )
                    .optional()?,
            };
            tx.commit()?;
            Ok(out)
        })
    }
    fn push_welcome(&self, client_id: &[u8], data: &[u8]) -> MetaResult<()> {
        self.with(|c| {
            c.execute("INSERT INTO welcomes(client_id, data) VALUES(?1,?2)", params![client_id, data]).map(|_| ())
        })
    }
    fn pop_welcome(&self, client_id: &[u8]) -> MetaResult<Option<Vec<u8>>> {
        self.with(|c| pop(c, "welcomes", client_id))
    }
    fn reserve_upload(&self, up: &UploadRow, q: GroupQuota) -> MetaResult<Reserve> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let r = check_quota(&tx, &up.group_id, &up.uploader, up.total, q)?;
            if r == Reserve::Ok {
                tx.execute(
                    "INSERT INTO uploads(id, group_id, uploader, total, offset, resumable, expires_ms) VALUES(?1,?2,?3,?4,?5,?6,?7)",
                    params![up.id, up.group_id, up.uploader, i(up.total), i(up.offset), up.resumable as i64, i(up.expires_ms)],
                )?;
            }
            tx.commit()?;
            Ok(r)
        })
    }
    fn get_upload(&self, id: &str) -> MetaResult<Option<UploadRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT id, group_id, uploader, total, offset, resumable, expires_ms FROM uploads WHERE id=?1",
                params![id],
                upload_from_row,
            )
            .optional()
        })
    }
    fn all_uploads(&self) -> MetaResult<Vec<UploadRow>> {
        self.with(|c| {
            let mut st =
                c.prepare("SELECT id, group_id, uploader, total, offset, resumable, expires_ms FROM uploads")?;
            let rows = st.query_map([], upload_from_row)?;
            rows.collect()
        })
    }
    fn set_upload_offset(&self, id: &str, offset: u64) -> MetaResult<()> {
        self.with(|c| c.execute("UPDATE uploads SET offset=?2 WHERE id=?1", params![id, i(offset)]).map(|_| ()))
    }
    fn delete_upload(&self, id: &str) -> MetaResult<()> {
        self.with(|c| c.execute("DELETE FROM uploads WHERE id=?1", params![id]).map(|_| ()))
    }
    fn finish_upload(&self, upload_id: &str, a: &AttachmentRow) -> MetaResult<()> {
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute("DELETE FROM uploads WHERE id=?1", params![upload_id])?;
            tx.execute("INSERT INTO blobs(id, size, refcount) VALUES(?1,?2,1)", params![a.blob_id, i(a.size)])?;
            tx.execute(
                "INSERT INTO attachments(token_hash, group_id, blob_id, size, uploader, expires_ms) VALUES(?1,?2,?3,?4,?5,?6)",
                params![a.token_hash, a.group_id, a.blob_id, i(a.size), a.uploader, i(a.expires_ms)],
            )?;
            tx.commit()
        })
    }
    fn get_attachment(&self, token_hash: &[u8]) -> MetaResult<Option<AttachmentRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT token_hash, group_id, blob_id, size, uploader, expires_ms FROM attachments WHERE token_hash=?1",
                params![token_hash],
                |r| {
                    Ok(AttachmentRow {
                        token_hash: r.get(0)?,
                        group_id: r.get(1)?,
                        blob_id: r.get(2)?,
                        size: u(r.get(3)?),
                        uploader: r.get(4)?,
                        expires_ms: u(r.get(5)?),
                    })
                },
            )
            .optional()
        })
    }
    fn delete_attachment(&self, token_hash: &[u8]) -> MetaResult<Option<String>> {
        self.with(|c| {
            let tx = c.transaction()?;
            let blob: Option<String> = tx
                .query_row("SELECT blob_id FROM attachments WHERE token_hash=?1", params![token_hash], |r| r.get(0))
                .optional()?;
            let Some(blob) = blob else {
                tx.commit()?;
                return Ok(None);
            };
            tx.execute("DELETE FROM attachments WHERE token_hash=?1", params![token_hash])?;
            tx.execute("UPDATE blobs SET refcount=refcount-1 WHERE id=?1", params![blob])?;
            let rc: i64 = tx.query_row("SELECT refcount FROM blobs WHERE id=?1", params![blob], |r| r.get(0))?;
            let gone = if rc <= 0 {
                tx.execute("DELETE FROM blobs WHERE id=?1", params![blob])?;
                Some(blob)
            } else {
                None
            };
            tx.commit()?;
            Ok(gone)
        })
    }
    fn copy_attachment(&self, src_token_hash: &[u8], a: &AttachmentRow, q: GroupQuota) -> MetaResult<Reserve> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let exists: Option<String> = tx
                .query_row("SELECT blob_id FROM attachments WHERE token_hash=?1", params![src_token_hash], |r| r.get(0))
                .optional()?;
            if exists.as_deref() != Some(a.blob_id.as_str()) {
                return Ok(Reserve::Missing);
            }
            let r = check_quota(&tx, &a.group_id, &a.uploader, a.size, q)?;
            if r == Reserve::Ok {
                tx.execute("UPDATE blobs SET refcount=refcount+1 WHERE id=?1", params![a.blob_id])?;
                tx.execute(
                    "INSERT INTO attachments(token_hash, group_id, blob_id, size, uploader, expires_ms) VALUES(?1,?2,?3,?4,?5,?6)",
                    params![a.token_hash, a.group_id, a.blob_id, i(a.size), a.uploader, i(a.expires_ms)],
                )?;
            }
            tx.commit()?;
            Ok(r)
        })
    }
    fn expired_attachments(&self, now_ms: u64) -> MetaResult<Vec<Vec<u8>>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT token_hash FROM attachments WHERE expires_ms<=?1")?;
            let rows = st.query_map(params![i(now_ms)], |r| r.get(0))?;
            rows.collect()
        })
    }
    fn expired_uploads(&self, now_ms: u64) -> MetaResult<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id FROM uploads WHERE expires_ms<=?1")?;
            let rows = st.query_map(params![i(now_ms)], |r| r.get(0))?;
            rows.collect()
        })
    }
    fn blob_ids(&self) -> MetaResult<Vec<String>> {
        self.with(|c| {
            let mut st = c.prepare("SELECT id FROM blobs")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }
    fn usage(&self, group_id: &[u8]) -> MetaResult<(u64, u64)> {
        self.with(|c| usage_of(c, group_id))
    }
    fn ping(&self) -> MetaResult<()> {
        self.with(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }
}
