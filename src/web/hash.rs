//! Hashing a file's plaintext: the sender's one pass over the input before encryption
//! (`hash_input`), and the receiver's whole-file check as the plaintext is verified
//! (`PlainHash`). Small inputs go to `crypto.subtle.digest` in one call, larger ones through SHA-2
//! in wasm, piece by piece through a reusable buffer.

use js_sys::Uint8Array;
use subtle::ConstantTimeEq as _;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, SubtleCrypto};
use zeroize::Zeroizing;

use super::error::describe;
use super::io::{Accumulator, ByobFill, Options, Pacer};
use crate::suite::{HashAlg, Hasher};
use crate::Error;

/// Hash pieces larger than this are fed to the hash in slices (bounds the wasm copy).
const HASH_SLICE: u32 = 1 << 20;

/// Feeds a JS byte array to a hasher through a reusable wasm buffer.
fn hash_js(hasher: &mut Hasher, scratch: &mut Zeroizing<Vec<u8>>, data: &Uint8Array) {
    let len = data.length();
    let mut at = 0;
    while at < len {
        let end = (at + HASH_SLICE).min(len);
        let part = data.subarray(at, end);
        scratch.resize((end - at) as usize, 0);
        part.copy_to(scratch);
        hasher.update(scratch);
        at = end;
    }
}

/// Files up to this size are hashed with one `crypto.subtle.digest` call (native speed, faster
/// than wasm SHA-2) at the cost of holding them in memory once; larger ones stream through wasm
/// SHA-2 piece by piece. In a Worker.
pub const DIGEST_BUDGET: u64 = 32 << 20;

/// [`DIGEST_BUDGET`] on a page's main thread: `crypto.subtle.digest` runs there as one task
/// (20 MiB took 55 ms in Chromium here, a long task), so only small files take it.
pub const DIGEST_BUDGET_MAIN_THREAD: u64 = 4 << 20;

/// The digest budget of this thread.
fn digest_budget() -> u64 {
    let doc = js_sys::Reflect::get(&js_sys::global(), &"document".into()).unwrap_or(JsValue::UNDEFINED);
    if doc.is_undefined() {
        DIGEST_BUDGET
    } else {
        DIGEST_BUDGET_MAIN_THREAD
    }
}

/// `crypto.subtle.digest` of `data`.
async fn digest(subtle: &SubtleCrypto, hash: HashAlg, data: &js_sys::Object) -> Result<Vec<u8>, Error> {
    let name = match hash {
        HashAlg::Sha256 => "SHA-256",
        HashAlg::Sha384 => "SHA-384",
        HashAlg::Sha512 => "SHA-512",
    };
    let p = subtle.digest_with_str_and_buffer_source(name, data).map_err(|e| Error::Platform(describe(&e)))?;
    let d = wasm_bindgen_futures::JsFuture::from(p).await.map_err(|e| Error::Platform(describe(&e)))?;
    Ok(Uint8Array::new(&d).to_vec())
}

/// `crypto.subtle.digest` of a whole small Blob, when WebCrypto is there.
async fn digest_small_blob(hash: HashAlg, blob: &Blob) -> Result<Option<Vec<u8>>, Error> {
    let Some(subtle) = super::cipher::subtle() else { return Ok(None) };
    let buf = wasm_bindgen_futures::JsFuture::from(blob.array_buffer()).await.map_err(|e| Error::Io(describe(&e)))?;
    digest(&subtle, hash, &buf.unchecked_into()).await.map(Some)
}

/// How a decryption checks the whole-file hash.
pub(crate) enum PlainHash {
    /// SHA-2 in wasm, piece by piece (through a reusable wasm buffer).
    Wasm(Box<Hasher>, Zeroizing<Vec<u8>>),
    /// A plaintext of at most [`digest_budget`] bytes (its size known from the reference) is
    /// copied as it is verified and hashed with one `crypto.subtle.digest` call at the end:
    /// native speed, within the same memory budget as the encrypt side. The copy is ours (the
    /// consumer may transfer the pieces it reads) and is zeroed after the digest.
    Native { subtle: SubtleCrypto, alg: HashAlg, copy: Uint8Array, at: u32 },
}

