//! An MLS client and its groups (openmls 0.9), as a browser messaging client holds them:
//! identity, key packages, create/join/add/remove/update, message processing into typed events,
//! application messages, state export/import, and the attachment derivation of draft §3.6 in the
//! group's current epoch.
//!
//! Handshake messages go out as MLS PublicMessages (`MIXED_PLAINTEXT_WIRE_FORMAT_POLICY`) so a
//! Delivery Service can follow the roster; application messages are always PrivateMessages.
#![forbid(unsafe_code)]

use std::rc::Rc;

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_traits::OpenMlsProvider;
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use crate::error::{Error, Result};
use crate::schedule::{attachment_hash, random_nonce, AttachmentKeys};
use crate::suite::CipherSuite;

mod crypto;
mod msgpack;
mod store;
pub use crypto::{SignatureKeys, SuiteCrypto};
pub use store::{Store, StoreError};

/// The package's crypto for suites 1-3 ([`SuiteCrypto`]) with an in-memory store whose contents
/// can be exported.
#[derive(Default)]
pub struct Provider {
    crypto: SuiteCrypto,
    storage: Store,
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = SuiteCrypto;
    type RandProvider = SuiteCrypto;
    type StorageProvider = Store;

    fn storage(&self) -> &Store {
        &self.storage
    }
    fn crypto(&self) -> &SuiteCrypto {
        &self.crypto
    }
    fn rand(&self) -> &SuiteCrypto {
        &self.crypto
    }
}

/// A group id of 16 random bytes (as openmls draws by default) that is never UTF-8 text: a DS
/// that reads text ids as names to be namespaced (ours: `<client id>/<name>`) never mistakes it
/// for one. About one draw in 10,700 is valid UTF-8 and is drawn again.
fn random_group_id() -> Result<[u8; 16]> {
    loop {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|_| Error::Rng)?;
        if core::str::from_utf8(&id).is_err() {
            return Ok(id);
        }
    }
}

fn mls_err(e: impl core::fmt::Display) -> Error {
    Error::Mls(e.to_string())
}

/// The openmls suite for one of ours; only suites 1-3 run a group.
pub fn openmls_suite(suite: CipherSuite) -> Result<Ciphersuite> {
    let cs = Ciphersuite::try_from(suite.id()).map_err(|_| Error::UnknownCipherSuite(suite.id()))?;
    if crypto::SUITES.contains(&cs) {
        Ok(cs)
    } else {
        Err(Error::UnknownCipherSuite(suite.id()))
    }
}

struct ClientInner {
    provider: Provider,
    signer: SignatureKeys,
    identity: Vec<u8>,
    suite: CipherSuite,
    groups: core::cell::RefCell<Vec<Vec<u8>>>,
}

/// A client: one identity with one signature key, able to be in many groups.
#[derive(Clone)]
pub struct Client(Rc<ClientInner>);

/// A group member as the roster shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Leaf index (the `sender_index` of attachments).
    pub leaf_index: u32,
    /// The basic credential's identity.
    pub identity: Vec<u8>,
    /// The leaf's signature public key.
    pub signature_key: Vec<u8>,
}

/// What processing an incoming message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupEvent {
    /// An application message: the chat content, with its sender and epoch.
    Application {
        /// Sender's leaf index.
        sender: u32,
        /// Epoch the message was sent in.
        epoch: u64,
        /// The decrypted content.
        data: Vec<u8>,
    },
    /// A commit was applied: a new epoch, maybe a new roster.
    Commit {
        /// Committer's leaf index (None for an external commit).
        sender: Option<u32>,
        /// The new epoch.
        epoch: u64,
        /// Members added.
        added: Vec<Vec<u8>>,
        /// Leaf indices removed.
        removed: Vec<u32>,
        /// This client was removed: the group is no longer usable.
        self_removed: bool,
    },
    /// A message this client sent itself, echoed back by the Delivery Service: nothing to do.
    Own {
        /// Epoch of the message.
        epoch: u64,
    },
    /// A proposal was stored for a later commit.
    Proposal {
        /// Proposer's leaf index, if a member.
        sender: Option<u32>,
        /// Epoch of the proposal.
        epoch: u64,
    },
}

/// Messages a group operation produced, TLS-encoded `MLSMessage`s ready for the Delivery Service.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The commit (a PublicMessage).
    pub commit: Vec<u8>,
    /// The Welcome for added members.
    pub welcome: Option<Vec<u8>>,
    /// The new epoch's GroupInfo (with the ratchet tree extension).
    pub group_info: Option<Vec<u8>>,
}

