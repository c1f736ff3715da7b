//! The MLS client, its groups, and attachments, as JavaScript classes. Every method that changes
//! a client's state persists it to IndexedDB (when the client has a `storeName`) before its
//! Promise resolves.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::Blob;

use super::error::{js_error, JsResult};
use super::io::Options;
pub(crate) use super::js::{bytes, get_opt, promise, set};
use super::js::{opt_whole, whole, MAX_SAFE};
use super::pipeline::{decrypt_stream, decrypt_to_blob, encrypt_stream, encrypt_to_blob, hash_input};
pub(crate) use super::store::ClientHandle;
use super::store::{idb, idb_delete, idb_get};
use crate::attachment::{AttachmentRef as CoreRef, PendingAttachment};
use crate::format::{ChunkSize, Format};
use crate::mls::{self, GroupEvent, Outgoing};
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
export interface Progress { phase: "hash" | "encrypt" | "decrypt"; loaded: number; total?: number; }
export interface StreamOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** AEAD implementation: "auto" (WebCrypto for AES-GCM when available), "webcrypto" or "wasm". */
  backend?: "auto" | "webcrypto" | "wasm";
}
export interface EncryptOptions extends StreamOptions {
  /** Plaintext bytes per chunk (1024..16 MiB, default 256 KiB). */
  chunkSize?: number;
  /** The draft's one-shot form instead of chunked (files up to 64 MiB). */
  oneShot?: boolean;
}
export interface CiphertextOptions extends StreamOptions {
  /** First ciphertext byte to produce, to resume an upload. */
  offset?: number;
}
export interface CiphertextBlobOptions extends CiphertextOptions {
  /** MIME type of the Blob that `ciphertextToBlob` returns. */
  type?: string;
}
export interface DecryptOptions extends StreamOptions {
  /** MIME type of the Blob that `decryptToBlob` returns. */
  type?: string;
}
"#;

fn text(b: &[u8]) -> String {
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
    let h = ClientHandle { client: mls::Client::new(identity.as_bytes(), suite)?, store_name };
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
                    return Ok(MlsClient(ClientHandle { client, store_name }));
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
                Some(client) => MlsClient(ClientHandle { client, store_name: Some(store_name) }).into(),
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
            let h = ClientHandle { client, store_name: name };
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
        self.0.client.export_state().map_err(js_error)
    }

    /// The credential's identity.
    #[wasm_bindgen(getter)]
    pub fn identity(&self) -> String {
        text(self.0.client.identity())
    }

    /// The IndexedDB key the client persists under, if any.
    #[wasm_bindgen(getter, js_name = storeName)]
    pub fn store_name(&self) -> Option<String> {
        self.0.store_name.clone()
    }

    /// The cipher suite of new groups and key packages.
    #[wasm_bindgen(getter, js_name = cipherSuite)]
    pub fn cipher_suite(&self) -> u16 {
        self.0.client.suite().id()
    }

    /// The signature public key.
    #[wasm_bindgen(getter, js_name = signaturePublicKey)]
    pub fn signature_public_key(&self) -> Vec<u8> {
        self.0.client.signature_public_key().to_vec()
    }

    /// A fresh KeyPackage (`MLSMessage` bytes) for others to add this client with.
    #[wasm_bindgen(js_name = keyPackage, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn key_package(&self) -> Promise {
        let h = self.0.clone();
        promise(async move {
            let kp = h.client.key_package()?;
            h.save().await?;
            Ok(bytes(&kp))
        })
    }

    /// Creates a group with this client as its only member.
    #[wasm_bindgen(js_name = createGroup, unchecked_return_type = "Promise<MlsGroup>")]
    pub fn create_group(&self, #[wasm_bindgen(js_name = groupId)] group_id: Option<Vec<u8>>) -> Promise {
        let h = self.0.clone();
        promise(async move {
            let g = h.client.create_group(group_id.as_deref())?;
            h.save().await?;
            Ok(MlsGroup { h, g: Rc::new(RefCell::new(g)) })
        })
    }

    /// Joins a group from a Welcome message.
    #[wasm_bindgen(js_name = joinGroup, unchecked_return_type = "Promise<MlsGroup>")]
    pub fn join_group(&self, welcome: Vec<u8>) -> Promise {
        let h = self.0.clone();
        promise(async move {
            let g = h.client.join_group(&welcome)?;
            h.save().await?;
            Ok(MlsGroup { h, g: Rc::new(RefCell::new(g)) })
        })
    }

    /// A group of this client from its state, or `undefined`.
    #[wasm_bindgen(js_name = loadGroup)]
    pub fn load_group(&self, #[wasm_bindgen(js_name = groupId)] group_id: &[u8]) -> JsResult<Option<MlsGroup>> {
        let g = self.0.client.load_group(group_id).map_err(js_error)?;
        Ok(g.map(|g| MlsGroup { h: self.0.clone(), g: Rc::new(RefCell::new(g)) }))
    }

    /// Ids of the groups this client created or joined.
    #[wasm_bindgen(js_name = groupIds, unchecked_return_type = "Uint8Array[]")]
    pub fn group_ids(&self) -> Array {
        self.0.client.group_ids().iter().map(|g| JsValue::from(bytes(g))).collect()
    }
}

