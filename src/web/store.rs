//! Persistence in IndexedDB (database "mimi-attachments", store "clients"): a client's state under
//! its `storeName`, and the records of unfinished uploads (`upload:<storeName>:<location>`).

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::error::describe;
#[cfg(feature = "mls")]
use super::js::bytes;
#[cfg(feature = "mls")]
use crate::mls;
use crate::Error;

#[wasm_bindgen(inline_js = r#"
const DB = "mimi-attachments", STORE = "clients";
function open() {
  return new Promise((resolve, reject) => {
    const r = globalThis.indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}
function run(mode, f) {
  return open().then((db) => new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = f(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(req.result); };
    tx.onerror = tx.onabort = () => { db.close(); reject(tx.error); };
  }));
}
export function idb_put(key, value) { return run("readwrite", (s) => s.put(value, key)); }
export function idb_get(key) { return run("readonly", (s) => s.get(key)); }
export function idb_delete(key) { return run("readwrite", (s) => s.delete(key)); }
export function idb_keys() { return run("readonly", (s) => s.getAllKeys()); }
"#)]
extern "C" {
    #[wasm_bindgen(catch)]
    pub(crate) fn idb_put(key: &str, value: &JsValue) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub(crate) fn idb_get(key: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub(crate) fn idb_delete(key: &str) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch)]
    pub(crate) fn idb_keys() -> Result<Promise, JsValue>;
}

pub(crate) async fn idb(p: Result<Promise, JsValue>) -> Result<JsValue, Error> {
    let p = p.map_err(|e| Error::Platform(format!("IndexedDB: {}", describe(&e))))?;
    JsFuture::from(p).await.map_err(|e| Error::Platform(format!("IndexedDB: {}", describe(&e))))
}

/// A client and where it persists (`None`: in memory only).
#[cfg(feature = "mls")]
#[derive(Clone)]
pub(crate) struct ClientHandle {
    client: mls::Client,
    store_name: Option<String>,
}

#[cfg(feature = "mls")]
impl ClientHandle {
    pub(crate) fn new(client: mls::Client, store_name: Option<String>) -> ClientHandle {
        ClientHandle { client, store_name }
    }

    pub(crate) fn client(&self) -> &mls::Client {
        &self.client
    }

    /// The IndexedDB key the client persists under (`None`: in memory only).
    pub(crate) fn store_name(&self) -> Option<&str> {
        self.store_name.as_deref()
    }

    /// Persists the client's state (secret: the copy handed to IndexedDB is zeroed afterwards).
    pub(crate) async fn save(&self) -> Result<(), Error> {
        if let Some(name) = &self.store_name {
            let state = self.client.export_state()?;
            let arr = bytes(&state);
            let r = idb(idb_put(name, &arr.clone().into())).await;
            arr.fill(0, 0, arr.length());
            r?;
        }
        Ok(())
    }
}
