//! Saving an attachment to disk as it decrypts: the verified decrypt stream (`ref.decrypt`,
//! `DsClient.download`) piped into a `WritableStream` such as a `FileSystemWritableFileStream`
//! (`showSaveFilePicker()`, or OPFS `getFileHandle(...).createWritable()`). Any failure — a bad
//! chunk, a hash mismatch, the network, an abort, the sink itself — aborts the writable, so the
//! browser discards what it had written (a `FileSystemWritableFileStream` writes to a swap file
//! that only `close()` moves into place): the destination keeps its earlier contents.

use js_sys::{Function, Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

use super::super::attachment::AttachmentRef;
use super::super::error::{describe, js_error};
use super::super::io::Options;
use super::super::pipeline::decrypt_stream;
use super::{DsClient, DsGroup};
use crate::Error;

/// The writable's method `name`, or `InvalidArgument` when it is not a `WritableStream`.
fn method(writable: &JsValue, name: &str) -> Result<Function, Error> {
    Reflect::get(writable, &name.into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or_else(|| Error::InvalidArgument("the destination must be a WritableStream".into()))
}

/// Best effort `writable.abort(reason)` (a writable already errored or locked rejects: ignored).
async fn abort(writable: &JsValue, reason: &JsValue) {
    if let Ok(f) = method(writable, "abort") {
        if let Ok(p) = f.call1(writable, reason) {
            if let Ok(p) = p.dyn_into::<Promise>() {
                let _ = JsFuture::from(p).await;
            }
        }
    }
}

/// Whether `e` is one of ours (passed through as it is, with its `code` and `chunk`).
fn is_ours(e: &JsValue) -> bool {
    Reflect::get(e, &"name".into()).ok().and_then(|n| n.as_string()).as_deref() == Some("MimiAttachmentsError")
}

/// Pipes `stream` (the plaintext, or the error that made it) into `writable`; resolves when the
/// writable closed. `pipeTo` aborts the writable when the stream errors and cancels the stream
/// when the writable fails; a failure of the sink becomes an `Io` error.
async fn save(stream: Result<web_sys::ReadableStream, Error>, writable: JsValue) -> Result<JsValue, JsValue> {
    // Checked before anything is read: a wrong destination is an argument error, not a save.
    method(&writable, "getWriter").map_err(js_error)?;
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            let e = js_error(e);
            abort(&writable, &e).await;
            return Err(e);
        }
    };
    let pipe = method(stream.as_ref(), "pipeTo").map_err(js_error)?;
    let p = pipe.call1(stream.as_ref(), &writable).map_err(|e| js_error(Error::Io(describe(&e))))?;
    let p = p.dyn_into::<Promise>().map_err(|_| js_error(Error::Io("pipeTo returned no promise".into())))?;
    match JsFuture::from(p).await {
        Ok(_) => Ok(JsValue::UNDEFINED),
        Err(e) if is_ours(&e) => Err(e),
        Err(e) => {
            let ours = js_error(Error::Io(format!("writing the file: {}", describe(&e))));
            abort(&writable, &ours).await;
            Err(ours)
        }
    }
}

#[wasm_bindgen]
impl AttachmentRef {
    /// Decrypts `ciphertext` straight into `writable` (a `FileSystemWritableFileStream` from
    /// `showSaveFilePicker()` or OPFS `createWritable()`, or any `WritableStream`), verified as
    /// it goes; resolves once the writable closed with the whole plaintext. On any failure the
    /// writable is aborted (the browser discards its swap file; the file keeps what it held
    /// before) and the promise rejects with the `MimiAttachmentsError` (`DecryptFailed`,
    /// `HashMismatch`, `Truncated`, `Aborted`, …; `Io` when the sink fails).
    #[wasm_bindgen(js_name = saveTo, unchecked_return_type = "Promise<void>")]
    pub fn save_to(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Blob | ReadableStream<Uint8Array> | Uint8Array")] ciphertext: JsValue,
        #[wasm_bindgen(unchecked_param_type = "WritableStream<Uint8Array>")] writable: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "DecryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let stream = Options::from_js(&options).and_then(|opts| {
            decrypt_stream(
                self.core().keys().clone(),
                self.core().format(),
                &self.core().hash,
                self.core().size,
                &ciphertext,
                opts,
            )
        });
        future_to_promise(save(stream, writable))
    }
}

#[wasm_bindgen]
impl DsClient {
    /// Downloads, decrypts and writes an attachment into `writable` as the bytes arrive (see
    /// `AttachmentRef.saveTo`): nothing of the file's size is held in memory. On any failure
    /// (the network, a bad chunk, the whole-file hash) the writable is aborted and the promise
    /// rejects with the `MimiAttachmentsError`.
    #[wasm_bindgen(js_name = downloadTo, unchecked_return_type = "Promise<void>")]
    pub fn download_to(
        &self,
        group: &DsGroup,
        reference: &AttachmentRef,
        #[wasm_bindgen(unchecked_param_type = "WritableStream<Uint8Array>")] writable: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "DecryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let this = self.clone_handle();
        let g = group.member();
        let r = AttachmentRef::new(reference.core().clone());
        future_to_promise(async move {
            let stream = match Options::from_js(&options) {
                Ok(opts) => this.download_stream(&g, &r, opts).await,
                Err(e) => Err(e),
            };
            save(stream, writable).await
        })
    }
}