/// An MLS group this client is a member of.
#[wasm_bindgen]
pub struct MlsGroup {
    pub(crate) h: ClientHandle,
    pub(crate) g: Rc<RefCell<mls::Group>>,
}

pub(crate) fn update_js(o: Outgoing) -> JsValue {
    let obj = Object::new();
    set(&obj, "commit", bytes(&o.commit));
    if let Some(w) = o.welcome {
        set(&obj, "welcome", bytes(&w));
    }
    if let Some(gi) = o.group_info {
        set(&obj, "groupInfo", bytes(&gi));
    }
    obj.into()
}

pub(crate) fn event_js(e: GroupEvent) -> JsValue {
    let o = Object::new();
    let sender = |o: &Object, s: Option<u32>| {
        if let Some(s) = s {
            set(o, "senderLeafIndex", s);
        }
    };
    match e {
        GroupEvent::Application { sender: s, epoch, data } => {
            set(&o, "type", "application");
            set(&o, "senderLeafIndex", s);
            set(&o, "epoch", epoch as f64);
            set(&o, "data", bytes(&data));
        }
        GroupEvent::Commit { sender: s, epoch, added, removed, self_removed } => {
            set(&o, "type", "commit");
            sender(&o, s);
            set(&o, "epoch", epoch as f64);
            set(&o, "added", added.iter().map(|a| JsValue::from(text(a))).collect::<Array>());
            set(&o, "removed", removed.iter().map(|r| JsValue::from(*r)).collect::<Array>());
            set(&o, "selfRemoved", self_removed);
        }
        GroupEvent::Proposal { sender: s, epoch } => {
            set(&o, "type", "proposal");
            sender(&o, s);
            set(&o, "epoch", epoch as f64);
        }
        GroupEvent::Own { epoch } => {
            set(&o, "type", "own");
            set(&o, "epoch", epoch as f64);
        }
    }
    o.into()
}

impl MlsGroup {
    /// Runs a state-changing operation, then persists the client.
    fn mutate<T: Into<JsValue> + 'static>(&self, f: impl FnOnce(&mut mls::Group) -> Result<T, Error>) -> Promise {
        let r = f(&mut self.g.borrow_mut());
        let h = self.h.clone();
        promise(async move {
            let v = r?;
            h.save().await?;
            Ok(v)
        })
    }
}

#[wasm_bindgen]
impl MlsGroup {
    /// The group id.
    #[wasm_bindgen(getter, js_name = groupId)]
    pub fn group_id(&self) -> Vec<u8> {
        self.g.borrow().group_id().to_vec()
    }

