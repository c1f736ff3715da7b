//! The MLS client as a JavaScript class, and the TypeScript types shared by the client, its
//! groups ([`super::group`]) and attachments ([`super::attachment`]). Every method that changes a
//! client's state persists it to IndexedDB (when the client has a `storeName`) before its Promise
//! resolves.

use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::error::{js_error, JsResult};
use super::group::MlsGroup;
use super::js::opt_whole;
use super::js::{bytes, get_opt, promise};
use super::store::ClientHandle;
use super::store::{idb, idb_delete, idb_get};
use crate::mls;
use crate::{CipherSuite, Error};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** Options of `MlsClient.create` / `MlsClient.open` / `MlsClient.importState`. */
export interface MlsClientOptions {
  /** Cipher suite of new groups and key packages: 1 (default), 2 or 3. */
  cipherSuite?: number;
  /** IndexedDB key to persist the client under; `null` keeps it in memory only.
   *  Default: `"mimi-attachments:" + identity`. */
  storeName?: string | null;
  /** `create` only: replace a client already stored under `storeName` (its groups are lost).
   *  Without it, `create` rejects with `AlreadyExists`. */
  replace?: boolean;
}
/** Messages a group operation produced, for the Delivery Service. */
export interface GroupUpdate {
  /** The commit (an MLS PublicMessage). */
  commit: Uint8Array;
  /** The Welcome for added members. */
  welcome?: Uint8Array;
  /** The new epoch's GroupInfo, with the ratchet tree. */
  groupInfo?: Uint8Array;
}
export interface GroupMember { leafIndex: number; identity: string; signatureKey: Uint8Array; }
/** What `processMessage` did. */
export type GroupEvent =
  | { type: "application"; senderLeafIndex: number; epoch: number; data: Uint8Array }
  | { type: "commit"; senderLeafIndex?: number; epoch: number; added: string[]; removed: number[]; selfRemoved: boolean }
  | { type: "proposal"; senderLeafIndex?: number; epoch: number }
  | { type: "own"; epoch: number };
"#;

pub(crate) fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An MLS client (one identity and signature key) held in the browser. State persists to
/// IndexedDB by default and can be exported as bytes (secret material).
#[wasm_bindgen]
pub struct MlsClient(pub(crate) ClientHandle);

fn store_name_of(options: &JsValue, identity: &str) -> Result<Option<String>, Error> {
    let s = get_opt(options, "storeName");
    if s.is_null() {
        Ok(None)
    } else if s.is_undefined() {
        Ok(Some(format!("mimi-attachments:{identity}")))
    } else {
        s.as_string()
            .map(Some)
            .ok_or_else(|| Error::InvalidArgument("options.storeName must be a string or null".into()))
    }
}

/// The client stored under `name`, if any.
async fn load_stored(name: &str) -> Result<Option<mls::Client>, Error> {
    let v = idb(idb_get(name)).await?;
    if v.is_undefined() {
        return Ok(None);
    }
    let arr = v.dyn_into::<Uint8Array>().map_err(|_| Error::Codec("stored client state is not bytes".into()))?;
    let state = zeroize::Zeroizing::new(arr.to_vec());
    Ok(Some(mls::Client::import_state(&state)?))
}

/// A new client from `options` (cipher suite), persisted under `store_name`.
async fn new_client(identity: &str, options: &JsValue, store_name: Option<String>) -> Result<ClientHandle, Error> {
    let suite = match opt_whole(&get_opt(options, "cipherSuite"), u64::from(u16::MAX), "cipherSuite")? {
        None => CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519,
        Some(n) => CipherSuite::from_u16(n as u16)?,
    };
    let h = ClientHandle::new(mls::Client::new(identity.as_bytes(), suite)?, store_name);
    h.save().await?;
    Ok(h)
}

