//! For applications that run their own MLS stack (ts-mls, another openmls build, ...): the
//! `MLS-Exporter` input of an attachment (label, `AttachmentContext`, length) and the key
//! derivation from its output; and `MLS-Exporter` of this package's own groups.

use js_sys::Object;
use wasm_bindgen::prelude::*;

use super::basic::{suite, AttachmentKeys};
use super::error::{js_error, JsResult};
use super::js::{bytes, set, whole};
#[cfg(feature = "mls")]
use super::MlsGroup;
use crate::error::check_len;
use crate::schedule::{self, AttachmentContext, EXPORTER_LABEL};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** The arguments of the application's own `MLS-Exporter(label, context, length)` for one
 *  attachment (draft §3.6): its output is the `attachment_exporter_secret`. */
export interface AttachmentExporterInput {
  /** `"MIMI attachment"`. */
  label: string;
  /** The TLS-encoded `AttachmentContext { opaque attachment_hash<V>; uint64 sender_index; }`. */
  context: Uint8Array;
  /** `KDF.Nh` of the cipher suite (32 for suites 1-3). */
  length: number;
}
"#;

/// What an application passes to its own MLS stack's `MLS-Exporter` for the attachment whose
/// plaintext hashes to `attachmentHash` (`KDF.Nh` bytes), sent by the member at leaf
/// `senderIndex`, in a group of `cipherSuite`. The call must use the epoch the attachment's
/// message is sent in.
#[wasm_bindgen(js_name = attachmentExporterInput, unchecked_return_type = "AttachmentExporterInput")]
pub fn attachment_exporter_input(
    #[wasm_bindgen(js_name = cipherSuite)] cipher_suite: f64,
    #[wasm_bindgen(js_name = attachmentHash)] attachment_hash: &[u8],
    #[wasm_bindgen(js_name = senderIndex)] sender_index: f64,
) -> JsResult<JsValue> {
    let s = suite(cipher_suite)?;
    check_len("attachment_hash", s.nh(), attachment_hash.len()).map_err(js_error)?;
    let sender = whole(sender_index, u64::from(u32::MAX), "senderIndex").map_err(js_error)? as u32;
    let context = AttachmentContext::new(attachment_hash, sender).to_bytes().map_err(js_error)?;
    let o = Object::new();
    set(&o, "label", EXPORTER_LABEL);
    set(&o, "context", bytes(&context));
    set(&o, "length", s.nh() as u32);
    Ok(o.into())
}

#[wasm_bindgen]
impl AttachmentKeys {
    /// Runs draft §3.6 from `attachment_exporter_secret`, the output of the application's own
    /// `MLS-Exporter` called with `attachmentExporterInput(...)`; `nonce` is the reference's
    /// random `KDF.Nh`-byte nonce (`randomNonce` when sending).
    #[wasm_bindgen(js_name = fromAttachmentExporterSecret)]
    pub fn from_attachment_exporter_secret(
        #[wasm_bindgen(js_name = cipherSuite)] cipher_suite: f64,
        #[wasm_bindgen(js_name = attachmentExporterSecret)] attachment_exporter_secret: &[u8],
        nonce: &[u8],
    ) -> JsResult<AttachmentKeys> {
        schedule::AttachmentKeys::from_attachment_exporter_secret(
            suite(cipher_suite)?,
            attachment_exporter_secret,
            nonce,
        )
        .map(AttachmentKeys::new)
        .map_err(js_error)
    }
}

#[cfg(feature = "mls")]
#[wasm_bindgen]
impl MlsGroup {
    /// RFC 9420's `MLS-Exporter(label, context, length)` in the current epoch (secret material;
    /// `length` 1..=255·`KDF.Nh` bytes, 8160 for suites 1-3, else `InvalidArgument`). With `attachmentExporterInput(...)` it returns an attachment's
    /// `attachment_exporter_secret`, as another member's MLS stack computes it.
    #[wasm_bindgen(js_name = exportSecret)]
    pub fn export_secret(&self, label: &str, context: &[u8], length: f64) -> JsResult<Vec<u8>> {
        let length = whole(length, u64::from(u16::MAX), "length").map_err(js_error)? as usize;
        self.group().export_secret(label, context, length).map_err(js_error)
    }
}