impl PlainHash {
    pub(crate) fn new(alg: HashAlg, size: Option<u64>) -> Self {
        match (size.filter(|n| *n <= digest_budget()), super::cipher::subtle()) {
            (Some(n), Some(subtle)) => {
                PlainHash::Native { subtle, alg, copy: Uint8Array::new_with_length(n as u32), at: 0 }
            }
            _ => PlainHash::Wasm(Box::new(Hasher::new(alg)), Zeroizing::new(Vec::new())),
        }
    }

    pub(crate) fn update(&mut self, pt: &Uint8Array) -> Result<(), Error> {
        match self {
            PlainHash::Wasm(h, scratch) => hash_js(h, scratch, pt),
            PlainHash::Native { copy, at, .. } => {
                let end = at.checked_add(pt.length()).filter(|e| *e <= copy.length()).ok_or(Error::TrailingData)?;
                copy.set(pt, *at);
                *at = end;
            }
        }
        Ok(())
    }

    /// Whether the plaintext hashed to `expected` (compared in constant time).
    pub(crate) async fn matches(self, expected: &[u8]) -> Result<bool, Error> {
        match self {
            PlainHash::Wasm(h, _) => Ok(crate::stream::hash_matches(*h, expected)),
            PlainHash::Native { subtle, alg, copy, at } => {
                let d = digest(&subtle, alg, &copy.subarray(0, at)).await;
                copy.fill(0, 0, copy.length());
                Ok(bool::from(d?.ct_eq(expected)))
            }
        }
    }
}

/// Hashes a Blob read through a [`ByobFill`] (no garbage per piece); `None` where the Blob's
/// stream is not a byte stream (then the caller reads it the default way).
async fn hash_blob_byob(
    hasher: &mut Hasher,
    blob: &Blob,
    opts: &Options,
    total: Option<u64>,
) -> Result<Option<u64>, Error> {
    // Half a hash slice a read: ~2 ms of SHA-256, so a yield is never far (see `Pacer`).
    const READ: u32 = HASH_SLICE / 2;
    let Some(mut reader) = ByobFill::new(blob, READ) else { return Ok(None) };
    let mut scratch = Zeroizing::new(vec![0u8; READ as usize]);
    let mut read = 0u64;
    let mut pacer = Pacer::default();
    loop {
        pacer.tick().await;
        opts.check_abort()?;
        let piece = reader.fill(READ).await?;
        let part = scratch.get_mut(..piece.length() as usize).ok_or(Error::InvalidState("piece too long"))?;
        if part.is_empty() {
            return Ok(Some(read));
        }
        piece.copy_to(part);
        hasher.update(part);
        read += part.len() as u64;
        opts.progress("hash", read, total);
    }
}

/// `Hash(input)` and the input's length, reading the input once.
pub async fn hash_input(
    hash: HashAlg,
    input: &JsValue,
    opts: &Options,
    total: Option<u64>,
) -> Result<(Vec<u8>, u64), Error> {
    opts.check_abort()?;
    if let Some(blob) = input.dyn_ref::<Blob>() {
        let size = blob.size() as u64;
        if size <= digest_budget() {
            if let Some(h) = digest_small_blob(hash, blob).await? {
                opts.progress("hash", size, total);
                return Ok((h, size));
            }
        }
    }
    let mut hasher = Hasher::new(hash);
    if let Some(blob) = input.dyn_ref::<Blob>() {
        if let Some(read) = hash_blob_byob(&mut hasher, blob, opts, total).await? {
            return Ok((hasher.finalize(), read));
        }
    }
    let mut acc = Accumulator::new(input)?;
    let mut scratch = Zeroizing::new(Vec::new());
    let mut pacer = Pacer::default();
    loop {
        pacer.tick().await;
        opts.check_abort()?;
        acc.fill(1).await?;
        let Some(piece) = acc.take_piece() else { break };
        // A stream may hand over a large piece at once: hash it a slice a tick.
        let mut at = 0;
        while at < piece.length() {
            let end = at.saturating_add(HASH_SLICE).min(piece.length());
            hash_js(&mut hasher, &mut scratch, &piece.subarray(at, end));
            at = end;
            if at < piece.length() {
                pacer.tick().await;
            }
        }
        opts.progress("hash", acc.read, total);
    }
    Ok((hasher.finalize(), acc.read))
}
