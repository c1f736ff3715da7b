//! The low-level JS API: suites, hashes, keys from a raw exporter secret, the content type, and
//! in-memory one-shot / chunked encryption.

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;

use crate::reference::{ExternalBody, ExternalBodyIn};
use crate::schedule;
use crate::stream::{self, ChunkSize};
use crate::{CipherSuite, Error};

use super::error::{js_error, JsResult};
use super::js::{opt_whole_f64, whole, MAX_SAFE};

/// A `cipherSuite` argument: a whole number naming one of RFC 9420's suites.
pub(crate) fn suite(id: f64) -> JsResult<CipherSuite> {
    let id = whole(id, u64::from(u16::MAX), "cipherSuite").map_err(js_error)?;
    CipherSuite::from_u16(id as u16).map_err(js_error)
}

/// A `chunkSize` argument (absent: the default).
pub(crate) fn chunk_size(n: Option<f64>) -> JsResult<ChunkSize> {
    match opt_whole_f64(n, u64::from(u32::MAX), "chunkSize").map_err(js_error)? {
        None => Ok(ChunkSize::default()),
        Some(n) => ChunkSize::new(n).map_err(js_error),
    }
}

pub(crate) fn size_u64(size: Option<f64>) -> JsResult<Option<u64>> {
    opt_whole_f64(size, MAX_SAFE, "size").map_err(js_error)
}

/// The RFC 9420 cipher suites this package derives keys and encrypts for (0x0001..=0x0007).
#[wasm_bindgen(js_name = supportedCipherSuites)]
pub fn supported_cipher_suites() -> Vec<u16> {
    CipherSuite::ALL.iter().map(|s| s.id()).collect()
}

/// `attachment_hash = Hash(plaintext)` with the suite's hash function.
#[wasm_bindgen(js_name = attachmentHash)]
pub fn attachment_hash(
    #[wasm_bindgen(js_name = cipherSuite)] cipher_suite: f64,
    plaintext: &[u8],
) -> JsResult<Vec<u8>> {
    Ok(schedule::attachment_hash(suite(cipher_suite)?, plaintext))
}

/// A fresh random `nonce` of `KDF.Nh` bytes (draft §3.6), from `crypto.getRandomValues`.
#[wasm_bindgen(js_name = randomNonce)]
pub fn random_nonce(#[wasm_bindgen(js_name = cipherSuite)] cipher_suite: f64) -> JsResult<Vec<u8>> {
    schedule::random_nonce(suite(cipher_suite)?).map_err(js_error)
}

/// `attachment_key` and `attachment_nonce` of one attachment (secret material).
/// Call `free()` when done: the key bytes in wasm memory are zeroized.
#[wasm_bindgen]
pub struct AttachmentKeys(schedule::AttachmentKeys);

impl AttachmentKeys {
    pub(crate) fn new(k: schedule::AttachmentKeys) -> AttachmentKeys {
        AttachmentKeys(k)
    }
}

#[wasm_bindgen]
impl AttachmentKeys {
    /// Runs draft §3.6 from an epoch's raw MLS `exporter_secret` (for MLS stacks other than
    /// the group API of this package).
    #[wasm_bindgen(js_name = fromExporterSecret)]
    pub fn from_exporter_secret(
        #[wasm_bindgen(js_name = cipherSuite)] cipher_suite: f64,
        #[wasm_bindgen(js_name = exporterSecret)] exporter_secret: &[u8],
        #[wasm_bindgen(js_name = attachmentHash)] attachment_hash: &[u8],
        #[wasm_bindgen(js_name = senderIndex)] sender_index: f64,
        nonce: &[u8],
    ) -> JsResult<AttachmentKeys> {
        let sender_index = whole(sender_index, u64::from(u32::MAX), "senderIndex").map_err(js_error)? as u32;
        schedule::AttachmentKeys::from_epoch_exporter_secret(
            suite(cipher_suite)?,
            exporter_secret,
            attachment_hash,
            sender_index,
            nonce,
        )
        .map(AttachmentKeys)
        .map_err(js_error)
    }

