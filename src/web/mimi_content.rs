//! MIMI content in JavaScript: `ExternalPart` (parse, build, inspect), receiving an ExternalPart
//! from any MIMI client, mapping our references to and from ExternalParts, and one-shot
//! ciphertexts of any size opened as a stream.
//!
//! Memory: the ciphertext is read in 1 MiB pieces and decrypted incrementally
//! (`content::open`); the **unverified** plaintext is spilled in 8 MiB groups into private Blobs
//! (the browser keeps Blob data out of the page's heap and pages it to disk when large), and the
//! Blob made of them is handed out only after the tag (and hash) verified. On failure the parts
//! are dropped. So the page holds at most ~1 MiB of ciphertext and 8 MiB of plaintext at a time,
//! whatever the file size.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::Blob;
use zeroize::Zeroize;

use super::attachment::AttachmentRef;
use super::error::{describe, js_error, JsResult};
#[cfg(feature = "mls")]
use super::group::MlsGroup;
use super::io::{Accumulator, Options};
use super::js::{opt_bytes, promise, whole};
#[cfg(feature = "mls")]
use crate::content::mapping::attachment_from_part;
use crate::content::mapping::{attachment_to_part, PartReference};
use crate::content::part::{ExternalPart as CorePart, MimiContent, NestedPart};
use crate::content::PartOpener;
use crate::Error;

/// Ciphertext read per step.
const PIECE: usize = 1 << 20;
/// Plaintext spilled into one Blob part.
const SPILL: usize = 8 << 20;

#[wasm_bindgen(typescript_custom_section)]
const TS_MIMI: &'static str = r#"
/** Fields of an ExternalPart (draft-ietf-mimi-content-07 §4.5) for `ExternalPart.build`. */
export interface ExternalPartInit {
  contentType: string;
  url: string;
  /** Seconds since the UNIX epoch; 0 (default): does not expire. */
  expires?: number;
  /** Size in octets; 0 (default): unknown. */
  size?: number;
  /** IANA AEAD id: 1 AES-128-GCM, 2 AES-256-GCM, 29 ChaCha20-Poly1305 (0: not encrypted). */
  encAlg: number;
  key?: Uint8Array;
  nonce?: Uint8Array;
  aad?: Uint8Array;
  /** IANA hash id: 1 sha-256, 7 sha-384, 8 sha-512 (0: no hash). */
  hashAlg: number;
  contentHash?: Uint8Array;
  description?: string;
  filename?: string;
}
"#;

/// An ExternalPart of MIMI content. Secret material when encrypted: it holds the AEAD key.
#[wasm_bindgen]
pub struct ExternalPart(CorePart);

fn js_u64(v: &JsValue, what: &str, max: u64) -> Result<u64, Error> {
    if v.is_undefined() {
        return Ok(0);
    }
    let n = v.as_f64().ok_or_else(|| Error::InvalidArgument(format!("{what} must be a whole number in 0..={max}")))?;
    whole(n, max, what)
}

fn js_bytes(v: &JsValue, what: &str) -> Result<Vec<u8>, Error> {
    Ok(opt_bytes(v, what)?.unwrap_or_default())
}

fn js_text(v: &JsValue, what: &str, required: bool) -> Result<String, Error> {
    if v.is_undefined() && !required {
        return Ok(String::new());
    }
    v.as_string().ok_or_else(|| Error::InvalidArgument(format!("{what} must be a string")))
}

#[wasm_bindgen]
impl ExternalPart {
    /// Builds (and validates) a part from its fields.
    pub fn build(#[wasm_bindgen(unchecked_param_type = "ExternalPartInit")] init: JsValue) -> JsResult<ExternalPart> {
        let g = |k: &str| super::js::get_opt(&init, k);
        let r = (|| -> Result<CorePart, Error> {
            let p = CorePart {
                content_type: js_text(&g("contentType"), "contentType", true)?,
                url: js_text(&g("url"), "url", true)?,
                expires: js_u64(&g("expires"), "expires", u64::from(u32::MAX))? as u32,
                size: js_u64(&g("size"), "size", super::js::MAX_SAFE)?,
                enc_alg: js_u64(&g("encAlg"), "encAlg", 65535)? as u16,
                key: zeroize::Zeroizing::new(js_bytes(&g("key"), "key")?),
                nonce: js_bytes(&g("nonce"), "nonce")?,
                aad: js_bytes(&g("aad"), "aad")?,
                hash_alg: js_u64(&g("hashAlg"), "hashAlg", 255)? as u8,
                content_hash: js_bytes(&g("contentHash"), "contentHash")?,
                description: js_text(&g("description"), "description", false)?,
                filename: js_text(&g("filename"), "filename", false)?,
            };
            p.validate()?;
            Ok(p)
        })();
        r.map(ExternalPart).map_err(js_error)
    }

