//! Following MLS groups with openmls [`PublicGroup`]: registration, handshake messages, and the
//! membership view that authenticates requests.
//!
//! What the DS checks on a commit (openmls' `PublicGroup` cannot check confirmation tags, which
//! need the epoch secrets only members hold):
//! 1. the commit is a `PublicMessage` for the group's current epoch, sent by a member, and
//!    `PublicGroup::process_message` accepts it (leaf signature, proposal and path validation);
//! 2. after merging, the committer's new `GroupInfo` (posted with the commit) must be signed by
//!    the committer's leaf in the new tree, must carry the new tree's hash, and its group context
//!    and confirmation tag must equal the ones the DS computed from the commit. If not, the commit
//!    is rolled back and refused. The confirmation tag itself (a MAC under the confirmation key)
//!    stays unverifiable for the DS: a member could still commit a tag the others reject, which
//!    they detect on processing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_rust_crypto::OpenMlsRustCrypto;

use sha2::Digest as _;

use crate::meta::{MetaStore, StoredGroup};

/// Why a group operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    /// Malformed input.
    #[error("bad request: {0}")]
    Bad(String),
    /// No such group.
    #[error("unknown group")]
    UnknownGroup,
    /// The group already exists.
    #[error("group already registered")]
    Exists,
    /// The message is for another epoch than the DS's current one.
    #[error("wrong epoch: the group is at epoch {0}")]
    WrongEpoch(u64),
    /// openmls refused the message.
    #[error("MLS validation failed: {0}")]
    Invalid(String),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(String),
    /// The metadata store's disk is full.
    #[error("storage: disk full")]
    DiskFull,
    /// The registering client may not register this group (namespace or credential).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// A registry limit (all groups, or this client's groups) is reached.
    #[error("limit: {0}")]
    Limit(String),
    /// The disputed commit cannot be rolled back any more.
    #[error("cannot roll back: {0}")]
    NotDisputable(String),
}

/// The group-id rule that keeps ids unsquattable: a readable id (printable text, see
/// [`readable_group_id`]) must be namespaced as `<owner>/<name>` by the registering client; any
/// other id must be at least [`MIN_RANDOM_GROUP_ID_LEN`] bytes (clients draw it at random, as
/// openmls does by default).
pub fn check_group_id(group_id: &[u8], owner: &[u8]) -> Result<(), GroupError> {
    match readable_group_id(group_id) {
        Some(text) => match text.split_once('/') {
            Some((ns, name)) if ns.as_bytes() == owner && !name.is_empty() => Ok(()),
            Some(_) => Err(GroupError::Forbidden(
                "this group id is in another client's namespace (readable ids are \"<client id>/<name>\")".into(),
            )),
            None => {
                Err(bad("a readable group id must be namespaced \"<your client id>/<name>\" (or use 16+ random bytes)"))
            }
        },
        _ if group_id.len() >= MIN_RANDOM_GROUP_ID_LEN => Ok(()),
        _ => Err(bad(format!("a binary group id must be at least {MIN_RANDOM_GROUP_ID_LEN} random bytes"))),
    }
}

/// A group id as the name it reads as: UTF-8 text without control characters (C0, DEL, C1).
///
/// Random ids are not exempt by construction: 16 random bytes are valid UTF-8 about once in
/// 10,700 draws (measured; all-ASCII draws alone are 1 in 65,536), so "valid UTF-8" alone refused
/// openmls' own random ids now and then. Printable text is rarer: all 16 bytes in 0x20..=0x7E is
/// (95/256)^16 ≈ 1.3e-7 (multi-byte sequences add less than that), and clients can avoid even that
/// by drawing ids that are not UTF-8 at all, as this package's client does.
pub fn readable_group_id(group_id: &[u8]) -> Option<&str> {
    std::str::from_utf8(group_id).ok().filter(|text| !text.chars().any(char::is_control))
}

/// Smallest group id accepted without a namespace: 16 bytes, as openmls draws at random.
pub const MIN_RANDOM_GROUP_ID_LEN: usize = 16;

