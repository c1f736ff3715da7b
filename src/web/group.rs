//! An MLS group as a JavaScript class: members, commits, messages, and the start of an
//! attachment. Every state change persists the client before its Promise resolves.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Array, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use web_sys::Blob;

use super::attachment::{encrypt_attachment, AttachmentRef};
use super::client::text;
use super::error::{js_error, JsResult};
use super::js::{bytes, promise, set, whole, MAX_SAFE};
use super::member::Member;
use super::store::ClientHandle;
use crate::attachment::AttachmentRef as CoreRef;
use crate::mls::{self, GroupEvent, Outgoing};
use crate::Error;

/// An MLS group this client is a member of.
#[wasm_bindgen]
pub struct MlsGroup {
    h: ClientHandle,
    g: Rc<RefCell<mls::Group>>,
}

pub(crate) fn update_js(o: Outgoing) -> JsValue {
    let obj = Object::new();
    set(&obj, "commit", bytes(&o.commit));
    if let Some(w) = o.welcome {
        set(&obj, "welcome", bytes(&w));
    }
    if let Some(gi) = o.group_info {
        set(&obj, "groupInfo", bytes(&gi));
    }
    obj.into()
}

pub(crate) fn event_js(e: GroupEvent) -> JsValue {
    let o = Object::new();
    let sender = |o: &Object, s: Option<u32>| {
        if let Some(s) = s {
            set(o, "senderLeafIndex", s);
        }
    };
    match e {
        GroupEvent::Application { sender: s, epoch, data } => {
            set(&o, "type", "application");
            set(&o, "senderLeafIndex", s);
            set(&o, "epoch", epoch as f64);
            set(&o, "data", bytes(&data));
        }
        GroupEvent::Commit { sender: s, epoch, added, removed, self_removed } => {
            set(&o, "type", "commit");
            sender(&o, s);
            set(&o, "epoch", epoch as f64);
            set(&o, "added", added.iter().map(|a| JsValue::from(text(a))).collect::<Array>());
            set(&o, "removed", removed.iter().map(|r| JsValue::from(*r)).collect::<Array>());
            set(&o, "selfRemoved", self_removed);
        }
        GroupEvent::Proposal { sender: s, epoch } => {
            set(&o, "type", "proposal");
            sender(&o, s);
            set(&o, "epoch", epoch as f64);
        }
        GroupEvent::Own { epoch } => {
            set(&o, "type", "own");
            set(&o, "epoch", epoch as f64);
        }
    }
    o.into()
}

impl MlsGroup {
    pub(crate) fn new(h: ClientHandle, g: mls::Group) -> MlsGroup {
        MlsGroup { h, g: Rc::new(RefCell::new(g)) }
    }

    /// The group's state, borrowed for one synchronous step (never held across an `await`).
    pub(crate) fn group(&self) -> std::cell::Ref<'_, mls::Group> {
        self.g.borrow()
    }

    /// The group's state, borrowed mutably for one synchronous step.
    pub(crate) fn group_mut(&self) -> std::cell::RefMut<'_, mls::Group> {
        self.g.borrow_mut()
    }

    /// The client the group belongs to.
    pub(crate) fn handle(&self) -> &ClientHandle {
        &self.h
    }

    /// Runs a state-changing operation, then persists the client.
    fn mutate<T: Into<JsValue> + 'static>(&self, f: impl FnOnce(&mut mls::Group) -> Result<T, Error>) -> Promise {
        let r = f(&mut self.g.borrow_mut());
        let h = self.h.clone();
        promise(async move {
            let v = r?;
            h.save().await?;
            Ok(v)
        })
    }
}

#[wasm_bindgen]
impl MlsGroup {
    /// The group id.
    #[wasm_bindgen(getter, js_name = groupId)]
    pub fn group_id(&self) -> Vec<u8> {
        self.g.borrow().group_id().to_vec()
    }

    /// The current epoch.
    #[wasm_bindgen(getter)]
    pub fn epoch(&self) -> f64 {
        self.g.borrow().epoch() as f64
    }

    /// This client's leaf index.
    #[wasm_bindgen(getter, js_name = ownLeafIndex)]
    pub fn own_leaf_index(&self) -> u32 {
        self.g.borrow().own_leaf_index()
    }

    /// The group's cipher suite.
    #[wasm_bindgen(getter, js_name = cipherSuite)]
    pub fn cipher_suite(&self) -> JsResult<u16> {
        self.g.borrow().suite().map(|s| s.id()).map_err(js_error)
    }

    /// Whether this client is still a member.
    #[wasm_bindgen(getter, js_name = isActive)]
    pub fn is_active(&self) -> bool {
        self.g.borrow().is_active()
    }

