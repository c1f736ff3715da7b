//! The message relay through the Delivery Service: key packages, group creation and membership
//! (handshakes as PublicMessages), application messages, quota.

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::AbortSignal;

use super::super::group::{event_js, update_js, MlsGroup};
use super::super::js::{bytes, get_opt, promise, set};
use super::super::js::{opt_whole, whole, MAX_SAFE};
use super::http::*;
use super::{b64, DsClient};
use crate::auth::empty_body_hash;
use crate::mls;
use crate::Error;

impl DsClient {
    pub(super) async fn post_handshake(&self, g: &MlsGroup, update: &mls::Outgoing) -> Result<(), Error> {
        let gid = g.group().group_id().to_vec();
        self.post_handshake_bytes(&gid, &update.commit, update.group_info.as_deref(), update.welcome.as_deref()).await
    }
}

#[wasm_bindgen]
impl DsClient {
    /// Publishes a fresh KeyPackage of this client (others claim it to add this client).
    #[wasm_bindgen(js_name = publishKeyPackage, unchecked_return_type = "Promise<void>")]
    pub fn publish_key_package(&self) -> Promise {
        let this = self.clone_handle();
        promise(async move {
            let kp = this.h.client().key_package()?;
            this.h.save().await?;
            let path = format!("/v1/clients/{}/key-packages", b64(this.h.client().identity()));
            let auth = this.bearer().await?;
            this.send(None, || Self::with_bearer(Req::new("POST", path.clone()).body(bytes(&kp)), &auth)).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Creates a group and registers it (its GroupInfo) at the Delivery Service.
    #[wasm_bindgen(js_name = createGroup, unchecked_return_type = "Promise<MlsGroup>")]
    pub fn create_group(&self, #[wasm_bindgen(js_name = groupId)] group_id: Option<Vec<u8>>) -> Promise {
        let this = self.clone_handle();
        promise(async move {
            let g = this.h.client().create_group(group_id.as_deref())?;
            let gi = g.group_info()?;
            this.h.save().await?;
            let auth = this.bearer().await?;
            this.send(None, || Self::with_bearer(Req::new("POST", "/v1/groups".into()).body(bytes(&gi)), &auth))
                .await?;
            Ok(MlsGroup::new(this.h.clone(), g))
        })
    }

    /// Joins a group from the Welcome waiting in this client's mailbox; `undefined` if none.
    #[wasm_bindgen(js_name = joinFromWelcome, unchecked_return_type = "Promise<MlsGroup | undefined>")]
    pub fn join_from_welcome(&self) -> Promise {
        let this = self.clone_handle();
        promise(async move {
            let path = format!("/v1/clients/{}/welcome", b64(this.h.client().identity()));
            let auth = this.bearer().await?;
            let resp = this.send(None, || Self::with_bearer(Req::new("GET", path.clone()), &auth)).await?;
            if resp.status() == 204 {
                return Ok(JsValue::UNDEFINED);
            }
            let welcome = body_bytes(resp).await?;
            let g = this.h.client().join_group(&welcome)?;
            this.h.save().await?;
            Ok(MlsGroup::new(this.h.clone(), g).into())
        })
    }

    /// Claims `identity`'s KeyPackage, adds it to `group`, and sends commit, GroupInfo and
    /// Welcome to the Delivery Service (which puts the Welcome in that client's mailbox).
    #[wasm_bindgen(js_name = addMember, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn add_member(&self, group: &MlsGroup, identity: String) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let path = format!("/v1/clients/{}/key-packages/claim", b64(identity.as_bytes()));
            let auth = this.bearer().await?;
            let kp =
                body_bytes(this.send(None, || Self::with_bearer(Req::new("POST", path.clone()), &auth)).await?).await?;
            let update = g.group_mut().add_members(&[kp])?;
            g.handle().save().await?;
            this.post_handshake(&g, &update).await?;
            Ok(update_js(update))
        })
    }

