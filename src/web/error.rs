//! Core errors as JS `Error` objects with a stable `code`.

use js_sys::Reflect;
use wasm_bindgen::prelude::*;

use crate::Error;

#[wasm_bindgen(typescript_custom_section)]
const TS_ERRORS: &'static str = r#"
/** Stable error codes carried by every `MimiAttachmentsError` (docs/ERRORS.md says when each
 *  happens and what to do). The Delivery Service's codes (`Forbidden` .. `Internal`) are passed
 *  through as the DS sent them; `DsError` is a DS answer without a code this version knows. */
export type MimiErrorCode =
  | "UnknownCipherSuite" | "BadContentType" | "BadChunkSize" | "InvalidLength"
  | "DecryptFailed" | "Truncated" | "TrailingData" | "BadCiphertextLength"
  | "HashMismatch" | "TooLarge" | "Codec" | "Mls" | "Rng" | "Signing" | "InvalidState"
  | "WrongEpoch" | "WrongGroup" | "NotMember" | "Aborted" | "Io" | "Platform" | "Network"
  | "InvalidArgument" | "BadMimiContent" | "AlreadyExists"
  | "BadRequest" | "InvalidMessage" | "Unauthorized" | "BadSignature" | "Stale" | "StaleEpoch"
  | "Replay" | "Forbidden" | "NotFound" | "MethodNotAllowed" | "Timeout" | "Conflict"
  | "RangeNotSatisfiable" | "RateLimited" | "QuotaExceeded" | "InsufficientStorage" | "Unavailable" | "Internal" | "DsError";
/** What every function of this package throws (or rejects with, or errors a stream with). */
export interface MimiAttachmentsError extends Error {
  name: "MimiAttachmentsError";
  code: MimiErrorCode;
  /** For `BadContentType`: the defect, e.g. "MissingParameter", "BadBase64", "DuplicateParameter".
   *  For `BadMimiContent`: e.g. "WrongArrayLength", "LengthMismatch", "UnknownEncAlg", "AmbiguousTag". */
  kind?: string;
  /** For `DecryptFailed`: the 0-based index of the chunk whose tag did not verify. */
  chunk?: number;
  /** For an error the Delivery Service answered: its HTTP status. */
  status?: number;
  /** For an error the Delivery Service answered: the `code` of its JSON body as sent ("" when
   *  the answer had none); equal to `code` except for `DsError`. */
  dsCode?: string;
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
        Error::Content(c) => set("kind", JsValue::from_str(c.kind())),
        Error::DecryptFailed { chunk } => set("chunk", JsValue::from_f64(*chunk as f64)),
        Error::Ds { status, code, .. } => {
            set("status", JsValue::from(*status));
            set("dsCode", JsValue::from_str(code.as_str()));
        }
        _ => {}
    }
    err.into()
}

/// Describes a thrown JS value (for wrapping browser failures).
pub(crate) fn describe(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        return format!("{}: {}", String::from(e.name()), String::from(e.message()));
    }
    // JS's `String(v)` (what the page would print), not JsValue's Debug form.
    v.as_string().unwrap_or_else(|| {
        js_sys::Reflect::get(&js_sys::global(), &"String".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .and_then(|f| f.call1(&JsValue::NULL, v).ok())
            .and_then(|s| s.as_string())
            .unwrap_or_else(|| "a thrown value that is not an Error".into())
    })
}