/// A metadata error as a [`GroupError`] (a full disk stays recognisable: 507, not 500).
fn storage(e: rusqlite::Error) -> GroupError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => GroupError::DiskFull,
        _ => GroupError::Storage(e.to_string()),
    }
}

/// Longest group id the DS accepts (as for `UploadAttachmentRequest.group_id`).
pub const MAX_GROUP_ID_LEN: usize = 255;

/// The signature key and credential of a member's leaf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafKey {
    /// The signature scheme of the group's cipher suite.
    pub scheme: SignatureScheme,
    /// The leaf's signature public key.
    pub signature_key: Vec<u8>,
    /// TLS encoding of the leaf's credential.
    pub credential: Vec<u8>,
    /// The credential's identity (BasicCredential identity bytes).
    pub identity: Vec<u8>,
}

/// Why a leaf lookup failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupError {
    /// The group is unknown or the leaf is not a member.
    NotMember,
}

/// The keys that may verify a request, and whether the signed epoch is acceptable. A caller is
/// told `StaleEpoch` only after its signature verified with one of `keys`, so an unauthenticated
/// caller learns nothing about a group.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// Candidate keys (the leaf now, and as it was in the previous epoch).
    pub keys: Vec<LeafKey>,
    /// The signed epoch is not accepted (too old, or in the future).
    pub stale: bool,
}

struct PrevEpoch {
    epoch: u64,
    leaves: HashMap<u32, LeafKey>,
    until: Instant,
}

struct Tracked {
    provider: OpenMlsRustCrypto,
    group: PublicGroup,
    prev: Option<PrevEpoch>,
    /// The persisted state of the current epoch.
    stored: StoredGroup,
    /// The last commit, while it can still be disputed ([`Groups::reject_commit`]).
    last: Option<LastCommit>,
}

/// What is needed to undo the last commit.
struct LastCommit {
    /// The state before the commit.
    before: StoredGroup,
    /// Leaves before the commit.
    leaves: HashMap<u32, LeafKey>,
    /// The committer's leaf.
    committer: u32,
    /// SHA-256 of the commit message as relayed.
    commit_hash: [u8; 32],
    /// A member of the previous epoch other than the committer has since authenticated in the
    /// new epoch, i.e. processed the commit successfully: it can no longer be disputed.
    confirmed: bool,
}

/// Limits checked when a group is registered.
#[derive(Debug, Clone, Copy)]
pub struct RegisterLimits {
    /// Most groups the DS tracks (the registry bound).
    pub max_groups: usize,
    /// Most groups one client may register.
    pub per_client: usize,
}

/// Outcome of an accepted handshake message.
#[derive(Debug, Clone)]
pub struct HandshakeOutcome {
    /// Relay sequence number of the message.
    pub seq: u64,
    /// New epoch (unchanged for a proposal).
    pub epoch: u64,
    /// Identities that received the Welcome.
    pub welcomed: Vec<Vec<u8>>,
}

/// All groups the DS follows.
pub struct Groups {
    map: Mutex<HashMap<Vec<u8>, Tracked>>,
    grace: Duration,
    /// A metadata store shared with other DS replicas (PostgreSQL): see [`Groups::share_with`].
    shared: std::sync::OnceLock<std::sync::Arc<dyn MetaStore>>,
}

fn bad(e: impl std::fmt::Display) -> GroupError {
    GroupError::Bad(e.to_string())
}
fn invalid(e: impl std::fmt::Debug) -> GroupError {
    GroupError::Invalid(format!("{e:?}"))
}

fn leaf_key(scheme: SignatureScheme, leaf: &LeafNode) -> LeafKey {
    let credential = leaf.credential();
    LeafKey {
        scheme,
        signature_key: leaf.signature_key().as_slice().to_vec(),
        credential: credential.tls_serialize_detached().unwrap_or_default(),
        identity: credential.serialized_content().to_vec(),
    }
}