    /// The ExternalParts of MIMI content: `cbor` is a whole message (`mimiContent`) or one
    /// NestedPart; parts in depth-first order. Malformed input throws `BadMimiContent` (`kind`).
    #[wasm_bindgen(js_name = fromCbor, unchecked_return_type = "ExternalPart[]")]
    pub fn from_cbor(cbor: &[u8]) -> JsResult<Array> {
        let body = match MimiContent::from_cbor(cbor) {
            Ok(m) => m.body,
            Err(first) => match NestedPart::from_cbor(cbor) {
                Ok(p) => p,
                // Report the message-level error for what looks like a message (array of 7).
                Err(e) => return Err(js_error(if cbor.first() == Some(&0x87) { first } else { e }.into())),
            },
        };
        Ok(body.external_parts().into_iter().map(|p| JsValue::from(ExternalPart(p.clone()))).collect())
    }

    /// This part as a NestedPart with disposition 6 (attachment), deterministic CBOR.
    #[wasm_bindgen(js_name = toCbor)]
    pub fn to_cbor(&self) -> JsResult<Vec<u8>> {
        NestedPart::attachment(self.0.clone()).to_cbor().map_err(|e| js_error(e.into()))
    }

    /// `contentType`.
    #[wasm_bindgen(getter, js_name = contentType)]
    pub fn content_type(&self) -> String {
        self.0.content_type.clone()
    }
    /// `url`.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> String {
        self.0.url.clone()
    }
    /// `expires` (0: none).
    #[wasm_bindgen(getter)]
    pub fn expires(&self) -> u32 {
        self.0.expires
    }
    /// `size` (0: unknown).
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> f64 {
        self.0.size as f64
    }
    /// `encAlg`.
    #[wasm_bindgen(getter, js_name = encAlg)]
    pub fn enc_alg(&self) -> u16 {
        self.0.enc_alg
    }
    /// `hashAlg`.
    #[wasm_bindgen(getter, js_name = hashAlg)]
    pub fn hash_alg(&self) -> u8 {
        self.0.hash_alg
    }
    /// `contentHash`.
    #[wasm_bindgen(getter, js_name = contentHash)]
    pub fn content_hash(&self) -> Vec<u8> {
        self.0.content_hash.clone()
    }
    /// `description`.
    #[wasm_bindgen(getter)]
    pub fn description(&self) -> String {
        self.0.description.clone()
    }
    /// `filename`.
    #[wasm_bindgen(getter)]
    pub fn filename(&self) -> String {
        self.0.filename.clone()
    }
    /// Whether this part is one of our references (`mimi-nonce` parameter present and valid):
    /// then `MlsGroup.receiveExternalPart` binds it to the group.
    #[wasm_bindgen(getter, js_name = isReference)]
    pub fn is_reference(&self) -> bool {
        PartReference::from_part(&self.0).is_ok()
    }

    /// Decrypts the content of this part (fetched by the app from `url`: (`Blob`, `ReadableStream` or
    /// `Uint8Array`, e.g. `(await fetch(part.url)).body`) as a stream, checks size, tag and
    /// `contentHash` (plaintext hash or hash of the content at the URL), and resolves with the
    /// plaintext Blob only then. Any size (up to the AEAD's limit: 64 GiB for AES-GCM).
    #[wasm_bindgen(unchecked_return_type = "Promise<Blob>")]
    pub fn decrypt(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Blob | ReadableStream<Uint8Array> | Uint8Array")] ciphertext: JsValue,
        #[wasm_bindgen(unchecked_param_type = "DecryptOptions")] options: JsValue,
    ) -> js_sys::Promise {
        let part = self.0.clone();
        let essence = part.content_type.split(';').next().unwrap_or_default().trim().to_string();
        promise(async move {
            let opts = Options::from_js(&options)?;
            let t = opts.blob_type.clone().unwrap_or(essence);
            let opener = PartOpener::new(&part)?;
            let total = (part.size != 0).then_some(part.size);
            open_to_blob(opener, &ciphertext, &opts, total, &t).await
        })
    }
}

#[wasm_bindgen]
impl AttachmentRef {
    /// This reference as an ExternalPart (the table in docs/MIMI-CONTENT.md): `urlPrefix` ends
    /// with `/` (the token follows, base64url), `mediaType` is the file's type. A reference
    /// without `chunkSize` (sent with `oneShot: true`) is readable by any MIMI client.
    #[wasm_bindgen(js_name = toExternalPart)]
    pub fn to_external_part(
        &self,
        #[wasm_bindgen(js_name = urlPrefix)] url_prefix: &str,
        #[wasm_bindgen(js_name = mediaType)] media_type: &str,
        filename: Option<String>,
        description: Option<String>,
        expires: Option<u32>,
    ) -> JsResult<ExternalPart> {
        attachment_to_part(
            self.core(),
            url_prefix,
            media_type,
            filename.as_deref().unwrap_or(""),
            description.as_deref().unwrap_or(""),
            expires.unwrap_or(0),
        )
        .map(ExternalPart)
        .map_err(js_error)
    }
}