    /// The current epoch.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> f64 {
        self.g.borrow().epoch() as f64
    }

    /// This client's leaf index.
    #[wasm_bindgen(getter, js_name = ownLeafIndex)]
    pub fn own_leaf_index(&self) -> u32 {
        self.g.borrow().own_leaf_index()
    }

    /// The group's cipher suite.
    #[wasm_bindgen(getter, js_name = cipherSuite)]
    pub fn cipher_suite(&self) -> JsResult<u16> {
        self.g.borrow().suite().map(|s| s.id()).map_err(js_error)
    }

    /// Whether this client is still a member.
    #[wasm_bindgen(getter, js_name = isActive)]
    pub fn is_active(&self) -> bool {
        self.g.borrow().is_active()
    }

    /// The roster.
    #[wasm_bindgen(unchecked_return_type = "GroupMember[]")]
    pub fn members(&self) -> Array {
        self.g
            .borrow()
            .members()
            .into_iter()
            .map(|m| {
                let o = Object::new();
                set(&o, "leafIndex", m.leaf_index);
                set(&o, "identity", text(&m.identity));
                set(&o, "signatureKey", bytes(&m.signature_key));
                JsValue::from(o)
            })
            .collect()
    }

    /// A signed GroupInfo of the current epoch with the ratchet tree (for the Delivery Service).
    #[wasm_bindgen(js_name = groupInfo)]
    pub fn group_info(&self) -> JsResult<Vec<u8>> {
        self.g.borrow().group_info().map_err(js_error)
    }

    /// Adds members from their KeyPackage messages (commit merged locally).
    #[wasm_bindgen(js_name = addMembers, unchecked_return_type = "Promise<GroupUpdate & { welcome: Uint8Array }>")]
    pub fn add_members(&self, #[wasm_bindgen(js_name = keyPackages)] key_packages: Vec<Uint8Array>) -> Promise {
        let kps: Vec<Vec<u8>> = key_packages.iter().map(Uint8Array::to_vec).collect();
        self.mutate(move |g| g.add_members(&kps).map(update_js))
    }

    /// Removes the members at these leaf indices (commit merged locally).
    #[wasm_bindgen(js_name = removeMembers, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn remove_members(
        &self,
        #[wasm_bindgen(js_name = leafIndices, unchecked_param_type = "number[]")] leaf_indices: Vec<f64>,
    ) -> Promise {
        let leaves: Result<Vec<u32>, Error> =
            leaf_indices.iter().map(|&n| whole(n, u64::from(u32::MAX), "leafIndices").map(|n| n as u32)).collect();
        self.mutate(move |g| g.remove_members(&leaves?).map(update_js))
    }

    /// Updates this client's leaf: a new epoch with fresh keys.
    #[wasm_bindgen(js_name = selfUpdate, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn self_update(&self) -> Promise {
        self.mutate(|g| g.self_update().map(update_js))
    }

    /// Encrypts an application message.
    #[wasm_bindgen(js_name = encryptMessage, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn encrypt_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] data: JsValue,
    ) -> Promise {
        let data = match data.as_string() {
            Some(s) => Ok(s.into_bytes()),
            None => data
                .dyn_into::<Uint8Array>()
                .map(|a| a.to_vec())
                .map_err(|_| Error::InvalidArgument("data must be a Uint8Array or a string".into())),
        };
        self.mutate(move |g| g.encrypt_message(&data?).map(|m| bytes(&m)))
    }

    /// Processes an incoming `MLSMessage` of this group.
    #[wasm_bindgen(js_name = processMessage, unchecked_return_type = "Promise<GroupEvent>")]
    pub fn process_message(&self, message: Vec<u8>) -> Promise {
        self.mutate(move |g| g.process_message(&message).map(event_js))
    }

    /// Starts sending `file`: hashes it (one read), draws the nonce and derives the keys in the
    /// current epoch. The ciphertext is produced later, as a stream, by `ciphertext()`.
    #[wasm_bindgen(js_name = encryptAttachment, unchecked_return_type = "Promise<OutgoingAttachment>")]
    pub fn encrypt_attachment(
        &self,
        file: Blob,
        #[wasm_bindgen(unchecked_optional_param_type = "EncryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let g = self.g.clone();
        promise(async move { start_attachment(g, file, &Options::from_js(&options)?).await })
    }

    /// Derives the keys of an attachment referenced by `contentType` in an application message
    /// from `senderLeafIndex` of `epoch` (the GroupEvent's), while the group is in that epoch.
    /// Store the result (`toBytes()`) with the message: it decrypts the attachment later.
    #[wasm_bindgen(js_name = receiveAttachment)]
    pub fn receive_attachment(
        &self,
        #[wasm_bindgen(js_name = contentType)] content_type: &str,
        #[wasm_bindgen(js_name = senderLeafIndex)] sender_leaf_index: f64,
        epoch: f64,
    ) -> JsResult<AttachmentRef> {
        let sender = whole(sender_leaf_index, u64::from(u32::MAX), "senderLeafIndex").map_err(js_error)? as u32;
        let epoch = whole(epoch, MAX_SAFE, "epoch").map_err(js_error)?;
        CoreRef::receive(&self.g.borrow(), content_type, sender, epoch).map(AttachmentRef).map_err(js_error)
    }
}