    /// Rebuilds keys the application stored (from `key()` and `nonce()`).
    #[wasm_bindgen(js_name = fromParts)]
    pub fn from_parts(
        #[wasm_bindgen(js_name = cipherSuite)] cipher_suite: f64,
        key: &[u8],
        nonce: &[u8],
    ) -> JsResult<AttachmentKeys> {
        schedule::AttachmentKeys::from_parts(suite(cipher_suite)?, key, nonce).map(AttachmentKeys).map_err(js_error)
    }

    /// The cipher suite the keys belong to.
    #[wasm_bindgen(getter, js_name = cipherSuite)]
    pub fn cipher_suite(&self) -> u16 {
        self.0.suite().id()
    }

    /// `attachment_key` (secret: store it as you would a message key, never log it).
    pub fn key(&self) -> Vec<u8> {
        self.0.key().to_vec()
    }

    /// `attachment_nonce` (secret).
    pub fn nonce(&self) -> Vec<u8> {
        self.0.nonce().to_vec()
    }
}

/// The `message/external-body; access-type=token` reference of draft §3.2.
#[wasm_bindgen]
pub struct ExternalBodyRef(ExternalBody);

#[wasm_bindgen]
impl ExternalBodyRef {
    /// A reference to put in a message. `chunkSize` is absent for the one-shot form.
    #[wasm_bindgen(constructor)]
    pub fn new(
        token: Vec<u8>,
        nonce: Vec<u8>,
        hash: Vec<u8>,
        #[wasm_bindgen(js_name = chunkSize)] chunk_size: Option<f64>,
        size: Option<f64>,
    ) -> JsResult<ExternalBodyRef> {
        let chunk_size = chunk_size.map(|n| super::basic::chunk_size(Some(n))).transpose()?;
        Ok(Self(ExternalBody { token, nonce, hash, chunk_size, size: size_u64(size)? }))
    }

    /// Parses a content type and checks it against the group's cipher suite.
    pub fn parse(
        #[wasm_bindgen(js_name = contentType)] content_type: &str,
        #[wasm_bindgen(js_name = cipherSuite)] cipher_suite: f64,
    ) -> JsResult<ExternalBodyRef> {
        let s = suite(cipher_suite)?;
        ExternalBodyIn::parse(content_type)
            .and_then(|r| r.validate(s))
            .map(ExternalBodyRef)
            .map_err(|e| js_error(e.into()))
    }

    /// The canonical content type string.
    #[wasm_bindgen(js_name = toContentType)]
    pub fn to_content_type(&self) -> String {
        self.0.to_content_type()
    }

    /// The Delivery Service token.
    #[wasm_bindgen(getter)]
    pub fn token(&self) -> Vec<u8> {
        self.0.token.clone()
    }

    /// The random nonce of the key derivation.
    #[wasm_bindgen(getter)]
    pub fn nonce(&self) -> Vec<u8> {
        self.0.nonce.clone()
    }

    /// `attachment_hash`.
    #[wasm_bindgen(getter)]
    pub fn hash(&self) -> Vec<u8> {
        self.0.hash.clone()
    }

    /// Chunk size of chunked v1, or `undefined` for the one-shot form.
    #[wasm_bindgen(getter, js_name = chunkSize)]
    pub fn chunk_size(&self) -> Option<u32> {
        self.0.chunk_size.map(ChunkSize::get)
    }

    /// Plaintext size in bytes, if the sender gave it.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> Option<f64> {
        self.0.size.map(|s| s as f64)
    }
}

/// The draft's one-shot form: `AEAD.Seal(key, nonce, "", plaintext)`.
#[wasm_bindgen(js_name = encryptOneShot)]
pub fn encrypt_one_shot(keys: &AttachmentKeys, plaintext: &[u8]) -> JsResult<Vec<u8>> {
    stream::seal_one_shot(&keys.0, plaintext).map_err(js_error)
}

/// Opens the one-shot form and checks the hash.
#[wasm_bindgen(js_name = decryptOneShot)]
pub fn decrypt_one_shot(
    keys: &AttachmentKeys,
    ciphertext: &[u8],
    #[wasm_bindgen(js_name = attachmentHash)] attachment_hash: &[u8],
) -> JsResult<Vec<u8>> {
    stream::open_one_shot(&keys.0, ciphertext, attachment_hash).map_err(js_error)
}