#[cfg(feature = "mls")]
#[wasm_bindgen]
impl MlsGroup {
    /// The reference in an ExternalPart of ours, received from `senderLeafIndex` in `epoch`
    /// (while the group is in that epoch, as `receiveAttachment`): keys derived from the group
    /// must equal the part's (`BadMimiContent`/`KeyMismatch` otherwise).
    #[wasm_bindgen(js_name = receiveExternalPart)]
    pub fn receive_external_part(
        &self,
        part: &ExternalPart,
        #[wasm_bindgen(js_name = senderLeafIndex)] sender_leaf_index: u32,
        epoch: f64,
    ) -> JsResult<AttachmentRef> {
        if !(epoch.is_finite() && epoch >= 0.0 && epoch.fract() == 0.0 && epoch <= 9_007_199_254_740_991.0) {
            return Err(js_error(Error::InvalidArgument("epoch must be a whole number".into())));
        }
        attachment_from_part(&self.group(), &part.0, sender_leaf_index, epoch as u64)
            .map(AttachmentRef::new)
            .map_err(js_error)
    }
}

/// Decrypts a one-shot ciphertext of our own (`AttachmentRef` without `chunkSize`) of any size:
/// what `decryptToBlob` uses for the one-shot form.
pub async fn one_shot_to_blob(
    r: &crate::attachment::AttachmentRef,
    input: &JsValue,
    opts: &Options,
) -> Result<Blob, Error> {
    let opener = PartOpener::for_one_shot(r.keys(), &r.hash, r.size)?;
    let t = opts.blob_type.clone().unwrap_or_default();
    open_to_blob(opener, input, opts, r.size, &t).await
}

/// Streams `input` through `opener`; plaintext spills into private Blob parts, released as one
/// Blob only after `finish` succeeded.
pub async fn open_to_blob(
    mut opener: PartOpener,
    input: &JsValue,
    opts: &Options,
    total: Option<u64>,
    blob_type: &str,
) -> Result<Blob, Error> {
    let mut acc = Accumulator::new(input)?;
    let parts = Array::new();
    let mut scratch = vec![0u8; 0];
    let mut out: Vec<u8> = Vec::with_capacity(SPILL + PIECE);
    let mut produced = 0u64;
    let spill = |out: &mut Vec<u8>, parts: &Array| -> Result<(), Error> {
        if out.is_empty() {
            return Ok(());
        }
        let arr = Uint8Array::from(&out[..]);
        out.zeroize();
        out.clear();
        let b = Blob::new_with_u8_array_sequence(&Array::of1(&arr)).map_err(|e| Error::Platform(describe(&e)))?;
        parts.push(&b);
        Ok(())
    };
    let r: Result<(), Error> = async {
        loop {
            opts.check_abort()?;
            acc.fill(PIECE).await?;
            if acc.buffered() == 0 {
                break;
            }
            let piece = acc.take(PIECE);
            scratch.resize(piece.length() as usize, 0);
            piece.copy_to(&mut scratch);
            let before = out.len();
            opener.update(&scratch, &mut out)?;
            produced += (out.len() - before) as u64;
            if out.len() >= SPILL {
                spill(&mut out, &parts)?;
            }
            opts.progress("decrypt", produced, total);
        }
        Ok(())
    }
    .await;
    scratch.zeroize();
    if let Err(e) = r {
        out.zeroize();
        return Err(e);
    }
    // Verify before the last group leaves wasm memory, and before anything is handed out.
    if let Err(e) = opener.finish() {
        out.zeroize();
        return Err(e);
    }
    spill(&mut out, &parts)?;
    let bag = web_sys::BlobPropertyBag::new();
    bag.set_type(blob_type);
    Blob::new_with_blob_sequence_and_options(&parts, &bag).map_err(|e| Error::Platform(describe(&e)))
}

/// The one-shot form (no `chunk-size`) of any size as a `ReadableStream` of plaintext: nothing is
/// enqueued until the whole ciphertext was read and its tag and hash verified (the plaintext waits
/// in private Blob parts meanwhile); then the verified Blob is streamed out. What
/// `decrypt_stream` uses for the one-shot form (`decrypt`, `DsClient.download`).
pub fn one_shot_stream(
    keys: crate::schedule::AttachmentKeys,
    hash: Vec<u8>,
    size: Option<u64>,
    input: JsValue,
    opts: Options,
) -> web_sys::ReadableStream {
    use futures_util::stream::{self, StreamExt as _};
    let fut = async move {
        let opener = PartOpener::for_one_shot(&keys, &hash, size)?;
        open_to_blob(opener, &input, &opts, size, "").await
    };
    let s = stream::once(fut).flat_map(|r| match r {
        Ok(blob) => wasm_streams::ReadableStream::from_raw(blob.stream()).into_stream().boxed_local(),
        Err(e) => stream::once(async move { Err(js_error(e)) }).boxed_local(),
    });
    wasm_streams::ReadableStream::from_stream(s).into_raw()
}