/// Exported client state: a header and every key/value of the openmls store.
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct ClientState {
    version: u16,
    identity: VLBytes,
    suite: u16,
    signature_public_key: VLBytes,
    signature_scheme: u16,
    groups: Vec<VLBytes>,
    entries: Vec<StoreEntry>,
}

#[derive(Debug, TlsSerialize, TlsDeserialize, TlsSize)]
struct StoreEntry {
    key: VLBytes,
    value: VLBytes,
}

/// 2: the store's entries are postcard/MessagePack (`mls/store.rs`); 1 (JSON, openmls_memory_storage)
/// is refused with `Codec`.
const STATE_VERSION: u16 = 2;

impl Client {
    /// A new client with a basic credential `identity` and a fresh signature key for `suite`.
    pub fn new(identity: &[u8], suite: CipherSuite) -> Result<Self> {
        let cs = openmls_suite(suite)?;
        let provider = Provider::default();
        let signer = SignatureKeys::new(cs.signature_algorithm()).map_err(|e| mls_err(format!("{e:?}")))?;
        signer.store(provider.storage()).map_err(mls_err)?;
        Ok(Self(Rc::new(ClientInner {
            provider,
            signer,
            identity: identity.to_vec(),
            suite,
            groups: Default::default(),
        })))
    }

    /// The identity of the credential.
    pub fn identity(&self) -> &[u8] {
        &self.0.identity
    }

    /// The default cipher suite of this client.
    pub fn suite(&self) -> CipherSuite {
        self.0.suite
    }

    /// The signature public key.
    pub fn signature_public_key(&self) -> &[u8] {
        self.0.signer.public()
    }

    /// Signs `payload` with the client's signature key (raw, no label), for Delivery Service
    /// request signatures.
    pub fn sign(&self, payload: &[u8]) -> Result<Vec<u8>> {
        use openmls_traits::signatures::Signer as _;
        self.0.signer.sign(payload).map_err(|e| Error::Mls(format!("{e:?}")))
    }

    /// The openmls provider (crypto + store).
    pub fn provider(&self) -> &Provider {
        &self.0.provider
    }

