//! Attachments as JavaScript classes: one being sent (hashed and keyed, its ciphertext produced
//! on demand) and a received reference with its keys.

use js_sys::Promise;
use wasm_bindgen::prelude::*;
use web_sys::Blob;

use super::error::{js_error, JsResult};
use super::io::Options;
use super::js::promise;
use super::member::Member;
use super::pipeline::{decrypt_stream, decrypt_to_blob, encrypt_stream, encrypt_to_blob, hash_input};
use crate::attachment::{AttachmentRef as CoreRef, PendingAttachment};
use crate::format::{ChunkSize, Format};
use crate::Error;

/// Hashes `file`, draws the nonce and derives the keys in the group's current epoch.
pub(crate) async fn start_attachment(g: Member, file: Blob, opts: &Options) -> Result<OutgoingAttachment, Error> {
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
    let suite = g.suite()?;
    let (hash, read) = hash_input(suite.hash(), &file.clone().into(), opts, Some(size)).await?;
    if read != size {
        return Err(Error::Io("the file changed size while it was read".into()));
    }
    let (at, nonce, keys) = g.sending_keys(&hash).await?;
    let pending = PendingAttachment::with_keys(at, keys, nonce, &hash, size, format)?;
    Ok(OutgoingAttachment { g, pending, file })
}

/// `encryptAttachment` of `MlsGroup` and `ExternalGroup`: `start_attachment` as a Promise.
pub(crate) fn encrypt_attachment(member: Member, file: Blob, options: Option<JsValue>) -> Promise {
    let options = options.unwrap_or_default();
    promise(async move { start_attachment(member, file, &Options::from_js(&options)?).await })
}

/// An attachment being sent: hashed and keyed; its ciphertext is produced on demand.
#[wasm_bindgen]
pub struct OutgoingAttachment {
    g: Member,
    pending: PendingAttachment,
    file: Blob,
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
        let at = self.g.position();
        self.pending.complete_in(&at.group_id, at.epoch, token).map(AttachmentRef).map_err(js_error)
    }
}

/// A reference to an attachment with its keys, as a receiver keeps it. Secret material: store
/// `toBytes()` as you store messages.
#[wasm_bindgen]
pub struct AttachmentRef(CoreRef);

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
    #[cfg(feature = "mls")]
    pub(crate) fn new(g: Member, pending: PendingAttachment, file: Blob) -> OutgoingAttachment {
        OutgoingAttachment { g, pending, file }
    }

    /// The hashed and keyed attachment (its state persists to resume an upload).
    pub(crate) fn pending(&self) -> &PendingAttachment {
        &self.pending
    }

    /// The file being sent.
    pub(crate) fn file(&self) -> &Blob {
        &self.file
    }

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

impl AttachmentRef {
    pub(crate) fn new(r: CoreRef) -> AttachmentRef {
        AttachmentRef(r)
    }

    /// The reference with its keys.
    pub(crate) fn core(&self) -> &CoreRef {
        &self.0
    }
}
