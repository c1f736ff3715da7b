//! `ExternalGroup`: one epoch of an MLS group held by the application's own MLS stack (ts-mls,
//! another openmls build, ...). The package calls back into that stack for the two things the
//! draft needs of it: `MLS-Exporter` (the attachment keys, §3.6) and the member's leaf signature
//! key (signed Delivery Service requests). In the light build it is the only kind of group.

use std::rc::Rc;

use js_sys::{Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::Blob;
use zeroize::Zeroizing;

use super::attachment::{encrypt_attachment, AttachmentRef};
use super::error::{describe, js_error, JsResult};
use super::js::{get_opt, opt_bytes, promise, req_whole, whole, MAX_SAFE};
use super::member::Member;
use crate::attachment::{AttachmentRef as CoreRef, Position};
use crate::error::check_len;
use crate::reference::ExternalBodyIn;
use crate::schedule::{AttachmentContext, AttachmentKeys, EXPORTER_LABEL};
use crate::{CipherSuite, Error};

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
/** One epoch of a group held by the application's own MLS stack (`new ExternalGroup(init)`). */
export interface ExternalGroupInit {
  /** The MLS group id. */
  groupId: Uint8Array;
  /** The epoch this object stands for (a whole number; a `bigint` as ts-mls has it is accepted). */
  epoch: number | bigint;
  /** This member's leaf index. */
  ownLeafIndex: number;
  /** The group's cipher suite (1, 2 or 3). */
  cipherSuite: number;
  /** The stack's `MLS-Exporter(label, context, length)` in this epoch (RFC 9420 §8.5): its output
   *  is secret; return exactly `length` bytes, in a fresh array: the package zeroes it once the
   *  keys are derived. */
  exportSecret(label: string, context: Uint8Array, length: number): Uint8Array | Promise<Uint8Array>;
  /** Signs `content` with this member's leaf signature private key, the raw signature of the
   *  group's scheme (Ed25519 for suites 1 and 3, ECDSA P-256 with SHA-256 for suite 2, as MLS
   *  signs). `content` is already RFC 9420's `SignContent` ("MLS 1.0 MIMI DS request"). Needed only
   *  by `DsClient` (every request is signed). */
  sign?(content: Uint8Array): Uint8Array | Promise<Uint8Array>;
}
"#;

/// The state behind an `ExternalGroup`.
pub(crate) struct External {
    at: Position,
    suite: CipherSuite,
    export_secret: Function,
    sign: Option<Function>,
}

/// Calls `f` with `args` and awaits its result if it is a Promise; a throw or a rejection becomes
/// `err(description)`.
async fn call(f: &Function, args: &js_sys::Array, err: impl Fn(String) -> Error) -> Result<JsValue, Error> {
    let v = f.apply(&JsValue::NULL, args).map_err(|e| err(describe(&e)))?;
    match v.dyn_into::<Promise>() {
        Ok(p) => JsFuture::from(p).await.map_err(|e| err(describe(&e))),
        Err(v) => Ok(v),
    }
}

impl External {
    pub(crate) fn position(&self) -> Position {
        self.at.clone()
    }

    pub(crate) fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// Draft §3.6 through the application's `MLS-Exporter`: `attachment_exporter_secret` for
    /// (`hash`, `sender`) in this epoch, then the keys with the reference's `nonce`.
    pub(crate) async fn attachment_keys(
        &self,
        hash: &[u8],
        sender: u32,
        nonce: &[u8],
    ) -> Result<AttachmentKeys, Error> {
        let nh = self.suite.nh();
        check_len("attachment_hash", nh, hash.len())?;
        let context = AttachmentContext::new(hash, sender).to_bytes()?;
        let args = js_sys::Array::of3(&EXPORTER_LABEL.into(), &Uint8Array::from(&context[..]), &(nh as u32).into());
        let out = call(&self.export_secret, &args, |e| Error::Mls(format!("exportSecret failed: {e}"))).await?;
        let out =
            out.dyn_into::<Uint8Array>().map_err(|_| Error::Mls("exportSecret must return a Uint8Array".into()))?;
        let secret = Zeroizing::new(out.to_vec());
        out.fill(0, 0, out.length());
        check_len("exportSecret output", nh, secret.len())?;
        AttachmentKeys::from_attachment_exporter_secret(self.suite, &secret, nonce)
    }

    /// The raw signature of `content` by the application's `sign` callback.
    pub(crate) async fn sign(&self, content: &[u8]) -> Result<Vec<u8>, Error> {
        let f = self.sign.as_ref().ok_or_else(|| {
            Error::InvalidArgument(
                "this ExternalGroup has no sign callback: DsClient needs one to sign requests".into(),
            )
        })?;
        let args = js_sys::Array::of1(&Uint8Array::from(content));
        let sig = call(f, &args, |e| Error::Signing(format!("sign failed: {e}"))).await?;
        let sig = sig.dyn_into::<Uint8Array>().map_err(|_| Error::Signing("sign must return a Uint8Array".into()))?;
        if sig.length() == 0 || sig.length() > 255 {
            return Err(Error::Signing(format!("sign returned {} bytes, not a signature", sig.length())));
        }
        Ok(sig.to_vec())
    }
}

/// A whole number from a JS number or bigint.
fn number_or_bigint(v: &JsValue, max: u64, what: &str) -> Result<u64, Error> {
    if v.is_bigint() {
        let s: String = js_sys::BigInt::unchecked_from_js_ref(v).to_string(10).map(String::from).unwrap_or_default();
        return s
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= max)
            .ok_or_else(|| Error::InvalidArgument(format!("{what} must be a whole number in 0..={max}")));
    }
    req_whole(v, max, what)
}