fn snapshot(group: &PublicGroup) -> HashMap<u32, LeafKey> {
    let scheme = group.ciphersuite().signature_algorithm();
    group.members().filter_map(|m| group.leaf(m.index).map(|l| (m.index.u32(), leaf_key(scheme, l)))).collect()
}

/// Reads one `MlsMessage` from the front of `r`, returning it and its raw bytes.
fn read_message<'a>(r: &mut &'a [u8]) -> Result<(MlsMessageIn, &'a [u8]), GroupError> {
    let start: &'a [u8] = r;
    let m = MlsMessageIn::tls_deserialize(r).map_err(|e| bad(format!("not an MLS message: {e}")))?;
    let used = start.len() - r.len();
    let raw = start.get(..used).ok_or_else(|| bad("length"))?;
    Ok((m, raw))
}

/// The `signer` leaf index of a GroupInfo, read from its `MlsMessage` encoding (openmls keeps
/// it private): `version, wire_format, GroupContext, extensions<V>, confirmation_tag<V>, signer`.
fn group_info_signer(raw: &[u8]) -> Option<u32> {
    use tls_codec::VLBytes;
    let mut r = raw.get(4..)?; // MlsMessage version + wire_format
    r = r.get(4..)?; // GroupContext version + cipher_suite
    VLBytes::tls_deserialize(&mut r).ok()?; // group_id
    r = r.get(8..)?; // epoch
    VLBytes::tls_deserialize(&mut r).ok()?; // tree_hash
    VLBytes::tls_deserialize(&mut r).ok()?; // confirmed_transcript_hash
    VLBytes::tls_deserialize(&mut r).ok()?; // GroupContext extensions
    VLBytes::tls_deserialize(&mut r).ok()?; // GroupInfo extensions
    VLBytes::tls_deserialize(&mut r).ok()?; // confirmation_tag
    let b: [u8; 4] = r.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn build(group_info: &[u8], tree: &[u8]) -> Result<(OpenMlsRustCrypto, PublicGroup), GroupError> {
    let mut r = group_info;
    let (msg, _) = read_message(&mut r)?;
    let vgi = match msg.extract() {
        MlsMessageBodyIn::GroupInfo(g) => g,
        _ => return Err(bad("expected a GroupInfo")),
    };
    let tree = RatchetTreeIn::tls_deserialize_exact(tree).map_err(bad)?;
    let provider = OpenMlsRustCrypto::default();
    let (group, _) = PublicGroup::from_external(provider.crypto(), provider.storage(), tree, vgi, ProposalStore::new())
        .map_err(invalid)?;
    Ok((provider, group))
}

fn tls<T: tls_codec::Serialize>(v: &T) -> Result<Vec<u8>, GroupError> {
    v.tls_serialize_detached().map_err(bad)
}

impl Groups {
    /// Empty; `grace` is how long the previous epoch's leaves stay valid after a commit.
    pub fn new(grace: Duration) -> Self {
        Self { map: Mutex::new(HashMap::new()), grace, shared: std::sync::OnceLock::new() }
    }

    /// Follows groups through a metadata store shared by several DS replicas: before a group is
    /// used, its stored epoch is compared with the tracked one, and the group is rebuilt from the
    /// stored GroupInfo and tree when another replica registered it or accepted a commit.
    pub fn share_with(&self, meta: std::sync::Arc<dyn MetaStore>) {
        let _ = self.shared.set(meta);
    }

    fn refresh(&self, group_id: &[u8]) {
        let Some(meta) = self.shared.get() else { return };
        let stored_epoch = match meta.group_epoch(group_id) {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a group's epoch");
                return;
            }
        };
        let tracked = self.lock().get(group_id).map(|t| t.group.group_context().epoch().as_u64());
        if tracked.is_some_and(|t| t >= stored_epoch) {
            return;
        }
        let g = match meta.load_group(group_id) {
            Ok(Some(g)) => g,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read a group");
                return;
            }
        };
        let (provider, group) = match build(&g.group_info, &g.ratchet_tree) {
            Ok(b) => b,
            Err(e) => {
                tracing::error!(error = %e, "could not rebuild a group changed by another replica");
                return;
            }
        };
        let mut map = self.lock();
        let prev = match map.get(group_id) {
            Some(t) => {
                let old = t.group.group_context().epoch().as_u64();
                if old >= g.epoch {
                    return; // another request refreshed it meanwhile
                }
                (old + 1 == g.epoch).then(|| PrevEpoch {
                    epoch: old,
                    leaves: snapshot(&t.group),
                    until: Instant::now() + self.grace,
                })
            }
            None => None,
        };
        map.insert(group_id.to_vec(), Tracked { provider, group, prev, stored: g, last: None });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Vec<u8>, Tracked>> {
        match self.map.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Rebuilds every stored group (at startup). Returns how many failed (logged).
    pub fn restore(&self, meta: &dyn MetaStore) -> Result<usize, GroupError> {
        let stored = meta.load_groups().map_err(storage)?;
        let mut failed = 0;
        let mut map = self.lock();
        for g in stored {
            match build(&g.group_info, &g.ratchet_tree) {
                Ok((provider, group)) => {
                    map.insert(g.group_id.clone(), Tracked { provider, group, prev: None, stored: g, last: None });
                }
                Err(e) => {
                    failed += 1;
                    tracing::error!(error = %e, "could not restore a group");
                }
            }
        }
        Ok(failed)
    }

    /// Registers a group from `MlsMessage(GroupInfo)`, optionally followed by a `RatchetTree`
    /// (otherwise the GroupInfo's ratchet_tree extension is used). Returns the group id.
    ///
    /// The GroupInfo must be signed by a leaf whose credential identity is `owner` (the
    /// authenticated client), and the group id must be at least [`MIN_RANDOM_GROUP_ID_LEN`] bytes
    /// (random) or start with `owner` followed by `/` (namespaced), so nobody can take a group id
    /// another client will use.
    pub fn register(
        &self,
        meta: &dyn MetaStore,
        body: &[u8],
        owner: &[u8],
        limits: RegisterLimits,
    ) -> Result<(Vec<u8>, u64), GroupError> {
        let mut r = body;
        let (msg, raw_gi) = read_message(&mut r)?;
        let vgi = match msg.extract() {
            MlsMessageBodyIn::GroupInfo(g) => g,
            _ => return Err(bad("expected a GroupInfo")),
        };
        let tree = if r.is_empty() {
            let ext = vgi
                .extensions()
                .ratchet_tree()
                .ok_or_else(|| bad("no ratchet tree given and none in the GroupInfo"))?;
            ext.ratchet_tree().clone()
        } else {
            RatchetTreeIn::tls_deserialize_exact(r).map_err(bad)?
        };
        let provider = OpenMlsRustCrypto::default();
        let (group, _) =
            PublicGroup::from_external(provider.crypto(), provider.storage(), tree, vgi, ProposalStore::new())
                .map_err(invalid)?;
        let group_id = group.group_id().as_slice().to_vec();
        if group_id.len() > MAX_GROUP_ID_LEN {
            return Err(bad(format!("group id longer than {MAX_GROUP_ID_LEN} bytes")));
        }
        check_group_id(&group_id, owner)?;
        let signer = group_info_signer(raw_gi).ok_or_else(|| bad("GroupInfo signer"))?;
        let signer_id = group.leaf(LeafNodeIndex::new(signer)).map(|l| l.credential().serialized_content().to_vec());
        if signer_id.as_deref() != Some(owner) {
            return Err(GroupError::Forbidden("the GroupInfo must be signed by the registering client's leaf".into()));
        }
        let epoch = group.group_context().epoch().as_u64();
        let stored = StoredGroup {
            group_id: group_id.clone(),
            epoch,
            group_info: raw_gi.to_vec(),
            ratchet_tree: tls(&group.export_ratchet_tree())?,
            owner: owner.to_vec(),
        };
        let mut map = self.lock();
        if map.contains_key(&group_id) {
            return Err(GroupError::Exists);
        }
        if map.len() >= limits.max_groups {
            return Err(GroupError::Limit(format!("the DS tracks its maximum of {} groups", limits.max_groups)));
        }
        if map.values().filter(|t| t.stored.owner == owner).count() >= limits.per_client {
            return Err(GroupError::Limit(format!(
                "this client registered its maximum of {} groups",
                limits.per_client
            )));
        }
        if !meta.insert_group(&stored).map_err(storage)? {
            return Err(GroupError::Exists);
        }
        map.insert(group_id.clone(), Tracked { provider, group, prev: None, stored, last: None });
        Ok((group_id, epoch))
    }

    /// The current epoch of a group.
    pub fn epoch(&self, group_id: &[u8]) -> Option<u64> {
        self.refresh(group_id);
        self.lock().get(group_id).map(|t| t.group.group_context().epoch().as_u64())
    }

    /// The leaf key that verifies a request signed at `epoch` by `leaf_index`.
    ///
    /// * `epoch` = current: the leaf in the current tree.
    /// * `epoch` = current − 1, within the grace period after the commit: the leaf as it was,
    ///   provided the same credential still occupies that leaf now (a removed member is
    ///   rejected at once).
    /// * `allow_old`: any older epoch, verified against the current leaf (used to fetch the
    ///   relay queue to catch up).
    pub fn lookup(&self, group_id: &[u8], epoch: u64, leaf_index: u32, allow_old: bool) -> Result<Lookup, LookupError> {
        self.refresh(group_id);
        let map = self.lock();
        let t = map.get(group_id).ok_or(LookupError::NotMember)?;
        let current_epoch = t.group.group_context().epoch().as_u64();
        let scheme = t.group.ciphersuite().signature_algorithm();
        let current =
            t.group.leaf(LeafNodeIndex::new(leaf_index)).map(|l| leaf_key(scheme, l)).ok_or(LookupError::NotMember)?;
        if epoch == current_epoch {
            return Ok(Lookup { keys: vec![current], stale: false });
        }
        if epoch > current_epoch {
            return Ok(Lookup { keys: vec![current], stale: true });
        }
        let mut keys = Vec::new();
        if let Some(prev) = &t.prev {
            if prev.epoch == epoch && Instant::now() < prev.until {
                match prev.leaves.get(&leaf_index) {
                    Some(old) if old.credential == current.credential => keys.push(old.clone()),
                    // The leaf now holds someone else: the previous holder was removed.
                    Some(_) => return Err(LookupError::NotMember),
                    None => {}
                }
            }
        }
        let stale = !allow_old && keys.is_empty();
        // The current key also verifies a member that did not change its key.
        keys.push(current);
        Ok(Lookup { keys, stale })
    }

    /// Records that `leaf` authenticated in the current epoch: if it held the same credential
    /// before the last commit and is not its committer, the commit is confirmed (no longer
    /// disputable).
    pub fn note_current_epoch_use(&self, group_id: &[u8], epoch: u64, leaf: u32, key: &LeafKey) {
        let mut map = self.lock();
        let Some(t) = map.get_mut(group_id) else { return };
        if t.group.group_context().epoch().as_u64() != epoch {
            return;
        }
        if let Some(last) = &mut t.last {
            if !last.confirmed && leaf != last.committer {
                if let Some(before) = last.leaves.get(&leaf) {
                    if before.credential == key.credential {
                        last.confirmed = true;
                    }
                }
            }
        }
    }

    /// Whether the leaf `leaf` still holds the credential `credential` in the current tree (for
    /// requests that ran while a commit was processed, e.g. a long upload).
    pub fn still_member(&self, group_id: &[u8], leaf: u32, credential: &[u8]) -> bool {
        let map = self.lock();
        let Some(t) = map.get(group_id) else { return false };
        let scheme = t.group.ciphersuite().signature_algorithm();
        t.group.leaf(LeafNodeIndex::new(leaf)).map(|l| leaf_key(scheme, l).credential == credential).unwrap_or(false)
    }

    /// The key of `leaf` in the epoch before the last commit, if that commit can still be
    /// disputed and `epoch` is that previous epoch.
    pub fn disputable_key(&self, group_id: &[u8], epoch: u64, leaf: u32) -> Option<LeafKey> {
        let map = self.lock();
        let t = map.get(group_id)?;
        let last = t.last.as_ref()?;
        if last.before.epoch != epoch || last.confirmed || leaf == last.committer {
            return None;
        }
        last.leaves.get(&leaf).cloned()
    }

    /// Rolls the group back to the epoch before its last commit, because a member of that epoch
    /// (`reporter`, verified by the caller with [`Groups::disputable_key`]) rejected the commit
    /// whose relayed bytes hash to `commit_hash`. Refused once the commit is confirmed, when the
    /// group has moved on, or for another commit. Returns the restored epoch.
    pub fn reject_commit(
        &self,
        meta: &dyn MetaStore,
        group_id: &[u8],
        reporter: u32,
        commit_hash: &[u8],
    ) -> Result<u64, GroupError> {
        let mut map = self.lock();
        let t = map.get_mut(group_id).ok_or(GroupError::UnknownGroup)?;
        let Some(last) = &t.last else {
            return Err(GroupError::NotDisputable("no commit to dispute".into()));
        };
        if last.confirmed {
            return Err(GroupError::NotDisputable("another member already worked in the new epoch".into()));
        }
        if last.committer == reporter {
            return Err(GroupError::NotDisputable("the committer cannot dispute its own commit".into()));
        }
        if last.commit_hash.as_slice() != commit_hash {
            return Err(GroupError::NotDisputable("not the group's last commit".into()));
        }
        let before = last.before.clone();
        let (provider, group) = build(&before.group_info, &before.ratchet_tree)?;
        meta.set_group(&before).map_err(storage)?;
        t.provider = provider;
        t.group = group;
        t.stored = before;
        // Requests signed in the disputed epoch are refused from now on (its leaves are gone).
        t.prev = None;
        t.last = None;
        Ok(t.stored.epoch)
    }

    /// Processes a handshake message: `MlsMessage(PublicMessage proposal)`, or
    /// `MlsMessage(PublicMessage commit) || MlsMessage(GroupInfo) [|| MlsMessage(Welcome)]`.
    pub fn handshake(
        &self,
        meta: &dyn MetaStore,
        group_id: &[u8],
        body: &[u8],
    ) -> Result<HandshakeOutcome, GroupError> {
        let mut r = body;
        let (msg, raw_msg) = read_message(&mut r)?;
        let pm = match msg.extract() {
            MlsMessageBodyIn::PublicMessage(p) => p,
            _ => return Err(bad("handshake messages must be PublicMessages")),
        };
        self.refresh(group_id);
        let mut map = self.lock();
        let t = map.get_mut(group_id).ok_or(GroupError::UnknownGroup)?;
        let current_epoch = t.group.group_context().epoch().as_u64();
        let processed = t.group.process_message(t.provider.crypto(), pm).map_err(|e| match e {
            PublicProcessMessageError::ValidationError(ValidationError::WrongEpoch) => {
                GroupError::WrongEpoch(current_epoch)
            }
            PublicProcessMessageError::ValidationError(ValidationError::WrongGroupId) => bad("wrong group id"),
            e => invalid(e),
        })?;
        let committer = match processed.sender() {
            Sender::Member(l) => l.u32(),
            _ => return Err(bad("only members may send handshake messages to the DS")),
        };
        match processed.into_content() {
            ProcessedMessageContent::ProposalMessage(q) => {
                if !r.is_empty() {
                    return Err(bad("trailing data after a proposal"));
                }
                t.group.add_proposal(t.provider.storage(), *q).map_err(invalid)?;
                let seq = meta.append_message(group_id, raw_msg).map_err(storage)?;
                Ok(HandshakeOutcome { seq, epoch: current_epoch, welcomed: vec![] })
            }
            ProcessedMessageContent::StagedCommitMessage(sc) => {
                let (gi_msg, raw_gi) = read_message(&mut r)?;
                let vgi = match gi_msg.extract() {
                    MlsMessageBodyIn::GroupInfo(g) => g,
                    _ => return Err(bad("a commit must be followed by the committer's new GroupInfo")),
                };
                let welcome = if r.is_empty() {
                    None
                } else {
                    let (w, raw_w) = read_message(&mut r)?;
                    if !matches!(w.extract(), MlsMessageBodyIn::Welcome(_)) || !r.is_empty() {
                        return Err(bad("expected a Welcome after the GroupInfo"));
                    }
                    Some(raw_w.to_vec())
                };
                let welcomed: Vec<Vec<u8>> = sc
                    .add_proposals()
                    .map(|a| a.add_proposal().key_package().leaf_node().credential().serialized_content().to_vec())
                    .collect();
                if group_info_signer(raw_gi) != Some(committer) {
                    return Err(bad("the GroupInfo must be signed by the committer"));
                }
                let before = snapshot(&t.group);
                let prev_stored_tree = tls(&t.group.export_ratchet_tree())?;
                t.group.merge_commit(t.provider.storage(), *sc).map_err(invalid)?;
                // Check the committer's GroupInfo against the merged state; roll back if it differs.
                let check = (|| -> Result<StoredGroup, GroupError> {
                    let new_tree = tls(&t.group.export_ratchet_tree())?;
                    let scratch = OpenMlsRustCrypto::default();
                    let tree_in = RatchetTreeIn::tls_deserialize_exact(&new_tree).map_err(bad)?;
                    let (other, _) = PublicGroup::from_external(
                        scratch.crypto(),
                        scratch.storage(),
                        tree_in,
                        vgi,
                        ProposalStore::new(),
                    )
                    .map_err(invalid)?;
                    if tls(other.group_context())? != tls(t.group.group_context())?
                        || tls(other.confirmation_tag())? != tls(t.group.confirmation_tag())?
                    {
                        return Err(bad("the GroupInfo does not match the commit"));
                    }
                    Ok(StoredGroup {
                        group_id: group_id.to_vec(),
                        epoch: t.group.group_context().epoch().as_u64(),
                        group_info: raw_gi.to_vec(),
                        ratchet_tree: new_tree,
                        owner: t.stored.owner.clone(),
                    })
                })();
                let stored = match check {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = prev_stored_tree;
                        self.rollback(meta, t)?;
                        return Err(e);
                    }
                };
                let seq = match meta.update_group(&stored, raw_msg) {
                    Ok(s) => s,
                    Err(e) => {
                        self.rollback(meta, t)?;
                        // Another DS replica stored a commit for this epoch first (shared store).
                        let now = t.group.group_context().epoch().as_u64();
                        if now != current_epoch {
                            return Err(GroupError::WrongEpoch(now));
                        }
                        return Err(storage(e));
                    }
                };
                if let Some(w) = &welcome {
                    for id in &welcomed {
                        meta.push_welcome(id, w).map_err(storage)?;
                    }
                }
                t.last = Some(LastCommit {
                    before: std::mem::replace(&mut t.stored, stored.clone()),
                    leaves: before.clone(),
                    committer,
                    commit_hash: sha2::Sha256::digest(raw_msg).into(),
                    confirmed: false,
                });
                t.prev = Some(PrevEpoch { epoch: current_epoch, leaves: before, until: Instant::now() + self.grace });
                Ok(HandshakeOutcome {
                    seq,
                    epoch: stored.epoch,
                    welcomed: if welcome.is_some() { welcomed } else { vec![] },
                })
            }
            _ => Err(bad("unsupported handshake message")),
        }
    }

    fn rollback(&self, _meta: &dyn MetaStore, t: &mut Tracked) -> Result<(), GroupError> {
        let (provider, group) = build(&t.stored.group_info, &t.stored.ratchet_tree)?;
        t.provider = provider;
        t.group = group;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn group_info_signer_rejects_short_input() {
        assert_eq!(super::group_info_signer(&[0, 1, 0, 4]), None);
        assert_eq!(super::group_info_signer(&[]), None);
    }

    #[test]
    fn random_group_ids_that_happen_to_be_utf8_are_accepted() {
        use super::{check_group_id, readable_group_id, GroupError};
        use rand::{RngCore, SeedableRng};
        // openmls' default group id: 16 random bytes. Draw until 40 of them are valid UTF-8 (about
        // once in 10,700 draws). Before the fix every one of them was refused with 400 "a
        // readable group id must be namespaced" (seen in a CI run of the fault tests).
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x6d696d69);
        let (mut utf8, mut draws) = (0, 0u64);
        while utf8 < 40 {
            let mut id = [0u8; 16];
            rng.fill_bytes(&mut id);
            draws += 1;
            if std::str::from_utf8(&id).is_ok() {
                utf8 += 1;
                assert!(readable_group_id(&id).is_none(), "{id:?} after {draws} draws");
                assert!(check_group_id(&id, b"alice").is_ok(), "{id:?}");
            }
        }
        // The squatting rule still holds for printable text, however long.
        for id in [&b"team"[..], b"team-general-chat-room", "\u{e9}quipe-g\u{e9}n\u{e9}rale-2026".as_bytes()] {
            assert!(readable_group_id(id).is_some());
            assert!(matches!(check_group_id(id, b"alice"), Err(GroupError::Bad(_))), "{id:?}");
        }
        assert!(matches!(check_group_id(b"bob/team-general-chat", b"alice"), Err(GroupError::Forbidden(_))));
        assert!(check_group_id(b"alice/t", b"alice").is_ok());
        // Text with a control character is not a name; short ids stay refused either way.
        assert!(check_group_id(b"\x01abcdefghijklmno", b"alice").is_ok());
        assert!(check_group_id(b"\x01abcdefghijklm", b"alice").is_err());
        assert!(check_group_id(b"\xff\xfe", b"alice").is_err());
    }
}