/// Chunked v1 of a whole `Uint8Array` (default chunk size 256 KiB).
#[wasm_bindgen(js_name = encryptChunked)]
pub fn encrypt_chunked(
    keys: &AttachmentKeys,
    plaintext: &[u8],
    #[wasm_bindgen(js_name = chunkSize)] chunk_size_bytes: Option<f64>,
) -> JsResult<Vec<u8>> {
    stream::seal_chunked(&keys.0, chunk_size(chunk_size_bytes)?, plaintext).map_err(js_error)
}

/// Opens chunked v1 of a whole `Uint8Array` and checks the hash.
#[wasm_bindgen(js_name = decryptChunked)]
pub fn decrypt_chunked(
    keys: &AttachmentKeys,
    ciphertext: &[u8],
    #[wasm_bindgen(js_name = attachmentHash)] attachment_hash: &[u8],
    #[wasm_bindgen(js_name = chunkSize)] chunk_size_bytes: f64,
    size: Option<f64>,
) -> JsResult<Vec<u8>> {
    let cs = chunk_size(Some(chunk_size_bytes))?;
    stream::open_chunked(&keys.0, cs, ciphertext, attachment_hash, size_u64(size)?).map_err(js_error)
}

/// Incremental chunked-v1 encryption: feed pieces of any size, get sealed chunks back.
#[wasm_bindgen]
pub struct ChunkEncryptor(Option<stream::Encryptor>);

#[wasm_bindgen]
impl ChunkEncryptor {
    /// An encryptor (default chunk size 256 KiB).
    #[wasm_bindgen(constructor)]
    pub fn new(
        keys: &AttachmentKeys,
        #[wasm_bindgen(js_name = chunkSize)] chunk_size_bytes: Option<f64>,
    ) -> JsResult<ChunkEncryptor> {
        Ok(Self(Some(stream::Encryptor::new(&keys.0, chunk_size(chunk_size_bytes)?).map_err(js_error)?)))
    }

    /// Encrypts `data`; returns the chunks completed so far (possibly empty).
    pub fn update(&mut self, data: &[u8]) -> JsResult<Uint8Array> {
        let e = self.0.as_mut().ok_or_else(finished)?;
        let mut out = Vec::new();
        e.update(data, &mut out).map_err(js_error)?;
        Ok(Uint8Array::from(&out[..]))
    }

    /// Seals the last chunk. The encryptor cannot be used afterwards.
    pub fn finish(&mut self) -> JsResult<Uint8Array> {
        let e = self.0.take().ok_or_else(finished)?;
        let mut out = Vec::new();
        e.finish(&mut out).map_err(js_error)?;
        Ok(Uint8Array::from(&out[..]))
    }
}

/// Incremental chunked-v1 decryption: returns plaintext only of chunks whose tag verified; the
/// last chunk comes from `finish()` after the whole-file hash matched.
#[wasm_bindgen]
pub struct ChunkDecryptor(Option<stream::Decryptor>);

#[wasm_bindgen]
impl ChunkDecryptor {
    /// A decryptor for the reference's chunk size, hash and (optional) size.
    #[wasm_bindgen(constructor)]
    pub fn new(
        keys: &AttachmentKeys,
        #[wasm_bindgen(js_name = chunkSize)] chunk_size_bytes: f64,
        #[wasm_bindgen(js_name = attachmentHash)] attachment_hash: &[u8],
        size: Option<f64>,
    ) -> JsResult<ChunkDecryptor> {
        let cs = chunk_size(Some(chunk_size_bytes))?;
        Ok(Self(Some(stream::Decryptor::new(&keys.0, cs, attachment_hash, size_u64(size)?).map_err(js_error)?)))
    }

    /// Decrypts `data`; returns the verified plaintext so far (possibly empty).
    pub fn update(&mut self, data: &[u8]) -> JsResult<Uint8Array> {
        let d = self.0.as_mut().ok_or_else(finished)?;
        let mut out = Vec::new();
        d.update(data, &mut out).map_err(js_error)?;
        Ok(Uint8Array::from(&out[..]))
    }

    /// Verifies the end and the hash, and returns the last plaintext.
    pub fn finish(&mut self) -> JsResult<Uint8Array> {
        let d = self.0.take().ok_or_else(finished)?;
        let mut out = Vec::new();
        d.finish(&mut out).map_err(js_error)?;
        Ok(Uint8Array::from(&out[..]))
    }
}

fn finished() -> JsValue {
    js_error(Error::InvalidState("finish() was already called"))
}
