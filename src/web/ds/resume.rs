//! Resuming uploads after a reload (full build: a persisting `MlsClient` keeps the records in
//! IndexedDB): list, resume from the server's offset, or discard them.

use js_sys::{Array, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::super::attachment::{AttachmentRef, OutgoingAttachment};
use super::super::io::Options;
use super::super::js::{get_opt, promise, set};
use super::super::store::{idb, idb_delete, idb_get, idb_keys};
use super::{DsClient, DsGroup};
use crate::Error;

#[wasm_bindgen]
impl DsClient {
    /// Uploads that a persisting client started and did not finish (for example when the page
    /// was closed): `[{id, name, size, groupId}]`. Resume them with `resumeUpload`.
    #[wasm_bindgen(js_name = pendingUploads, unchecked_return_type = "Promise<{ id: string; name?: string; size: number; groupId: Uint8Array }[]>")]
    pub fn pending_uploads(&self) -> Promise {
        let prefix = self.upload_prefix();
        promise(async move {
            let out = Array::new();
            let Some(prefix) = prefix else { return Ok(out) };
            for k in Array::from(&idb(idb_keys()).await?).iter() {
                let Some(key) = k.as_string().filter(|k| k.starts_with(&prefix)) else { continue };
                let rec = idb(idb_get(&key)).await?;
                let o = Object::new();
                set(&o, "id", key.as_str());
                set(&o, "name", get_opt(&rec, "name"));
                set(&o, "size", get_opt(&get_opt(&rec, "file"), "size"));
                set(&o, "groupId", get_opt(&rec, "groupId"));
                out.push(&o);
            }
            Ok(out)
        })
    }

    /// Resumes a pending upload (from `pendingUploads`) from the server's offset and resolves to
    /// the reference, as `sendAttachment` does. `WrongEpoch` if the group has moved to another
    /// epoch since the upload started (the keys belong to that epoch: send the file again).
    #[wasm_bindgen(js_name = resumeUpload, unchecked_return_type = "Promise<AttachmentRef>")]
    pub fn resume_upload(
        &self,
        group: &DsGroup,
        id: String,
        #[wasm_bindgen(unchecked_optional_param_type = "StreamOptions")] options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let this = self.clone_handle();
        let g = group.member();
        promise(async move {
            let opts = Options::from_js(&options)?;
            let rec = idb(idb_get(&id)).await?;
            if rec.is_undefined() {
                return Err(Error::InvalidArgument("no such pending upload".into()));
            }
            let state = get_opt(&rec, "state")
                .dyn_into::<Uint8Array>()
                .map_err(|_| Error::Codec("bad upload record".into()))?;
            let file = get_opt(&rec, "file")
                .dyn_into::<web_sys::Blob>()
                .map_err(|_| Error::Codec("bad upload record".into()))?;
            let location =
                get_opt(&rec, "location").as_string().ok_or_else(|| Error::Codec("bad upload record".into()))?;
            let pending = crate::attachment::PendingAttachment::from_bytes(&zeroize::Zeroizing::new(state.to_vec()))?;
            if pending.group_id() != g.group_id() {
                return Err(Error::WrongGroup);
            }
            let out = OutgoingAttachment::new(g.clone(), pending, file);
            let total = out.ciphertext_size_u64()?;
            let r = this.upload_parts(&out, &g, &opts, &location, total, true).await;
            if !matches!(r, Err(Error::Network(_)) | Err(Error::Aborted)) {
                let _ = idb(idb_delete(&id)).await;
            }
            let at = g.position();
            out.pending().complete_in(&at.group_id, at.epoch, &r?).map(AttachmentRef::new)
        })
    }

    /// Abandons a pending upload: cancels it at the Delivery Service (freeing the quota) and
    /// forgets it.
    #[wasm_bindgen(js_name = discardUpload, unchecked_return_type = "Promise<void>")]
    pub fn discard_upload(&self, group: &DsGroup, id: String) -> Promise {
        let this = self.clone_handle();
        let g = group.member();
        promise(async move {
            let rec = idb(idb_get(&id)).await?;
            if let Some(location) = get_opt(&rec, "location").as_string() {
                this.cancel_at_ds(&g, &location).await;
            }
            idb(idb_delete(&id)).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
