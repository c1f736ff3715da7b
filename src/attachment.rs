//! Attachment references as an application keeps them.
//!
//! A receiver derives the keys when it processes the message that carries the
//! `message/external-body` reference, in that message's epoch (the exporter secret belongs to one
//! epoch), and stores an [`AttachmentRef`]: keys, token, hash, sizes, and where it came from.
//! Days and epochs later the reference still decrypts. It is **secret material** (it holds
//! `attachment_key`): store it as you store messages.
//!
//! A sender hashes the plaintext, then [`PendingAttachment::new`] draws the nonce and derives the
//! keys in the current epoch; after the upload, [`PendingAttachment::complete`] binds the Delivery
//! Service token. The message carrying the reference must be sent in the same epoch the keys
//! were derived in ([`Error::WrongEpoch`] otherwise), or receivers would derive other keys.
#![forbid(unsafe_code)]

use tls_codec::{Deserialize as _, Serialize as _, TlsDeserialize, TlsSerialize, TlsSize, VLBytes};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::format::{ChunkSize, Format};
#[cfg(feature = "mls")]
use crate::mls::Group;
use crate::reference::ExternalBody;
#[cfg(feature = "mls")]
use crate::reference::ExternalBodyIn;
use crate::schedule::AttachmentKeys;
use crate::stream::Decryptor;
use crate::suite::CipherSuite;

/// A member's place: a group, an epoch of it and a leaf index (the sender's or one's own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The MLS group id.
    pub group_id: Vec<u8>,
    /// The epoch.
    pub epoch: u64,
    /// The leaf index.
    pub leaf_index: u32,
}

/// An attachment being sent: keys derived, token not yet known.
pub struct PendingAttachment {
    keys: AttachmentKeys,
    nonce: Vec<u8>,
    hash: Vec<u8>,
    format: Format,
    size: u64,
    group_id: Vec<u8>,
    epoch: u64,
    sender_index: u32,
}

impl PendingAttachment {
    /// Draws the random nonce and derives the keys for a plaintext of `size` bytes hashing to
    /// `attachment_hash`, in the group's current epoch, for `format` (checking the one-shot limit).
    #[cfg(feature = "mls")]
    pub fn new(group: &Group, attachment_hash: &[u8], size: u64, format: Format) -> Result<Self> {
        let (nonce, keys) = group.attachment_keys_for_sending(attachment_hash)?;
        Self::with_keys(group.position(), keys, nonce, attachment_hash, size, format)
    }

    /// A pending attachment whose keys the caller derived (an application with its own MLS
    /// stack: `keys` from its `MLS-Exporter` for `attachment_hash` and `at.leaf_index`, with the
    /// random `nonce`), sent by the member at `at`.
    pub fn with_keys(
        at: Position,
        keys: AttachmentKeys,
        nonce: Vec<u8>,
        attachment_hash: &[u8],
        size: u64,
        format: Format,
    ) -> Result<Self> {
        format.check_plaintext_len(size)?;
        let suite = keys.suite();
        crate::error::check_len("attachment_hash", suite.nh(), attachment_hash.len())?;
        crate::error::check_len("nonce", suite.nh(), nonce.len())?;
        Ok(Self {
            keys,
            nonce,
            hash: attachment_hash.to_vec(),
            format,
            size,
            group_id: at.group_id,
            epoch: at.epoch,
            sender_index: at.leaf_index,
        })
    }

    /// The keys to encrypt with.
    pub fn keys(&self) -> &AttachmentKeys {
        &self.keys
    }

    /// The epoch the keys belong to.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `attachment_hash`.
    pub fn hash(&self) -> &[u8] {
        &self.hash
    }

    /// The random nonce of the derivation.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }

    /// The ciphertext format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Chunk size (None: one-shot).
    pub fn chunk_size(&self) -> Option<ChunkSize> {
        self.format.chunk_size()
    }

    /// The ciphertext length.
    pub fn ciphertext_len(&self) -> Result<u64> {
        self.format.ciphertext_len(self.size)
    }

    /// The group the keys belong to.
    pub fn group_id(&self) -> &[u8] {
        &self.group_id
    }