/// One epoch of a group held by the application's own MLS stack: attachments sent and received
/// with keys from that stack's `MLS-Exporter`, Delivery Service requests signed by its leaf key.
/// Make a new one when the group moves to another epoch.
#[wasm_bindgen]
pub struct ExternalGroup(Rc<External>);

#[wasm_bindgen]
impl ExternalGroup {
    /// `init`: the group id, the epoch, this member's leaf index, the cipher suite, the stack's
    /// `exportSecret` for that epoch and (for `DsClient`) a `sign` callback.
    #[wasm_bindgen(constructor)]
    pub fn new(#[wasm_bindgen(unchecked_param_type = "ExternalGroupInit")] init: JsValue) -> JsResult<ExternalGroup> {
        Self::from_init(&init).map_err(js_error)
    }

    /// The group id.
    #[wasm_bindgen(getter, js_name = groupId)]
    pub fn group_id(&self) -> Vec<u8> {
        self.0.at.group_id.clone()
    }

    /// The epoch.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> f64 {
        self.0.at.epoch as f64
    }

    /// This member's leaf index.
    #[wasm_bindgen(getter, js_name = ownLeafIndex)]
    pub fn own_leaf_index(&self) -> u32 {
        self.0.at.leaf_index
    }

    /// The cipher suite.
    #[wasm_bindgen(getter, js_name = cipherSuite)]
    pub fn cipher_suite(&self) -> u16 {
        self.0.suite.id()
    }

    /// Starts sending `file` as `MlsGroup.encryptAttachment` does: hashes it (one read), draws the
    /// nonce, and derives the keys through `exportSecret` in this epoch.
    #[wasm_bindgen(js_name = encryptAttachment, unchecked_return_type = "Promise<OutgoingAttachment>")]
    pub fn encrypt_attachment(
        &self,
        file: Blob,
        #[wasm_bindgen(unchecked_optional_param_type = "EncryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        encrypt_attachment(self.member(), file, options)
    }

    /// The keys of an attachment referenced by `contentType` in an application message of
    /// `epoch` (this object's, else `WrongEpoch`) from the member at `senderLeafIndex`, through
    /// `exportSecret`. Store the result (`toBytes()`) with the message.
    #[wasm_bindgen(js_name = receiveAttachment, unchecked_return_type = "Promise<AttachmentRef>")]
    pub fn receive_attachment(
        &self,
        #[wasm_bindgen(js_name = contentType)] content_type: String,
        #[wasm_bindgen(js_name = senderLeafIndex)] sender_leaf_index: f64,
        epoch: f64,
    ) -> Promise {
        let m = self.member();
        let x = self.0.clone();
        promise(async move {
            let sender = whole(sender_leaf_index, u64::from(u32::MAX), "senderLeafIndex")? as u32;
            let epoch = whole(epoch, MAX_SAFE, "epoch")?;
            let body = ExternalBodyIn::parse(&content_type)?.validate(x.suite)?;
            let keys = m.receiving_keys(&body, sender, epoch).await?;
            let from = Position { group_id: x.at.group_id.clone(), epoch, leaf_index: sender };
            Ok(AttachmentRef::new(CoreRef::with_keys(body, keys, from)?))
        })
    }
}

impl ExternalGroup {
    fn from_init(init: &JsValue) -> Result<ExternalGroup, Error> {
        if !init.is_object() {
            return Err(Error::InvalidArgument("ExternalGroup needs an init object".into()));
        }
        let group_id = opt_bytes(&get_opt(init, "groupId"), "groupId")?.unwrap_or_default();
        if group_id.is_empty() || group_id.len() > 255 {
            return Err(Error::InvalidArgument("groupId must be 1..=255 bytes".into()));
        }
        let epoch = number_or_bigint(&get_opt(init, "epoch"), MAX_SAFE, "epoch")?;
        let leaf_index = req_whole(&get_opt(init, "ownLeafIndex"), u64::from(u32::MAX), "ownLeafIndex")? as u32;
        let suite = CipherSuite::from_u16(
            req_whole(&get_opt(init, "cipherSuite"), u64::from(u16::MAX), "cipherSuite")? as u16,
        )?;
        let export_secret = get_opt(init, "exportSecret")
            .dyn_into::<Function>()
            .map_err(|_| Error::InvalidArgument("exportSecret must be a function".into()))?;
        let sign = match get_opt(init, "sign") {
            v if v.is_undefined() || v.is_null() => None,
            v => Some(v.dyn_into::<Function>().map_err(|_| Error::InvalidArgument("sign must be a function".into()))?),
        };
        let at = Position { group_id, epoch, leaf_index };
        Ok(ExternalGroup(Rc::new(External { at, suite, export_secret, sign })))
    }

    pub(crate) fn member(&self) -> Member {
        Member::External(self.0.clone())
    }
}