    /// Removes the member at `leafIndex` and sends the commit to the Delivery Service.
    #[wasm_bindgen(js_name = removeMember, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn remove_member(&self, group: &MlsGroup, #[wasm_bindgen(js_name = leafIndex)] leaf_index: f64) -> Promise {
        let leaf_index = whole(leaf_index, u64::from(u32::MAX), "leafIndex").map(|n| n as u32);
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let update = g.group_mut().remove_members(&[leaf_index?])?;
            g.handle().save().await?;
            this.post_handshake(&g, &update).await?;
            Ok(update_js(update))
        })
    }

    /// Updates this member's leaf (a new epoch) and sends the commit.
    #[wasm_bindgen(js_name = selfUpdate, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn self_update(&self, group: &MlsGroup) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let update = g.group_mut().self_update()?;
            g.handle().save().await?;
            this.post_handshake(&g, &update).await?;
            Ok(update_js(update))
        })
    }

    /// Encrypts and relays an application message to the group.
    #[wasm_bindgen(js_name = sendMessage, unchecked_return_type = "Promise<void>")]
    pub fn send_message(
        &self,
        group: &MlsGroup,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] data: JsValue,
    ) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let data = match data.as_string() {
                Some(s) => s.into_bytes(),
                None => data
                    .dyn_into::<Uint8Array>()
                    .map(|a| a.to_vec())
                    .map_err(|_| Error::InvalidArgument("data must be a Uint8Array or a string".into()))?,
            };
            let msg = g.group_mut().encrypt_message(&data)?;
            g.handle().save().await?;
            let body = bytes(&msg);
            let hash = sha256(&body).await?;
            let path = format!("/v1/groups/{}/messages", Self::gid(&g.member()));
            this.send(None, || Self::signed(&g.member(), "POST", path.clone(), hash).body(body.clone())).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Fetches the group's messages after `after` (long-polling up to `waitSecs`), processes each
    /// in order, and returns `{events, next}`. A message that fails to process (for example this
    /// client's own commit echoed back) becomes `{type: "error", code, message}`; every event
    /// carries its `seq`. Pass `next` as `after` on the following call.
    #[wasm_bindgen(js_name = fetchMessages, unchecked_return_type = "Promise<{ events: (GroupEvent & { seq: number } | { type: \"error\"; seq: number; code: string; message: string })[]; next: number }>")]
    pub fn fetch_messages(
        &self,
        group: &MlsGroup,
        #[wasm_bindgen(unchecked_optional_param_type = "{ after?: number; waitSecs?: number; signal?: AbortSignal }")]
        options: Option<JsValue>,
    ) -> Promise {
        let options = options.unwrap_or_default();
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let after = opt_whole(&get_opt(&options, "after"), MAX_SAFE, "after")?.unwrap_or(0);
            let wait = opt_whole(&get_opt(&options, "waitSecs"), MAX_SAFE, "waitSecs")?.unwrap_or(0);
            let signal = get_opt(&options, "signal").dyn_into::<AbortSignal>().ok();
            let path = format!("/v1/groups/{}/messages?after={after}&wait_secs={wait}", Self::gid(&g.member()));
            let resp = this
                .send(signal.as_ref(), || Self::signed(&g.member(), "GET", path.clone(), empty_body_hash()))
                .await?;
            let v = json_of(resp).await?;
            let next = get_opt(&v, "next").as_f64().unwrap_or(after as f64);
            let events = Array::new();
            for m in Array::from(&get_opt(&v, "messages")).iter() {
                let seq = get_opt(&m, "seq");
                let data = get_opt(&m, "data").as_string().unwrap_or_default();
                let processed = crate::b64::decode(data.as_bytes())
                    .map_err(|_| Error::Codec("relayed message is not base64url".into()))
                    .and_then(|b| g.group_mut().process_message(&b));
                let ev = match processed {
                    Ok(e) => event_js(e),
                    Err(e) => {
                        let o = Object::new();
                        set(&o, "type", "error");
                        set(&o, "code", e.code());
                        set(&o, "message", e.to_string());
                        o.into()
                    }
                };
                let _ = Reflect::set(&ev, &"seq".into(), &seq);
                events.push(&ev);
            }
            if events.length() > 0 {
                g.handle().save().await?;
            }
            let out = Object::new();
            set(&out, "events", events);
            set(&out, "next", next);
            Ok(JsValue::from(out))
        })
    }

    /// The group's storage use and limits at the Delivery Service (JSON as the DS sends it).
    #[wasm_bindgen(unchecked_return_type = "Promise<Record<string, number>>")]
    pub fn quota(&self, group: &MlsGroup) -> Promise {
        let this = self.clone_handle();
        let g = group.share();
        promise(async move {
            let path = format!("/v1/groups/{}/quota", Self::gid(&g.member()));
            json_of(this.send(None, || Self::signed(&g.member(), "GET", path.clone(), empty_body_hash())).await?).await
        })
    }
}