#[cfg(test)]
mod signer_tests {
    use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
    use openmls::prelude::*;
    use openmls_basic_credential::SignatureKeyPair;
    use openmls_rust_crypto::OpenMlsRustCrypto;

    fn member(name: &str, cs: Ciphersuite) -> (OpenMlsRustCrypto, SignatureKeyPair, CredentialWithKey) {
        let p = OpenMlsRustCrypto::default();
        let s = SignatureKeyPair::new(cs.signature_algorithm()).unwrap();
        s.store(p.storage()).unwrap();
        let c = CredentialWithKey {
            credential: BasicCredential::new(name.into()).into(),
            signature_key: s.public().into(),
        };
        (p, s, c)
    }

    #[test]
    fn group_info_signer_reads_the_real_encoding() {
        let cs = Ciphersuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519;
        let (ap, asg, ac) = member("alice", cs);
        let (bp, bsg, bc) = member("bob", cs);
        let cfg = MlsGroupCreateConfig::builder().ciphersuite(cs).use_ratchet_tree_extension(true).build();
        let mut a = MlsGroup::new(&ap, &asg, &cfg, ac).unwrap();
        let kp = KeyPackage::builder().build(cs, &bp, &bsg, bc).unwrap().key_package().clone();
        let (_, welcome, _) = a.add_members(&ap, &asg, &[kp]).unwrap();
        a.merge_pending_commit(&ap).unwrap();
        let w = match MlsMessageIn::tls_deserialize_exact(welcome.tls_serialize_detached().unwrap()).unwrap().extract()
        {
            MlsMessageBodyIn::Welcome(w) => w,
            _ => panic!(),
        };
        let b = StagedWelcome::new_from_welcome(&bp, &MlsGroupJoinConfig::default(), w, None)
            .unwrap()
            .into_group(&bp)
            .unwrap();
        for (g, p, s, leaf) in [(&a, &ap, &asg, 0), (&b, &bp, &bsg, 1)] {
            let gi = g.export_group_info(p.crypto(), s, true).unwrap().tls_serialize_detached().unwrap();
            assert_eq!(super::group_info_signer(&gi), Some(leaf));
        }
    }
}
