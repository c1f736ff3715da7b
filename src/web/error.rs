//! Core errors as JS `Error` objects with a stable `code`.

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use crate::Error;

#[wasm_bindgen(typescript_custom_section)]
const TS_ERRORS: &'static str = r#"
/** Stable error codes carried by every `MimiAttachmentsError`. */
export type MimiErrorCode =
  | "UnknownCipherSuite" | "BadContentType" | "BadChunkSize" | "InvalidLength"
  | "DecryptFailed" | "Truncated" | "TrailingData" | "BadCiphertextLength"
  | "HashMismatch" | "TooLarge" | "Codec" | "Mls" | "Rng" | "InvalidState"
  | "WrongEpoch" | "WrongGroup" | "NotMember" | "Aborted" | "Io" | "Platform" | "InvalidArgument" | "AlreadyExists";
/** What every function of this package throws (or rejects with, or errors a stream with). */
export interface MimiAttachmentsError extends Error {
  name: "MimiAttachmentsError";
  code: MimiErrorCode;
  /** For `BadContentType`: the defect, e.g. "MissingParameter", "BadBase64", "DuplicateParameter". */
  kind?: string;
  /** For `DecryptFailed`: the 0-based index of the chunk whose tag did not verify. */
  chunk?: number;
}
"#;

/// Result type of exported functions.
pub type JsResult<T> = Result<T, JsValue>;

/// Converts a core error into a JS `Error` with `name`, a stable `code` and details.
pub fn js_error(e: Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name("MimiAttachmentsError");
    let set = |k: &str, v: JsValue| {
        // Setting a property on a fresh Error object cannot fail.
        let _ = Reflect::set(&err, &JsValue::from_str(k), &v);
    };
    set("code", JsValue::from_str(e.code()));
    match &e {
        Error::BadContentType(c) => set("kind", JsValue::from_str(c.kind())),
        Error::DecryptFailed { chunk } => set("chunk", JsValue::from_f64(*chunk as f64)),
        _ => {}
    }
    err.into()
}

/// Describes a thrown JS value (for wrapping browser failures).
pub(crate) fn describe(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        return format!("{}: {}", String::from(e.name()), String::from(e.message()));
    }
    v.as_string().unwrap_or_else(|| format!("{v:?}"))
}
