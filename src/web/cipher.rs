//! The AEAD in the browser: WebCrypto (`crypto.subtle`) for the AES-GCM suites when available,
//! the RustCrypto code compiled to wasm for ChaCha20-Poly1305 and where `crypto.subtle` is missing
//! (non-secure contexts). Both produce identical bytes (the vector suites run against both).

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{AesGcmParams, CryptoKey, SubtleCrypto};

use super::error::describe;
use crate::aead::Cipher;
use crate::schedule::AttachmentKeys;
use crate::suite::{AeadAlg, AEAD_NONCE_LEN};
use crate::Error;

/// Which AEAD implementation to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// WebCrypto for AES-GCM when available, else wasm.
    #[default]
    Auto,
    /// WebCrypto only (AES-GCM suites).
    WebCrypto,
    /// RustCrypto compiled to wasm.
    Wasm,
}

/// `crypto.subtle` of this global (window or worker), if there is one.
pub fn subtle() -> Option<SubtleCrypto> {
    let crypto = Reflect::get(&js_sys::global(), &"crypto".into()).ok()?;
    if crypto.is_undefined() {
        return None;
    }
    let s = Reflect::get(&crypto, &"subtle".into()).ok()?;
    s.dyn_into::<SubtleCrypto>().ok()
}

/// An initialised chunk AEAD.
pub enum ChunkCipher {
    /// WebCrypto AES-GCM with a non-extractable key.
    WebCrypto {
        /// `crypto.subtle`.
        subtle: SubtleCrypto,
        /// The imported key.
        key: CryptoKey,
    },
    /// RustCrypto in wasm.
    Wasm(Box<Cipher>),
}

fn platform(e: JsValue) -> Error {
    Error::Platform(describe(&e))
}

impl ChunkCipher {
    /// Initialises the AEAD of `keys` on `backend`.
    pub async fn new(keys: &AttachmentKeys, backend: Backend) -> Result<Self, Error> {
        let alg = keys.suite().aead();
        let is_aes = matches!(alg, AeadAlg::Aes128Gcm | AeadAlg::Aes256Gcm);
        let subtle = match backend {
            Backend::Wasm => None,
            Backend::Auto if !is_aes => None,
            Backend::Auto => subtle(),
            Backend::WebCrypto if !is_aes => {
                return Err(Error::InvalidArgument("WebCrypto has no ChaCha20-Poly1305: use backend \"wasm\"".into()))
            }
            Backend::WebCrypto => {
                Some(subtle().ok_or_else(|| Error::Platform("crypto.subtle is not available".into()))?)
            }
        };
        let Some(subtle) = subtle else {
            return Ok(ChunkCipher::Wasm(Box::new(Cipher::new(alg, keys.key())?)));
        };
        let raw = Uint8Array::from(keys.key());
        let algo = Object::new();
        Reflect::set(&algo, &"name".into(), &"AES-GCM".into()).map_err(platform)?;
        let usages = Array::of2(&"encrypt".into(), &"decrypt".into());
        let p = subtle.import_key_with_object("raw", &raw, &algo, false, &usages).map_err(platform);
        let key = match p {
            Ok(p) => JsFuture::from(p).await.map_err(platform),
            Err(e) => Err(e),
        };
        raw.fill(0, 0, raw.length()); // the JS copy of the key
        let key =
            key?.dyn_into::<CryptoKey>().map_err(|_| Error::Platform("importKey did not give a CryptoKey".into()))?;
        Ok(ChunkCipher::WebCrypto { subtle, key })
    }

    fn params(nonce: &[u8; AEAD_NONCE_LEN], aad: &[u8]) -> AesGcmParams {
        let p = AesGcmParams::new_with_u8_array("AES-GCM", &Uint8Array::from(&nonce[..]));
        p.set_additional_data_u8_array(&Uint8Array::from(aad));
        p.set_tag_length(128);
        p
    }

    /// Starts `AEAD.Seal` (ciphertext || tag). On WebCrypto the work runs off this thread while
    /// the caller goes on; several may be in flight at once (they finish in order of `wait`).
    pub fn start_seal(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        plaintext: &Uint8Array,
    ) -> Result<Pending, Error> {
        match self {
            ChunkCipher::WebCrypto { subtle, key } => subtle
                .encrypt_with_object_and_js_u8_array(&Self::params(nonce, aad), key, plaintext)
                .map(|p| Pending::Js(JsFuture::from(p)))
                .map_err(platform),
            ChunkCipher::Wasm(c) => {
                let pt = zeroize::Zeroizing::new(plaintext.to_vec());
                let mut out = Vec::with_capacity(pt.len() + 16);
                c.seal_into(nonce, aad, &pt, &mut out);
                Ok(Pending::Done(Some(Uint8Array::from(&out[..]))))
            }
        }
    }

    /// Starts `AEAD.Open`; its `wait` gives the plaintext, or `None` when the tag does not verify.
    pub fn start_open(&self, nonce: &[u8; AEAD_NONCE_LEN], aad: &[u8], sealed: &Uint8Array) -> Result<Pending, Error> {
        if sealed.length() < 16 {
            return Ok(Pending::Done(None));
        }
        match self {
            ChunkCipher::WebCrypto { subtle, key } => subtle
                .decrypt_with_object_and_js_u8_array(&Self::params(nonce, aad), key, sealed)
                .map(|p| Pending::Js(JsFuture::from(p)))
                .map_err(platform),
            ChunkCipher::Wasm(c) => {
                let ct = sealed.to_vec();
                let mut out = zeroize::Zeroizing::new(Vec::with_capacity(ct.len()));
                Ok(Pending::Done(match c.open_into(nonce, aad, &ct, &mut out) {
                    Ok(()) => Some(Uint8Array::from(&out[..])),
                    Err(_) => None,
                }))
            }
        }
    }

    /// `AEAD.Open`: the plaintext, or `None` when the tag does not verify.
    pub async fn open(
        &self,
        nonce: &[u8; AEAD_NONCE_LEN],
        aad: &[u8],
        sealed: &Uint8Array,
    ) -> Result<Option<Uint8Array>, Error> {
        self.start_open(nonce, aad, sealed)?.wait().await
    }
}

/// An AEAD operation under way (WebCrypto) or already done (wasm).
pub enum Pending {
    /// A `crypto.subtle` promise.
    Js(JsFuture),
    /// The result of a synchronous wasm operation (`None`: the tag did not verify).
    Done(Option<Uint8Array>),
}

impl Pending {
    /// The output, or `None` when an `open`'s tag did not verify.
    pub async fn wait(self) -> Result<Option<Uint8Array>, Error> {
        match self {
            Pending::Done(v) => Ok(v),
            Pending::Js(f) => match f.await {
                Ok(buf) => Ok(Some(Uint8Array::new(&buf))),
                // WebCrypto rejects a bad tag with an OperationError.
                Err(e) if e.dyn_ref::<web_sys::DomException>().is_some_and(|d| d.name() == "OperationError") => {
                    Ok(None)
                }
                Err(e) => Err(platform(e)),
            },
        }
    }

    /// The output of a seal.
    pub async fn sealed(self) -> Result<Uint8Array, Error> {
        self.wait().await?.ok_or_else(|| Error::Platform("AEAD seal failed".into()))
    }
}