    /// The plaintext size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Serializes the pending attachment (secret: it holds the keys), to resume an upload after a
    /// restart of the application.
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        self.reference(Vec::new()).to_bytes()
    }

    /// The reference of this attachment under `token` (empty while the upload is pending).
    fn reference(&self, token: Vec<u8>) -> AttachmentRef {
        AttachmentRef {
            keys: self.keys.clone(),
            nonce: self.nonce.clone(),
            token,
            hash: self.hash.clone(),
            chunk_size: self.format.chunk_size(),
            size: Some(self.size),
            group_id: self.group_id.clone(),
            epoch: self.epoch,
            sender_index: self.sender_index,
        }
    }

    /// Restores a pending attachment from [`PendingAttachment::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let r = AttachmentRef::from_bytes(bytes)?;
        if !r.token.is_empty() {
            return Err(Error::Codec("not a pending attachment (it has a token)".into()));
        }
        let size = r.size.ok_or_else(|| Error::Codec("pending attachment without a size".into()))?;
        Ok(Self {
            keys: r.keys.clone(),
            nonce: r.nonce.clone(),
            hash: r.hash.clone(),
            format: r.format(),
            size,
            group_id: r.group_id.clone(),
            epoch: r.epoch,
            sender_index: r.sender_index,
        })
    }

    /// Binds the Delivery Service token. Fails with [`Error::WrongEpoch`] if the group moved to
    /// another epoch since the keys were derived: receivers would derive other keys, so the
    /// attachment must be encrypted again.
    #[cfg(feature = "mls")]
    pub fn complete(&self, group: &Group, token: &[u8]) -> Result<AttachmentRef> {
        self.complete_in(group.group_id(), group.epoch(), token)
    }

    /// [`PendingAttachment::complete`] for a group in `epoch` held by another MLS stack.
    pub fn complete_in(&self, group_id: &[u8], epoch: u64, token: &[u8]) -> Result<AttachmentRef> {
        if group_id != self.group_id.as_slice() {
            return Err(Error::WrongGroup);
        }
        if epoch != self.epoch {
            return Err(Error::WrongEpoch { current: epoch, message: self.epoch });
        }
        if token.is_empty() || token.len() > crate::reference::MAX_TOKEN_LEN {
            return Err(Error::InvalidLength {
                what: "token",
                expected: crate::reference::MAX_TOKEN_LEN,
                got: token.len(),
            });
        }
        Ok(self.reference(token.to_vec()))
    }
}

/// A received (or sent) attachment: everything needed to download and decrypt it later.
/// Secret material.
#[derive(Clone)]
pub struct AttachmentRef {
    keys: AttachmentKeys,
    nonce: Vec<u8>,
    /// The Delivery Service token.
    pub token: Vec<u8>,
    /// `attachment_hash`.
    pub hash: Vec<u8>,
    /// Chunk size (None: one-shot).
    pub chunk_size: Option<ChunkSize>,
    /// Plaintext size, if known.
    pub size: Option<u64>,
    /// The group the attachment is bound to.
    pub group_id: Vec<u8>,
    /// Epoch of the message that carried the reference.
    pub epoch: u64,
    /// Sender's leaf index.
    pub sender_index: u32,
}

impl core::fmt::Debug for AttachmentRef {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttachmentRef")
            .field("suite", &self.keys.suite())
            .field("chunk_size", &self.chunk_size)
            .field("size", &self.size)
            .field("epoch", &self.epoch)
            .field("sender_index", &self.sender_index)
            .finish_non_exhaustive()
    }
}

/// Stored form of an [`AttachmentRef`] (TLS encoded).
#[derive(TlsSerialize, TlsDeserialize, TlsSize)]
struct StoredRef {
    version: u16,
    suite: u16,
    key: VLBytes,
    aead_nonce: VLBytes,
    kdf_nonce: VLBytes,
    token: VLBytes,
    hash: VLBytes,
    chunk_size: u32, // 0: one-shot
    has_size: u8,
    size: u64,
    group_id: VLBytes,
    epoch: u64,
    sender_index: u32,
}

const REF_VERSION: u16 = 1;

impl AttachmentRef {
    /// Parses a content type received in a message of `message_epoch` from the member at
    /// `sender`, and derives the keys now, in the group's current epoch (which must be the
    /// message's).
    #[cfg(feature = "mls")]
    pub fn receive(group: &Group, content_type: &str, sender: u32, message_epoch: u64) -> Result<Self> {
        let body = ExternalBodyIn::parse(content_type)?.validate(group.suite()?)?;
        let keys = group.attachment_keys_for_receiving(&body.hash, &body.nonce, sender, message_epoch)?;
        let from = Position { group_id: group.group_id().to_vec(), epoch: message_epoch, leaf_index: sender };
        Self::with_keys(body, keys, from)
    }

    /// A received reference whose keys the caller derived (an application with its own MLS
    /// stack: from its `MLS-Exporter` in the message's epoch for `body.hash` and the sender's
    /// leaf, then `body.nonce`): `body` parsed and validated for the group's suite, `from` the
    /// group, the message's epoch and the sender's leaf index.
    pub fn with_keys(body: ExternalBody, keys: AttachmentKeys, from: Position) -> Result<Self> {
        crate::error::check_len("attachment_hash", keys.suite().nh(), body.hash.len())?;
        crate::error::check_len("nonce", keys.suite().nh(), body.nonce.len())?;
        Ok(Self {
            keys,
            nonce: body.nonce,
            token: body.token,
            hash: body.hash,
            chunk_size: body.chunk_size,
            size: body.size,
            group_id: from.group_id,
            epoch: from.epoch,
            sender_index: from.leaf_index,
        })
    }

    /// The same attachment under a new token in another group (after a Delivery Service copy).
    /// Members of that group cannot derive these keys from their own exporter: the returned
    /// reference (secret) must be handed to them in an end-to-end encrypted message of that group.
    #[cfg(feature = "mls")]
    pub fn rebind(&self, token: &[u8], group: &Group) -> Result<AttachmentRef> {
        self.rebind_to(token, group.position())
    }