    fn credential(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: BasicCredential::new(self.0.identity.clone()).into(),
            signature_key: self.0.signer.public().into(),
        }
    }

    /// A fresh KeyPackage (as an `MLSMessage`) for others to add this client with.
    pub fn key_package(&self) -> Result<Vec<u8>> {
        let cs = openmls_suite(self.0.suite)?;
        let bundle =
            KeyPackage::builder().build(cs, &self.0.provider, &self.0.signer, self.credential()).map_err(mls_err)?;
        Ok(MlsMessageOut::from(bundle.key_package().clone()).tls_serialize_detached()?)
    }

    fn create_config(&self, cs: Ciphersuite) -> MlsGroupCreateConfig {
        MlsGroupCreateConfig::builder()
            .ciphersuite(cs)
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build()
    }

    /// Creates a group with this client as its only member (`group_id` random if `None`).
    pub fn create_group(&self, group_id: Option<&[u8]>) -> Result<Group> {
        let cs = openmls_suite(self.0.suite)?;
        let config = self.create_config(cs);
        let group = match group_id {
            Some(id) => MlsGroup::new_with_group_id(
                &self.0.provider,
                &self.0.signer,
                &config,
                GroupId::from_slice(id),
                self.credential(),
            ),
            None => MlsGroup::new_with_group_id(
                &self.0.provider,
                &self.0.signer,
                &config,
                GroupId::from_slice(&random_group_id()?),
                self.credential(),
            ),
        }
        .map_err(mls_err)?;
        self.remember(group.group_id().as_slice());
        Ok(Group { client: self.clone(), group })
    }

    fn remember(&self, id: &[u8]) {
        let mut g = self.0.groups.borrow_mut();
        if !g.iter().any(|x| x == id) {
            g.push(id.to_vec());
        }
    }

    /// Ids of the groups this client created or joined (in that order).
    pub fn group_ids(&self) -> Vec<Vec<u8>> {
        self.0.groups.borrow().clone()
    }

    /// Joins a group from a Welcome (`MLSMessage`); the ratchet tree comes from its extension.
    pub fn join_group(&self, welcome: &[u8]) -> Result<Group> {
        let MlsMessageBodyIn::Welcome(welcome) = MlsMessageIn::tls_deserialize_exact(welcome)?.extract() else {
            return Err(Error::Mls("not a Welcome message".into()));
        };
        // The ratchet tree extension: a joiner's own Welcomes and GroupInfos must carry the tree too,
        // or the members it adds cannot join ("No ratchet tree available").
        let join = MlsGroupJoinConfig::builder()
            .use_ratchet_tree_extension(true)
            .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
            .build();
        let group = StagedWelcome::new_from_welcome(&self.0.provider, &join, welcome, None)
            .map_err(mls_err)?
            .into_group(&self.0.provider)
            .map_err(mls_err)?;
        self.remember(group.group_id().as_slice());
        Ok(Group { client: self.clone(), group })
    }

    /// A group from the store (after [`Client::import_state`]).
    pub fn load_group(&self, group_id: &[u8]) -> Result<Option<Group>> {
        let group = MlsGroup::load(self.0.provider.storage(), &GroupId::from_slice(group_id)).map_err(mls_err)?;
        Ok(group.map(|group| Group { client: self.clone(), group }))
    }

    /// The client's whole state (secret: signature key, group secrets) as bytes.
    pub fn export_state(&self) -> Result<Vec<u8>> {
        // In key order (the store is ordered): the same state exports to the same bytes.
        let entries: Vec<StoreEntry> = self
            .0
            .provider
            .storage
            .entries()
            .map_err(mls_err)?
            .into_iter()
            .map(|(k, v)| StoreEntry { key: k.into(), value: v.into() })
            .collect();
        let state = ClientState {
            version: STATE_VERSION,
            identity: self.0.identity.clone().into(),
            suite: self.0.suite.id(),
            signature_public_key: self.0.signer.public().to_vec().into(),
            signature_scheme: self.0.signer.signature_scheme() as u16,
            groups: self.group_ids().into_iter().map(VLBytes::from).collect(),
            entries,
        };
        Ok(state.tls_serialize_detached()?)
    }

    /// Restores a client from [`Client::export_state`].
    pub fn import_state(bytes: &[u8]) -> Result<Self> {
        let state = ClientState::tls_deserialize_exact(bytes)?;
        if state.version != STATE_VERSION {
            return Err(Error::Codec(format!(
                "client state version {} (this package reads version {STATE_VERSION}; version 1 is the JSON store of \
                 releases before 2026-12-07): delete it (MlsClient.deleteStored) and create the client again",
                state.version
            )));
        }
        let suite = CipherSuite::from_u16(state.suite)?;
        let scheme = SignatureScheme::try_from(state.signature_scheme).map_err(mls_err)?;
        let storage = Store::from_entries(
            state.entries.into_iter().map(|e| (e.key.as_slice().to_vec(), e.value.as_slice().to_vec())),
        );
        let provider = Provider { crypto: SuiteCrypto, storage };
        let signer = SignatureKeys::read(provider.storage(), state.signature_public_key.as_slice(), scheme)
            .ok_or_else(|| Error::Codec("the state holds no signature key".into()))?;
        if signer.public() != state.signature_public_key.as_slice() || signer.signature_scheme() != scheme {
            return Err(Error::Codec("the stored signature key pair is not the one the state names".into()));
        }
        let groups = state.groups.iter().map(|g| g.as_slice().to_vec()).collect();
        Ok(Self(Rc::new(ClientInner {
            provider,
            signer,
            identity: state.identity.as_slice().to_vec(),
            suite,
            groups: core::cell::RefCell::new(groups),
        })))
    }
}

/// A group this client is a member of.
pub struct Group {
    client: Client,
    group: MlsGroup,
}

fn key_package_of(bytes: &[u8], crypto: &SuiteCrypto) -> Result<KeyPackage> {
    let kp = match MlsMessageIn::tls_deserialize_exact(bytes)?.extract() {
        MlsMessageBodyIn::KeyPackage(kp) => kp,
        _ => return Err(Error::Mls("not a KeyPackage message".into())),
    };
    kp.validate(crypto, ProtocolVersion::Mls10).map_err(mls_err)
}

impl Group {
    /// The group id.
    pub fn group_id(&self) -> &[u8] {
        self.group.group_id().as_slice()
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.group.epoch().as_u64()
    }

    /// This client's leaf index.
    pub fn own_leaf_index(&self) -> u32 {
        self.group.own_leaf_index().u32()
    }