    /// The roster.
    #[wasm_bindgen(unchecked_return_type = "GroupMember[]")]
    pub fn members(&self) -> Array {
        self.g
            .borrow()
            .members()
            .into_iter()
            .map(|m| {
                let o = Object::new();
                set(&o, "leafIndex", m.leaf_index);
                set(&o, "identity", text(&m.identity));
                set(&o, "signatureKey", bytes(&m.signature_key));
                JsValue::from(o)
            })
            .collect()
    }

    /// A signed GroupInfo of the current epoch with the ratchet tree (for the Delivery Service).
    #[wasm_bindgen(js_name = groupInfo)]
    pub fn group_info(&self) -> JsResult<Vec<u8>> {
        self.g.borrow().group_info().map_err(js_error)
    }

    /// Adds members from their KeyPackage messages (commit merged locally).
    #[wasm_bindgen(js_name = addMembers, unchecked_return_type = "Promise<GroupUpdate & { welcome: Uint8Array }>")]
    pub fn add_members(&self, #[wasm_bindgen(js_name = keyPackages)] key_packages: Vec<Uint8Array>) -> Promise {
        let kps: Vec<Vec<u8>> = key_packages.iter().map(Uint8Array::to_vec).collect();
        self.mutate(move |g| g.add_members(&kps).map(update_js))
    }

    /// Removes the members at these leaf indices (commit merged locally).
    #[wasm_bindgen(js_name = removeMembers, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn remove_members(
        &self,
        #[wasm_bindgen(js_name = leafIndices, unchecked_param_type = "number[]")] leaf_indices: Vec<f64>,
    ) -> Promise {
        let leaves: Result<Vec<u32>, Error> =
            leaf_indices.iter().map(|&n| whole(n, u64::from(u32::MAX), "leafIndices").map(|n| n as u32)).collect();
        self.mutate(move |g| g.remove_members(&leaves?).map(update_js))
    }

    /// Updates this client's leaf: a new epoch with fresh keys.
    #[wasm_bindgen(js_name = selfUpdate, unchecked_return_type = "Promise<GroupUpdate>")]
    pub fn self_update(&self) -> Promise {
        self.mutate(|g| g.self_update().map(update_js))
    }

    /// Encrypts an application message.
    #[wasm_bindgen(js_name = encryptMessage, unchecked_return_type = "Promise<Uint8Array>")]
    pub fn encrypt_message(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Uint8Array | string")] data: JsValue,
    ) -> Promise {
        let data = match data.as_string() {
            Some(s) => Ok(s.into_bytes()),
            None => data
                .dyn_into::<Uint8Array>()
                .map(|a| a.to_vec())
                .map_err(|_| Error::InvalidArgument("data must be a Uint8Array or a string".into())),
        };
        self.mutate(move |g| g.encrypt_message(&data?).map(|m| bytes(&m)))
    }

    /// Processes an incoming `MLSMessage` of this group.
    #[wasm_bindgen(js_name = processMessage, unchecked_return_type = "Promise<GroupEvent>")]
    pub fn process_message(&self, message: Vec<u8>) -> Promise {
        self.mutate(move |g| g.process_message(&message).map(event_js))
    }

    /// Starts sending `file`: hashes it (one read), draws the nonce and derives the keys in the
    /// current epoch. The ciphertext is produced later, as a stream, by `ciphertext()`.
    #[wasm_bindgen(js_name = encryptAttachment, unchecked_return_type = "Promise<OutgoingAttachment>")]
    pub fn encrypt_attachment(
        &self,
        file: Blob,
        #[wasm_bindgen(unchecked_optional_param_type = "EncryptOptions")] options: Option<JsValue>,
    ) -> Promise {
        encrypt_attachment(self.member(), file, options)
    }

    /// Derives the keys of an attachment referenced by `contentType` in an application message
    /// from `senderLeafIndex` of `epoch` (the GroupEvent's), while the group is in that epoch.
    /// Store the result (`toBytes()`) with the message: it decrypts the attachment later.
    #[wasm_bindgen(js_name = receiveAttachment)]
    pub fn receive_attachment(
        &self,
        #[wasm_bindgen(js_name = contentType)] content_type: &str,
        #[wasm_bindgen(js_name = senderLeafIndex)] sender_leaf_index: f64,
        epoch: f64,
    ) -> JsResult<AttachmentRef> {
        let sender = whole(sender_leaf_index, u64::from(u32::MAX), "senderLeafIndex").map_err(js_error)? as u32;
        let epoch = whole(epoch, MAX_SAFE, "epoch").map_err(js_error)?;
        CoreRef::receive(&self.g.borrow(), content_type, sender, epoch).map(AttachmentRef::new).map_err(js_error)
    }
}

impl MlsGroup {
    pub(crate) fn share(&self) -> MlsGroup {
        MlsGroup { h: self.h.clone(), g: self.g.clone() }
    }

    /// The group as the attachment pipelines and the Delivery Service client see it.
    pub(crate) fn member(&self) -> Member {
        Member::Mls(self.g.clone())
    }
}