    /// [`AttachmentRef::rebind`] into a group held by another MLS stack, `to` its current epoch
    /// and this member's leaf.
    pub fn rebind_to(&self, token: &[u8], to: Position) -> Result<AttachmentRef> {
        if token.is_empty() || token.len() > crate::reference::MAX_TOKEN_LEN {
            return Err(Error::InvalidLength {
                what: "token",
                expected: crate::reference::MAX_TOKEN_LEN,
                got: token.len(),
            });
        }
        let mut r = self.clone();
        r.token = token.to_vec();
        r.group_id = to.group_id;
        r.epoch = to.epoch;
        r.sender_index = to.leaf_index;
        Ok(r)
    }

    /// The keys.
    pub fn keys(&self) -> &AttachmentKeys {
        &self.keys
    }

    /// The cipher suite.
    pub fn suite(&self) -> CipherSuite {
        self.keys.suite()
    }

    /// The reference as it goes in a message.
    pub fn external_body(&self) -> ExternalBody {
        ExternalBody {
            token: self.token.clone(),
            nonce: self.nonce.clone(),
            hash: self.hash.clone(),
            chunk_size: self.chunk_size,
            size: self.size,
        }
    }

    /// The ciphertext length this reference expects, when the size is known.
    pub fn ciphertext_len(&self) -> Result<Option<u64>> {
        self.size.map(|s| self.format().ciphertext_len(s)).transpose()
    }

    /// The ciphertext format.
    pub fn format(&self) -> Format {
        Format::from_chunk_size(self.chunk_size)
    }

    /// [`Error::WrongGroup`] unless this reference is bound to `group` (a reference received in,
    /// or copied into, another group must not be used with this one's Delivery Service token).
    #[cfg(feature = "mls")]
    pub fn check_group(&self, group: &Group) -> Result<()> {
        self.check_group_id(group.group_id())
    }

    /// [`AttachmentRef::check_group`] by the group's id.
    pub fn check_group_id(&self, group_id: &[u8]) -> Result<()> {
        if group_id == self.group_id.as_slice() {
            Ok(())
        } else {
            Err(Error::WrongGroup)
        }
    }

    /// Decrypts the one-shot form: checks the length against `size` when the reference has one
    /// ([`Error::Truncated`] / [`Error::TrailingData`]), then the tag and the hash
    /// ([`Error::InvalidState`] for a chunked attachment: use [`AttachmentRef::decryptor`]).
    pub fn open_one_shot(&self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        if self.chunk_size.is_some() {
            return Err(Error::InvalidState("chunked attachment: use decryptor"));
        }
        crate::stream::check_one_shot_len(ciphertext.len() as u64, self.size)?;
        crate::stream::open_one_shot(&self.keys, ciphertext, &self.hash)
    }

    /// A chunked-v1 decryptor for this attachment ([`Error::InvalidState`] for the one-shot form).
    pub fn decryptor(&self) -> Result<Decryptor> {
        let cs = self.chunk_size.ok_or(Error::InvalidState("one-shot attachment: use open_one_shot"))?;
        Decryptor::new(&self.keys, cs, &self.hash, self.size)
    }

    /// Serializes the reference (secret material).
    pub fn to_bytes(&self) -> Result<Zeroizing<Vec<u8>>> {
        let s = StoredRef {
            version: REF_VERSION,
            suite: self.keys.suite().id(),
            key: self.keys.key().to_vec().into(),
            aead_nonce: self.keys.nonce().to_vec().into(),
            kdf_nonce: self.nonce.clone().into(),
            token: self.token.clone().into(),
            hash: self.hash.clone().into(),
            chunk_size: self.chunk_size.map_or(0, ChunkSize::get),
            has_size: u8::from(self.size.is_some()),
            size: self.size.unwrap_or(0),
            group_id: self.group_id.clone().into(),
            epoch: self.epoch,
            sender_index: self.sender_index,
        };
        Ok(Zeroizing::new(s.tls_serialize_detached()?))
    }

    /// Restores a reference from [`AttachmentRef::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let s = StoredRef::tls_deserialize_exact(bytes)?;
        if s.version != REF_VERSION {
            return Err(Error::Codec(format!("unknown attachment reference version {}", s.version)));
        }
        let suite = CipherSuite::from_u16(s.suite)?;
        let keys = AttachmentKeys::from_parts(suite, s.key.as_slice(), s.aead_nonce.as_slice())?;
        crate::error::check_len("attachment_hash", suite.nh(), s.hash.as_slice().len())?;
        let chunk_size = match s.chunk_size {
            0 => None,
            n => Some(ChunkSize::new(u64::from(n))?),
        };
        let size = match s.has_size {
            0 => None,
            1 => Some(s.size),
            _ => return Err(Error::Codec("bad size flag".into())),
        };
        Ok(Self {
            keys,
            nonce: s.kdf_nonce.as_slice().to_vec(),
            token: s.token.as_slice().to_vec(),
            hash: s.hash.as_slice().to_vec(),
            chunk_size,
            size,
            group_id: s.group_id.as_slice().to_vec(),
            epoch: s.epoch,
            sender_index: s.sender_index,
        })
    }
}