    /// This member's place: the group id, the current epoch and its own leaf index.
    pub fn position(&self) -> crate::attachment::Position {
        crate::attachment::Position {
            group_id: self.group_id().to_vec(),
            epoch: self.epoch(),
            leaf_index: self.own_leaf_index(),
        }
    }

    /// The group's cipher suite.
    pub fn suite(&self) -> Result<CipherSuite> {
        crate::schedule::suite_of_group(&self.group)
    }

    /// Whether this client is still a member.
    pub fn is_active(&self) -> bool {
        self.group.is_active()
    }

    /// The roster.
    pub fn members(&self) -> Vec<Member> {
        self.group
            .members()
            .map(|m| Member {
                leaf_index: m.index.u32(),
                identity: m.credential.serialized_content().to_vec(),
                signature_key: m.signature_key.clone(),
            })
            .collect()
    }

    /// The member at `leaf`, if any.
    pub fn member(&self, leaf: u32) -> Option<Member> {
        self.members().into_iter().find(|m| m.leaf_index == leaf)
    }

    /// The client this group belongs to.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn provider(&self) -> &Provider {
        &self.client.0.provider
    }

    fn outgoing(&self, commit: &MlsMessageOut, welcome: Option<&MlsMessageOut>) -> Result<Outgoing> {
        Ok(Outgoing {
            commit: commit.tls_serialize_detached()?,
            welcome: welcome.map(|w| w.tls_serialize_detached()).transpose()?,
            group_info: Some(self.group_info()?),
        })
    }

    /// A signed GroupInfo of the current epoch with the ratchet tree (for the Delivery Service).
    pub fn group_info(&self) -> Result<Vec<u8>> {
        let gi =
            self.group.export_group_info(self.provider().crypto(), &self.client.0.signer, true).map_err(mls_err)?;
        Ok(gi.tls_serialize_detached()?)
    }

    /// Adds members from their KeyPackage messages and merges the commit.
    pub fn add_members(&mut self, key_packages: &[Vec<u8>]) -> Result<Outgoing> {
        let kps =
            key_packages.iter().map(|b| key_package_of(b, self.provider().crypto())).collect::<Result<Vec<_>>>()?;
        let (commit, welcome, _) =
            self.group.add_members(&self.client.0.provider, &self.client.0.signer, &kps).map_err(mls_err)?;
        self.group.merge_pending_commit(&self.client.0.provider).map_err(mls_err)?;
        self.outgoing(&commit, Some(&welcome))
    }

    /// Removes the members at `leaves` and merges the commit.
    pub fn remove_members(&mut self, leaves: &[u32]) -> Result<Outgoing> {
        let idx: Vec<LeafNodeIndex> = leaves.iter().map(|l| LeafNodeIndex::new(*l)).collect();
        for l in leaves {
            if self.member(*l).is_none() {
                return Err(Error::NotMember("no member at that leaf index"));
            }
        }
        let (commit, welcome, _) =
            self.group.remove_members(&self.client.0.provider, &self.client.0.signer, &idx).map_err(mls_err)?;
        self.group.merge_pending_commit(&self.client.0.provider).map_err(mls_err)?;
        self.outgoing(&commit, welcome.as_ref())
    }

    /// Updates this client's leaf (new epoch, fresh keys) and merges the commit.
    pub fn self_update(&mut self) -> Result<Outgoing> {
        let bundle = self
            .group
            .self_update(&self.client.0.provider, &self.client.0.signer, LeafNodeParameters::default())
            .map_err(mls_err)?;
        self.group.merge_pending_commit(&self.client.0.provider).map_err(mls_err)?;
        self.outgoing(bundle.commit(), None)
    }

    /// Encrypts an application message (a PrivateMessage).
    pub fn encrypt_message(&mut self, data: &[u8]) -> Result<Vec<u8>> {
        let m = self.group.create_message(&self.client.0.provider, &self.client.0.signer, data).map_err(mls_err)?;
        Ok(m.tls_serialize_detached()?)
    }

    /// Processes an incoming `MLSMessage` of this group.
    pub fn process_message(&mut self, message: &[u8]) -> Result<GroupEvent> {
        let msg = MlsMessageIn::tls_deserialize_exact(message)?
            .try_into_protocol_message()
            .map_err(|_| Error::Mls("not a PublicMessage or PrivateMessage".into()))?;
        if msg.group_id().as_slice() != self.group_id() {
            return Err(Error::WrongGroup);
        }
        let provider = &self.client.0.provider;
        let message_epoch = msg.epoch().as_u64();
        let processed = match self.group.process_message(provider, msg) {
            Ok(p) => p,
            // openmls keeps no secrets of past epochs (nor of those before this member joined):
            // say so, instead of its "generation too old" or "wrong epoch" wording.
            Err(e) => {
                let current = self.group.epoch().as_u64();
                return Err(if message_epoch != current {
                    Error::WrongEpoch { current, message: message_epoch }
                } else {
                    mls_err(e)
                });
            }
        };
        let sender = match processed.sender() {
            Sender::Member(l) => Some(l.u32()),
            _ => None,
        };
        let epoch = processed.epoch().as_u64();
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(m) => Ok(GroupEvent::Application {
                sender: sender.ok_or(Error::NotMember("application message from a non-member"))?,
                epoch,
                data: m.into_bytes(),
            }),
            ProcessedMessageContent::ProposalMessage(p) => {
                self.group.store_pending_proposal(provider.storage(), *p).map_err(mls_err)?;
                Ok(GroupEvent::Proposal { sender, epoch })
            }
            ProcessedMessageContent::ExternalJoinProposalMessage(p) => {
                self.group.store_pending_proposal(provider.storage(), *p).map_err(mls_err)?;
                Ok(GroupEvent::Proposal { sender, epoch })
            }
            ProcessedMessageContent::OwnPendingCommit | ProcessedMessageContent::OwnPrivateMessage => {
                Ok(GroupEvent::Own { epoch })
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let added = staged
                    .add_proposals()
                    .map(|a| a.add_proposal().key_package().leaf_node().credential().serialized_content().to_vec())
                    .collect();
                let removed = staged.remove_proposals().map(|r| r.remove_proposal().removed().u32()).collect();
                let self_removed = staged.self_removed();
                self.group.merge_staged_commit(provider, *staged).map_err(mls_err)?;
                Ok(GroupEvent::Commit { sender, epoch: self.epoch(), added, removed, self_removed })
            }
        }
    }

    /// Draws the random nonce and derives the keys of an attachment this client sends, in the
    /// current epoch (sender index = own leaf).
    pub fn attachment_keys_for_sending(&self, attachment_hash: &[u8]) -> Result<(Vec<u8>, AttachmentKeys)> {
        let suite = self.suite()?;
        let nonce = random_nonce(suite)?;
        let keys = AttachmentKeys::from_group(
            &self.group,
            self.provider().crypto(),
            attachment_hash,
            self.own_leaf_index(),
            &nonce,
        )?;
        Ok((nonce, keys))
    }

    /// Derives an attachment's keys for a message of `message_epoch` sent by `sender`. Must be
    /// called while the group is still in that epoch.
    pub fn attachment_keys_for_receiving(
        &self,
        attachment_hash: &[u8],
        nonce: &[u8],
        sender: u32,
        message_epoch: u64,
    ) -> Result<AttachmentKeys> {
        if !self.is_active() {
            return Err(Error::NotMember("this client was removed from the group"));
        }
        if message_epoch != self.epoch() {
            return Err(Error::WrongEpoch { current: self.epoch(), message: message_epoch });
        }
        if self.member(sender).is_none() {
            return Err(Error::NotMember("no member at the sender's leaf index"));
        }
        AttachmentKeys::from_group(&self.group, self.provider().crypto(), attachment_hash, sender, nonce)
    }

    /// RFC 9420's `MLS-Exporter(label, context, length)` of the current epoch; `length` in
    /// 1..=255·`KDF.Nh` (HKDF-Expand's limit: 8160 bytes for suites 1-3).
    pub fn export_secret(&self, label: &str, context: &[u8], length: usize) -> Result<Vec<u8>> {
        let max = 255 * self.suite()?.nh();
        if length == 0 || length > max {
            return Err(Error::InvalidArgument(format!("exporter length must be in 1..={max}, got {length}")));
        }
        self.group.export_secret(self.provider().crypto(), label, context, length).map_err(mls_err)
    }

    /// `attachment_hash` with the group's hash function.
    pub fn attachment_hash(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        Ok(attachment_hash(self.suite()?, plaintext))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn random_group_ids_are_never_utf8() {
        // Plain 16 random bytes are valid UTF-8 about once in 10,700 draws: 100,000 of them pass
        // this only with probability e^-9.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..100_000 {
            let id = super::random_group_id().unwrap();
            assert!(core::str::from_utf8(&id).is_err(), "{id:?}");
            assert!(seen.insert(id));
        }
    }
}