/// Hashes `file`, draws the nonce and derives the keys in the group's current epoch.
pub(crate) async fn start_attachment(
    g: Rc<RefCell<mls::Group>>,
    file: Blob,
    opts: &Options,
) -> Result<OutgoingAttachment, Error> {
    let format = if opts.one_shot {
        if opts.chunk_size.is_some() {
            return Err(Error::InvalidArgument("chunkSize and oneShot exclude each other".into()));
        }
        Format::OneShot
    } else {
        Format::Chunked(ChunkSize::or_default(opts.chunk_size)?)
    };
    let size = file.size() as u64;
    format.check_plaintext_len(size)?;
    let suite = g.borrow().suite()?;
    let (hash, read) = hash_input(suite.hash(), &file.clone().into(), opts, Some(size)).await?;
    if read != size {
        return Err(Error::Io("the file changed size while it was read".into()));
    }
    let pending = PendingAttachment::new(&g.borrow(), &hash, size, format)?;
    Ok(OutgoingAttachment { g, pending, file })
}

/// An attachment being sent: hashed and keyed; its ciphertext is produced on demand.
#[wasm_bindgen]
pub struct OutgoingAttachment {
    pub(crate) g: Rc<RefCell<mls::Group>>,
    pub(crate) pending: PendingAttachment,
    pub(crate) file: Blob,
}

#[wasm_bindgen]
impl OutgoingAttachment {
    /// The ciphertext as a stream, read and encrypted as it is pulled (from `offset` on, to
    /// resume an upload). Each call starts a new read of the file.
    #[wasm_bindgen(unchecked_return_type = "ReadableStream<Uint8Array>")]
    pub fn ciphertext(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CiphertextOptions")] options: Option<JsValue>,
    ) -> JsResult<web_sys::ReadableStream> {
        let options = options.unwrap_or_default();
        let opts = Options::from_js(&options).map_err(js_error)?;
        encrypt_stream(self.pending.keys().clone(), self.pending.format(), self.file.clone(), opts).map_err(js_error)
    }

    /// The whole ciphertext as a `Blob` (of `options.type`), built from large parts with bounded
    /// page memory: faster than `new Response(ciphertext()).blob()`. Each call reads the file again.
    #[wasm_bindgen(js_name = ciphertextToBlob, unchecked_return_type = "Promise<Blob>")]
    pub fn ciphertext_to_blob(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "CiphertextBlobOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let (keys, format, file) = (self.pending.keys().clone(), self.pending.format(), self.file.clone());
        promise(async move { encrypt_to_blob(keys, format, file, Options::from_js(&options)?).await })
    }

    /// Plaintext size in bytes.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> f64 {
        self.file.size()
    }

    /// Ciphertext size in bytes.
    #[wasm_bindgen(getter, js_name = ciphertextSize)]
    pub fn ciphertext_size(&self) -> JsResult<f64> {
        Ok(self.pending.ciphertext_len().map_err(js_error)? as f64)
    }

    /// Chunk size, or `undefined` for the one-shot form.
    #[wasm_bindgen(getter, js_name = chunkSize)]
    pub fn chunk_size(&self) -> Option<u32> {
        self.pending.chunk_size().map(ChunkSize::get)
    }

    /// `attachment_hash`.
    #[wasm_bindgen(getter)]
    pub fn hash(&self) -> Vec<u8> {
        self.pending.hash().to_vec()
    }

    /// The epoch the keys were derived in: the message with the reference must be sent in it.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> f64 {
        self.pending.epoch() as f64
    }

    /// Binds the Delivery Service token and returns the reference (`contentType()` goes in the
    /// message). Fails with `WrongEpoch` if the group changed epoch since `encryptAttachment`.
    pub fn complete(&self, token: &[u8]) -> JsResult<AttachmentRef> {
        self.pending.complete(&self.g.borrow(), token).map(AttachmentRef).map_err(js_error)
    }
}

/// A reference to an attachment with its keys, as a receiver keeps it. Secret material: store
/// `toBytes()` as you store messages.
#[wasm_bindgen]
pub struct AttachmentRef(pub(crate) CoreRef);

#[wasm_bindgen]
impl AttachmentRef {
    /// Restores a reference from `toBytes()`.
    #[wasm_bindgen(js_name = fromBytes)]
    pub fn from_bytes(bytes: &[u8]) -> JsResult<AttachmentRef> {
        CoreRef::from_bytes(bytes).map(AttachmentRef).map_err(js_error)
    }

    /// The reference as bytes (secret material).
    #[wasm_bindgen(js_name = toBytes)]
    pub fn to_bytes(&self) -> JsResult<Vec<u8>> {
        self.0.to_bytes().map(|b| b.to_vec()).map_err(js_error)
    }

