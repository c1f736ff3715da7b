//! Group registration and handshakes as bytes, for a group whose MLS state lives in the
//! application's own stack (or in an `MlsGroup` whose commit the application made itself): the
//! Delivery Service learns the roster from the GroupInfo and from each commit (a PublicMessage),
//! and checks every signed request against it.

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use super::super::js::{bytes, get_opt, opt_bytes, promise};
use super::http::Req;
use super::{b64, DsClient};
use crate::Error;

impl DsClient {
    /// `POST /v1/groups/{id}/handshake` of `commit` (a PublicMessage), the new epoch's GroupInfo
    /// and, when it adds members, the Welcome (the DS files it in their mailboxes).
    pub(super) async fn post_handshake_bytes(
        &self,
        group_id: &[u8],
        commit: &[u8],
        group_info: Option<&[u8]>,
        welcome: Option<&[u8]>,
    ) -> Result<(), Error> {
        let mut body = commit.to_vec();
        body.extend_from_slice(group_info.unwrap_or_default());
        body.extend_from_slice(welcome.unwrap_or_default());
        let path = format!("/v1/groups/{}/handshake", b64(group_id));
        self.send(None, || Req::new("POST", path.clone()).body(bytes(&body))).await?;
        Ok(())
    }
}

fn field(update: &JsValue, k: &str) -> Result<Option<Vec<u8>>, Error> {
    opt_bytes(&get_opt(update, k), k)
}

#[wasm_bindgen]
impl DsClient {
    /// Registers a group at the Delivery Service from its `groupInfo` (an `MLSMessage` with a
    /// GroupInfo that carries the ratchet tree extension), with this client's bearer token.
    #[wasm_bindgen(js_name = registerGroup, unchecked_return_type = "Promise<void>")]
    pub fn register_group(&self, #[wasm_bindgen(js_name = groupInfo)] group_info: Vec<u8>) -> Promise {
        let this = self.clone_handle();
        promise(async move {
            let auth = this.bearer().await?;
            this.send(None, || {
                Self::with_bearer(Req::new("POST", "/v1/groups".into()).body(bytes(&group_info)), &auth)
            })
            .await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Sends a commit made by the application's MLS stack to the Delivery Service:
    /// `update.commit` (an `MLSMessage` PublicMessage), `update.groupInfo` of the new epoch (with
    /// the ratchet tree) and, when members are added, `update.welcome`. The shape of
    /// `GroupUpdate`, so an `MlsGroup`'s own `addMembers`/`removeMembers`/`selfUpdate` result
    /// can be passed as it is.
    #[wasm_bindgen(js_name = postHandshake, unchecked_return_type = "Promise<void>")]
    pub fn post_handshake_js(
        &self,
        #[wasm_bindgen(js_name = groupId)] group_id: Vec<u8>,
        #[wasm_bindgen(unchecked_param_type = "{ commit: Uint8Array; groupInfo?: Uint8Array; welcome?: Uint8Array }")]
        update: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        promise(async move {
            let commit = field(&update, "commit")?.ok_or_else(|| Error::InvalidArgument("commit is missing".into()))?;
            let (gi, w) = (field(&update, "groupInfo")?, field(&update, "welcome")?);
            this.post_handshake_bytes(&group_id, &commit, gi.as_deref(), w.as_deref()).await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}
