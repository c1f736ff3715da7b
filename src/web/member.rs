//! The member an attachment is sent, received or requested as: a group of this package's own MLS
//! client (`MlsGroup`, full build only) or a group held by the application's own MLS stack
//! (`ExternalGroup`). Everything the attachment pipelines and the Delivery Service client need of
//! a group goes through here: its place (id, epoch, own leaf), its suite, the attachment keys
//! (its `MLS-Exporter`) and request signatures (its leaf signature key).

#[cfg(feature = "mls")]
use std::cell::RefCell;
use std::rc::Rc;

use super::external::External;
use crate::attachment::Position;
use crate::auth::{fresh_nonce, DsRequestTbs, SignedDsRequest};
#[cfg(feature = "mls")]
use crate::mls;
use crate::reference::ExternalBody;
use crate::schedule::{random_nonce, AttachmentKeys};
use crate::{CipherSuite, Error};

/// A member of one group, cheap to clone (shared state).
#[derive(Clone)]
pub(crate) enum Member {
    /// A group of this package's MLS client: always its current epoch.
    #[cfg(feature = "mls")]
    Mls(Rc<RefCell<mls::Group>>),
    /// A group of the application's MLS stack, in the one epoch the `ExternalGroup` describes.
    External(Rc<External>),
}

impl Member {
    /// Group id, current epoch and this member's leaf index.
    pub(crate) fn position(&self) -> Position {
        match self {
            #[cfg(feature = "mls")]
            Member::Mls(g) => g.borrow().position(),
            Member::External(x) => x.position(),
        }
    }

    /// The group id.
    pub(crate) fn group_id(&self) -> Vec<u8> {
        self.position().group_id
    }

    /// The group's cipher suite.
    pub(crate) fn suite(&self) -> Result<CipherSuite, Error> {
        match self {
            #[cfg(feature = "mls")]
            Member::Mls(g) => g.borrow().suite(),
            Member::External(x) => Ok(x.suite()),
        }
    }

    /// A fresh reference nonce and the keys of an attachment hashing to `hash`, sent by this
    /// member in the current epoch; with the place they belong to.
    pub(crate) async fn sending_keys(&self, hash: &[u8]) -> Result<(Position, Vec<u8>, AttachmentKeys), Error> {
        // No await between the place and the Mls keys: both of the same epoch.
        let at = self.position();
        let (nonce, keys) = match self {
            #[cfg(feature = "mls")]
            Member::Mls(g) => g.borrow().attachment_keys_for_sending(hash)?,
            Member::External(x) => {
                let nonce = random_nonce(x.suite())?;
                let keys = x.attachment_keys(hash, at.leaf_index, &nonce).await?;
                (nonce, keys)
            }
        };
        Ok((at, nonce, keys))
    }

    /// The keys of a received attachment (`body` validated for the group's suite) sent by
    /// `sender` in a message of `epoch`, derived now (the group must be in that epoch).
    pub(crate) async fn receiving_keys(
        &self,
        body: &ExternalBody,
        sender: u32,
        epoch: u64,
    ) -> Result<AttachmentKeys, Error> {
        match self {
            #[cfg(feature = "mls")]
            Member::Mls(g) => g.borrow().attachment_keys_for_receiving(&body.hash, &body.nonce, sender, epoch),
            Member::External(x) => {
                if epoch != x.position().epoch {
                    return Err(Error::WrongEpoch { current: x.position().epoch, message: epoch });
                }
                x.attachment_keys(&body.hash, sender, &body.nonce).await
            }
        }
    }

    /// The `Mimi-Auth` header of a request (`method`, `path`, SHA-256 of the body) signed by this
    /// member's leaf key with a fresh nonce and the current time.
    pub(crate) async fn sign_request(&self, method: &str, path: &str, body_hash: [u8; 32]) -> Result<String, Error> {
        let at = self.position();
        let tbs = DsRequestTbs::new(
            &at.group_id,
            at.epoch,
            at.leaf_index,
            method,
            path,
            body_hash,
            js_sys::Date::now() as u64,
            fresh_nonce()?,
        );
        let signed = match self {
            #[cfg(feature = "mls")]
            Member::Mls(g) => {
                let g = g.borrow();
                SignedDsRequest::sign_with(tbs, |c| g.client().sign(c).map_err(|e| e.to_string()))?
            }
            Member::External(x) => {
                let signature = x.sign(&tbs.sign_content()?).await?;
                SignedDsRequest::sign_with(tbs, |_| Ok::<_, String>(signature))?
            }
        };
        Ok(signed.to_header()?)
    }
}