#[wasm_bindgen]
impl MlsClient {
    /// Creates a client with a basic credential `identity` and a fresh signature key, and
    /// persists it (unless `storeName: null`). Rejects with `AlreadyExists` if a client is
    /// already stored under that name, unless `replace: true` (which discards it and its groups).
    #[wasm_bindgen(unchecked_return_type = "Promise<MlsClient>")]
    pub fn create(
        identity: String,
        #[wasm_bindgen(unchecked_optional_param_type = "MlsClientOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        promise(async move {
            let store_name = store_name_of(&options, &identity)?;
            if let Some(name) = &store_name {
                // Only whether the key is taken: no need to decode (or trust) the stored state.
                let taken = !idb(idb_get(name)).await?.is_undefined();
                if taken && get_opt(&options, "replace").as_bool() != Some(true) {
                    return Err(Error::AlreadyExists(format!(
                        "a client is already stored under \"{name}\": use MlsClient.open or MlsClient.load, or pass replace: true to discard it"
                    )));
                }
            }
            Ok(MlsClient(new_client(&identity, &options, store_name).await?))
        })
    }

    /// Loads the client stored under `storeName` (default `"mimi-attachments:" + identity`), or
    /// creates and persists a new one if there is none: the call for a page load.
    #[wasm_bindgen(unchecked_return_type = "Promise<MlsClient>")]
    pub fn open(
        identity: String,
        #[wasm_bindgen(unchecked_optional_param_type = "MlsClientOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        promise(async move {
            let store_name = store_name_of(&options, &identity)?;
            if let Some(name) = &store_name {
                if let Some(client) = load_stored(name).await? {
                    if client.identity() != identity.as_bytes() {
                        return Err(Error::AlreadyExists(format!("\"{name}\" holds the client of another identity")));
                    }
                    return Ok(MlsClient(ClientHandle::new(client, store_name)));
                }
            }
            Ok(MlsClient(new_client(&identity, &options, store_name).await?))
        })
    }

    /// Loads a client persisted under `storeName`; resolves to `undefined` if there is none.
    #[wasm_bindgen(unchecked_return_type = "Promise<MlsClient | undefined>")]
    pub fn load(#[wasm_bindgen(js_name = storeName)] store_name: String) -> Promise {
        promise(async move {
            Ok(match load_stored(&store_name).await? {
                None => JsValue::UNDEFINED,
                Some(client) => MlsClient(ClientHandle::new(client, Some(store_name))).into(),
            })
        })
    }

    /// Restores a client from `exportState()` bytes (and persists it unless `storeName: null`).
    #[wasm_bindgen(js_name = importState, unchecked_return_type = "Promise<MlsClient>")]
    pub fn import_state(
        state: Vec<u8>,
        #[wasm_bindgen(unchecked_optional_param_type = "MlsClientOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        promise(async move {
            let state = zeroize::Zeroizing::new(state);
            let client = mls::Client::import_state(&state)?;
            let name = store_name_of(&options, &text(client.identity()))?;
            let h = ClientHandle::new(client, name);
            h.save().await?;
            Ok(MlsClient(h))
        })
    }

    /// Deletes the persisted state of `storeName`.
    #[wasm_bindgen(js_name = deleteStored, unchecked_return_type = "Promise<void>")]
    pub fn delete_stored(#[wasm_bindgen(js_name = storeName)] store_name: String) -> Promise {
        promise(async move { idb(idb_delete(&store_name)).await.map(|_| JsValue::UNDEFINED) })
    }

    /// The whole client state (signature key, group secrets): secret material.
    #[wasm_bindgen(js_name = exportState)]
    pub fn export_state(&self) -> JsResult<Vec<u8>> {
        self.0.client().export_state().map_err(js_error)
    }

    /// The credential's identity.
    #[wasm_bindgen(getter)]
    pub fn identity(&self) -> String {
        text(self.0.client().identity())
    }

    /// The IndexedDB key the client persists under, if any.
    #[wasm_bindgen(getter, js_name = storeName)]
    pub fn store_name(&self) -> Option<String> {
        self.0.store_name().map(str::to_owned)
    }

    /// The cipher suite of new groups and key packages.
    #[wasm_bindgen(getter, js_name = cipherSuite)]
    pub fn cipher_suite(&self) -> u16 {
        self.0.client().suite().id()
    }

    /// The signature public key.
    #[wasm_bindgen(getter, js_name = signaturePublicKey)]
    pub fn signature_public_key(&self) -> Vec<u8> {
        self.0.client().signature_public_key().to_vec()
    }

    /// A fresh KeyPackage (`MLSMessage` bytes) for others to add this client with.
    #[wasm_bindgen(js_name = keyPackage, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn key_package(&self) -> Promise {
        let h = self.0.clone();
        promise(async move {
            let kp = h.client().key_package()?;
            h.save().await?;
            Ok(bytes(&kp))
        })
    }

    /// Creates a group with this client as its only member.
    #[wasm_bindgen(js_name = createGroup, unchecked_return_type = "Promise<MlsGroup>")]
    pub fn create_group(&self, #[wasm_bindgen(js_name = groupId)] group_id: Option<Vec<u8>>) -> Promise {
        let h = self.0.clone();
        promise(async move {
            let g = h.client().create_group(group_id.as_deref())?;
            h.save().await?;
            Ok(MlsGroup::new(h, g))
        })
    }

    /// Joins a group from a Welcome message.
    #[wasm_bindgen(js_name = joinGroup, unchecked_return_type = "Promise<MlsGroup>")]
    pub fn join_group(&self, welcome: Vec<u8>) -> Promise {
        let h = self.0.clone();
        promise(async move {
            let g = h.client().join_group(&welcome)?;
            h.save().await?;
            Ok(MlsGroup::new(h, g))
        })
    }

    /// A group of this client from its state, or `undefined`.
    #[wasm_bindgen(js_name = loadGroup)]
    pub fn load_group(&self, #[wasm_bindgen(js_name = groupId)] group_id: &[u8]) -> JsResult<Option<MlsGroup>> {
        let g = self.0.client().load_group(group_id).map_err(js_error)?;
        Ok(g.map(|g| MlsGroup::new(self.0.clone(), g)))
    }

    /// Ids of the groups this client created or joined.
    #[wasm_bindgen(js_name = groupIds, unchecked_return_type = "Uint8Array[]")]
    pub fn group_ids(&self) -> Array {
        self.0.client().group_ids().iter().map(|g| JsValue::from(bytes(g))).collect()
    }
}