    /// The `message/external-body` content type for a message.
    #[wasm_bindgen(js_name = contentType)]
    pub fn content_type(&self) -> String {
        self.0.external_body().to_content_type()
    }

    /// The Delivery Service token.
    #[wasm_bindgen(getter)]
    pub fn token(&self) -> Vec<u8> {
        self.0.token.clone()
    }

    /// `attachment_hash`.
    #[wasm_bindgen(getter)]
    pub fn hash(&self) -> Vec<u8> {
        self.0.hash.clone()
    }

    /// Plaintext size, if the sender gave it.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> Option<f64> {
        self.0.size.map(|s| s as f64)
    }

    /// Ciphertext size, when the plaintext size is known.
    #[wasm_bindgen(getter, js_name = ciphertextSize)]
    pub fn ciphertext_size(&self) -> JsResult<Option<f64>> {
        self.0.ciphertext_len().map(|n| n.map(|n| n as f64)).map_err(js_error)
    }

    /// Chunk size, or `undefined` for the one-shot form.
    #[wasm_bindgen(getter, js_name = chunkSize)]
    pub fn chunk_size(&self) -> Option<u32> {
        self.0.chunk_size.map(ChunkSize::get)
    }

    /// The cipher suite.
    #[wasm_bindgen(getter, js_name = cipherSuite)]
    pub fn cipher_suite(&self) -> u16 {
        self.0.suite().id()
    }

    /// The group the attachment is bound to.
    #[wasm_bindgen(getter, js_name = groupId)]
    pub fn group_id(&self) -> Vec<u8> {
        self.0.group_id.clone()
    }

    /// Epoch of the message that carried the reference.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> f64 {
        self.0.epoch as f64
    }

    /// The sender's leaf index.
    #[wasm_bindgen(getter, js_name = senderLeafIndex)]
    pub fn sender_leaf_index(&self) -> u32 {
        self.0.sender_index
    }

    /// Decrypts the downloaded ciphertext (Blob, ReadableStream or Uint8Array) into a stream of
    /// plaintext: each chunk verified before it is enqueued, the last after the whole-file hash
    /// matched; any failure errors the stream with a `MimiAttachmentsError`.
    #[wasm_bindgen(unchecked_return_type = "ReadableStream<Uint8Array>")]
    pub fn decrypt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Blob | ReadableStream<Uint8Array> | Uint8Array")] ciphertext: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "DecryptOptions")] options: Option<JsValue>,
    ) -> JsResult<web_sys::ReadableStream> {
        let options = options.unwrap_or_default();
        let opts = Options::from_js(&options).map_err(js_error)?;
        decrypt_stream(self.0.keys().clone(), self.0.format(), &self.0.hash, self.0.size, &ciphertext, opts)
            .map_err(js_error)
    }

    /// `decrypt()` collected into a `Blob` (of `options.type`).
    #[wasm_bindgen(js_name = decryptToBlob, unchecked_return_type = "Promise<Blob>")]
    pub fn decrypt_to_blob(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Blob | ReadableStream<Uint8Array> | Uint8Array")] ciphertext: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "DecryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        if self.0.format() == crate::format::Format::OneShot {
            // One-shot form of any size: decrypted as a stream, released after the tag verified.
            let r = self.0.clone();
            return promise(async move {
                let opts = Options::from_js(&options)?;
                super::mimi_content::one_shot_to_blob(&r, &ciphertext, &opts).await
            });
        }
        let r = self.0.clone();
        promise(async move {
            let opts = Options::from_js(&options)?;
            decrypt_to_blob(r.keys().clone(), r.format(), &r.hash, r.size, &ciphertext, opts).await
        })
    }
}

impl OutgoingAttachment {
    pub(crate) fn ciphertext_size_u64(&self) -> Result<u64, Error> {
        self.pending.ciphertext_len()
    }

    pub(crate) fn stream_from(&self, offset: u64, opts: &Options) -> Result<web_sys::ReadableStream, Error> {
        let mut o = opts.clone();
        o.offset = offset;
        o.no_progress();
        encrypt_stream(self.pending.keys().clone(), self.pending.format(), self.file.clone(), o)
    }
}

impl MlsGroup {
    pub(crate) fn share(&self) -> MlsGroup {
        MlsGroup { h: self.h.clone(), g: self.g.clone() }
    }
}
