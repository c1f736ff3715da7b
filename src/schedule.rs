//! The attachment key schedule of draft-robert-mimi-attachments §3.6, on RFC 9420's
//! `ExpandWithLabel`, `DeriveSecret` and `MLS-Exporter` (RFC 9420 §8, §8.5).
//!
//! ```text
//! attachment_hash            = Hash(plaintext)
//! context                    = AttachmentContext { attachment_hash, sender_index }
//! attachment_exporter_secret = MLS-Exporter("MIMI attachment", context, KDF.Nh)
//! attachment_secret          = KDF.Extract(attachment_exporter_secret, nonce)
//! attachment_nonce           = ExpandWithLabel(attachment_secret, "nonce", "", AEAD.Nn)
//! attachment_key             = ExpandWithLabel(attachment_secret, "key", "", AEAD.Nk)
//! ```
//!
//! Readings taken (DESIGN.md §2): `attachment_hash` is `opaque<V>` (MLS varint length);
//! `KDF.Extract(a, b)` is RFC 9420's `KDF.Extract(salt, ikm)`, so the exporter output is the salt
//! and the random `nonce` the input keying material.
#![forbid(unsafe_code)]

use tls_codec::{Serialize as _, TlsSerialize, TlsSize, VLBytes};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{check_len, Error, Result};
use crate::suite::{CipherSuite, HashAlg, AEAD_NONCE_LEN};

/// The `MLS-Exporter` label of draft §3.6.
pub const EXPORTER_LABEL: &str = "MIMI attachment";
/// The RFC 9420 §8 prefix of every `ExpandWithLabel` label.
pub const MLS_LABEL_PREFIX: &[u8] = b"MLS 1.0 ";
/// Label of `attachment_key`.
pub const KEY_LABEL: &[u8] = b"key";
/// Label of `attachment_nonce`.
pub const NONCE_LABEL: &[u8] = b"nonce";

/// RFC 9420 §8:
/// ```text
/// struct {
///     uint16 length;
///     opaque label<V>;
///     opaque context<V>;
/// } KDFLabel;
/// ```
#[derive(TlsSerialize, TlsSize)]
struct KdfLabel {
    length: u16,
    label: VLBytes,
    context: VLBytes,
}

/// draft-robert-mimi-attachments §3.6 (with `<V>` added to the hash, DESIGN.md §2):
/// ```text
/// struct {
///    opaque attachment_hash<V>;
///    uint64 sender_index;
/// } AttachmentContext;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsSize)]
pub struct AttachmentContext {
    /// `Hash(plaintext)` with the group's hash function.
    pub attachment_hash: VLBytes,
    /// The MLS leaf index of the sender, widened to 64 bits.
    pub sender_index: u64,
}

impl AttachmentContext {
    /// The context for an attachment whose plaintext hashes to `attachment_hash`, sent by the
    /// member at leaf `sender_index`.
    pub fn new(attachment_hash: &[u8], sender_index: u32) -> Self {
        Self { attachment_hash: attachment_hash.to_vec().into(), sender_index: u64::from(sender_index) }
    }

    /// The TLS (MLS) encoding, the `context` argument of `MLS-Exporter`.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        Ok(self.tls_serialize_detached()?)
    }
}

/// `ExpandWithLabel(Secret, Label, Context, Length) = KDF.Expand(Secret, KDFLabel, Length)`
/// (RFC 9420 §8), where `KDFLabel.label = "MLS 1.0 " + Label`.
pub fn expand_with_label(
    hash: HashAlg,
    secret: &[u8],
    label: &[u8],
    context: &[u8],
    length: u16,
) -> Result<Zeroizing<Vec<u8>>> {
    let mut full_label = Vec::with_capacity(MLS_LABEL_PREFIX.len() + label.len());
    full_label.extend_from_slice(MLS_LABEL_PREFIX);
    full_label.extend_from_slice(label);
    let info =
        KdfLabel { length, label: full_label.into(), context: context.to_vec().into() }.tls_serialize_detached()?;
    hash.expand(secret, &info, usize::from(length))
}

/// `DeriveSecret(Secret, Label) = ExpandWithLabel(Secret, Label, "", KDF.Nh)` (RFC 9420 §8).
pub fn derive_secret(hash: HashAlg, secret: &[u8], label: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    expand_with_label(hash, secret, label, b"", nh_u16(hash))
}

/// `MLS-Exporter(Label, Context, Length) =
///    ExpandWithLabel(DeriveSecret(exporter_secret, Label), "exported", Hash(Context), Length)`
/// (RFC 9420 §8.5), from an epoch's raw `exporter_secret`.
pub fn mls_exporter(
    hash: HashAlg,
    exporter_secret: &[u8],
    label: &[u8],
    context: &[u8],
    length: u16,
) -> Result<Zeroizing<Vec<u8>>> {
    let derived = derive_secret(hash, exporter_secret, label)?;
    expand_with_label(hash, &derived, b"exported", &hash.digest(context), length)
}

fn nh_u16(hash: HashAlg) -> u16 {
    // Nh is 32, 48 or 64: always fits.
    u16::try_from(hash.nh()).unwrap_or(u16::MAX)
}

/// `attachment_hash = Hash(plaintext)` with the suite's hash.
pub fn attachment_hash(suite: CipherSuite, plaintext: &[u8]) -> Vec<u8> {
    suite.hash().digest(plaintext)
}

/// Draws the random `nonce` of draft §3.6: `KDF.Nh` bytes from the OS / browser RNG.
pub fn random_nonce(suite: CipherSuite) -> Result<Vec<u8>> {
    let mut nonce = vec![0u8; suite.nh()];
    getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
    Ok(nonce)
}

/// `attachment_exporter_secret = MLS-Exporter("MIMI attachment", AttachmentContext, KDF.Nh)`,
/// one epoch's secret. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AttachmentExporterSecret(Vec<u8>);

impl AttachmentExporterSecret {
    /// From an epoch's raw `exporter_secret` (RFC 9420 §8), for test vectors and MLS stacks
    /// other than openmls.
    pub fn from_epoch_exporter_secret(
        suite: CipherSuite,
        epoch_exporter_secret: &[u8],
        context: &AttachmentContext,
    ) -> Result<Self> {
        check_len("epoch exporter_secret", suite.nh(), epoch_exporter_secret.len())?;
        let out = mls_exporter(
            suite.hash(),
            epoch_exporter_secret,
            EXPORTER_LABEL.as_bytes(),
            &context.to_bytes()?,
            nh_u16(suite.hash()),
        )?;
        Ok(Self(out.to_vec()))
    }

    /// From the output of the application's own `MLS-Exporter(EXPORTER_LABEL, context, KDF.Nh)`
    /// (an MLS stack other than this package's), checked to be `KDF.Nh` bytes.
    pub fn from_bytes(suite: CipherSuite, attachment_exporter_secret: &[u8]) -> Result<Self> {
        check_len("attachment_exporter_secret", suite.nh(), attachment_exporter_secret.len())?;
        Ok(Self(attachment_exporter_secret.to_vec()))
    }

    /// From an openmls group in its current epoch:
    /// `group.export_secret(crypto, "MIMI attachment", AttachmentContext, KDF.Nh)`.
    #[cfg(feature = "mls")]
    pub fn from_group(
        group: &openmls::group::MlsGroup,
        crypto: &impl openmls_traits::crypto::OpenMlsCrypto,
        context: &AttachmentContext,
    ) -> Result<Self> {
        let suite = suite_of_group(group)?;
        let out = group
            .export_secret(crypto, EXPORTER_LABEL, &context.to_bytes()?, suite.nh())
            .map_err(|e| Error::Mls(e.to_string()))?;
        check_len("MLS-Exporter output", suite.nh(), out.len())?;
        Ok(Self(out))
    }

    /// The raw bytes (secret).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// The attachment cipher suite of an openmls group.
#[cfg(feature = "mls")]
pub fn suite_of_group(group: &openmls::group::MlsGroup) -> Result<CipherSuite> {
    CipherSuite::from_u16(u16::from(group.ciphersuite()))
}

/// `attachment_secret = KDF.Extract(attachment_exporter_secret, nonce)`. Zeroized on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AttachmentSecret(Vec<u8>);

impl AttachmentSecret {
    /// Extracts the attachment secret; `nonce` is the random `KDF.Nh`-byte value from the reference.
    pub fn new(suite: CipherSuite, exporter: &AttachmentExporterSecret, nonce: &[u8]) -> Result<Self> {
        check_len("attachment nonce", suite.nh(), nonce.len())?;
        check_len("attachment_exporter_secret", suite.nh(), exporter.0.len())?;
        Ok(Self(suite.hash().extract(&exporter.0, nonce).to_vec()))
    }

    /// The raw bytes (secret).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// `attachment_key` and `attachment_nonce` of one attachment, with the suite they belong to.
/// This is what a receiver keeps with a message to decrypt days later. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AttachmentKeys {
    #[zeroize(skip)]
    suite: CipherSuite,
    key: Vec<u8>,
    nonce: [u8; AEAD_NONCE_LEN],
}

impl core::fmt::Debug for AttachmentKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AttachmentKeys").field("suite", &self.suite).finish_non_exhaustive()
    }
}

impl AttachmentKeys {
    /// `attachment_key = ExpandWithLabel(attachment_secret, "key", "", AEAD.Nk)` and
    /// `attachment_nonce = ExpandWithLabel(attachment_secret, "nonce", "", AEAD.Nn)`.
    pub fn derive(suite: CipherSuite, secret: &AttachmentSecret) -> Result<Self> {
        let hash = suite.hash();
        let nk = u16::try_from(suite.aead().nk()).unwrap_or(u16::MAX);
        let nn = u16::try_from(AEAD_NONCE_LEN).unwrap_or(u16::MAX);
        let key = expand_with_label(hash, &secret.0, KEY_LABEL, b"", nk)?;
        let nonce_v = expand_with_label(hash, &secret.0, NONCE_LABEL, b"", nn)?;
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        check_len("attachment_nonce", AEAD_NONCE_LEN, nonce_v.len())?;
        nonce.copy_from_slice(&nonce_v);
        Ok(Self { suite, key: key.to_vec(), nonce })
    }

    /// Rebuilds keys kept by the application (see [`AttachmentKeys::key`]).
    pub fn from_parts(suite: CipherSuite, key: &[u8], nonce: &[u8]) -> Result<Self> {
        check_len("attachment_key", suite.aead().nk(), key.len())?;
        check_len("attachment_nonce", AEAD_NONCE_LEN, nonce.len())?;
        let mut n = [0u8; AEAD_NONCE_LEN];
        n.copy_from_slice(nonce);
        Ok(Self { suite, key: key.to_vec(), nonce: n })
    }

    /// The whole derivation from an epoch's raw `exporter_secret`.
    pub fn from_epoch_exporter_secret(
        suite: CipherSuite,
        epoch_exporter_secret: &[u8],
        attachment_hash: &[u8],
        sender_index: u32,
        nonce: &[u8],
    ) -> Result<Self> {
        Ok(Derivation::from_epoch_exporter_secret(suite, epoch_exporter_secret, attachment_hash, sender_index, nonce)?
            .keys)
    }

    /// The derivation from `attachment_exporter_secret` on: for apps whose own MLS stack ran
    /// `MLS-Exporter(EXPORTER_LABEL, AttachmentContext, KDF.Nh)`.
    pub fn from_attachment_exporter_secret(
        suite: CipherSuite,
        attachment_exporter_secret: &[u8],
        nonce: &[u8],
    ) -> Result<Self> {
        let exporter = AttachmentExporterSecret::from_bytes(suite, attachment_exporter_secret)?;
        let secret = AttachmentSecret::new(suite, &exporter, nonce)?;
        Self::derive(suite, &secret)
    }

    /// The whole derivation from an openmls group in its current epoch.
    #[cfg(feature = "mls")]
    pub fn from_group(
        group: &openmls::group::MlsGroup,
        crypto: &impl openmls_traits::crypto::OpenMlsCrypto,
        attachment_hash: &[u8],
        sender_index: u32,
        nonce: &[u8],
    ) -> Result<Self> {
        let suite = suite_of_group(group)?;
        check_len("attachment_hash", suite.nh(), attachment_hash.len())?;
        let context = AttachmentContext::new(attachment_hash, sender_index);
        let exporter = AttachmentExporterSecret::from_group(group, crypto, &context)?;
        let secret = AttachmentSecret::new(suite, &exporter, nonce)?;
        Self::derive(suite, &secret)
    }

    /// The suite.
    pub fn suite(&self) -> CipherSuite {
        self.suite
    }

    /// `attachment_key` (secret material: never log it).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// `attachment_nonce` (secret material).
    pub fn nonce(&self) -> &[u8; AEAD_NONCE_LEN] {
        &self.nonce
    }
}

/// Every intermediate value of one derivation, for test vectors.
pub struct Derivation {
    /// `attachment_exporter_secret`.
    pub exporter_secret: AttachmentExporterSecret,
    /// `attachment_secret`.
    pub secret: AttachmentSecret,
    /// `attachment_key` and `attachment_nonce`.
    pub keys: AttachmentKeys,
}

impl Derivation {
    /// Runs draft §3.6 from an epoch's raw `exporter_secret`.
    pub fn from_epoch_exporter_secret(
        suite: CipherSuite,
        epoch_exporter_secret: &[u8],
        attachment_hash: &[u8],
        sender_index: u32,
        nonce: &[u8],
    ) -> Result<Self> {
        check_len("attachment_hash", suite.nh(), attachment_hash.len())?;
        let context = AttachmentContext::new(attachment_hash, sender_index);
        let exporter_secret =
            AttachmentExporterSecret::from_epoch_exporter_secret(suite, epoch_exporter_secret, &context)?;
        let secret = AttachmentSecret::new(suite, &exporter_secret, nonce)?;
        let keys = AttachmentKeys::derive(suite, &secret)?;
        Ok(Self { exporter_secret, secret, keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachment_context_encoding_uses_mls_varint() {
        let c = AttachmentContext::new(&[0xaa; 32], 7);
        let b = c.to_bytes().unwrap();
        assert_eq!(b.len(), 1 + 32 + 8);
        assert_eq!(b[0], 32);
        assert_eq!(&b[33..], &[0, 0, 0, 0, 0, 0, 0, 7]);
        // 64-byte hashes (SHA-512 suites) need the 2-byte varint 0x4040.
        let c = AttachmentContext::new(&[0xbb; 64], u32::MAX);
        let b = c.to_bytes().unwrap();
        assert_eq!(&b[..2], &[0x40, 0x40]);
        assert_eq!(&b[66..], &[0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]);
    }

    #[test]
    fn every_input_changes_the_keys() {
        let s = CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;
        let base = |es: u8, h: u8, idx: u32, n: u8| {
            AttachmentKeys::from_epoch_exporter_secret(s, &[es; 32], &[h; 32], idx, &[n; 32]).unwrap()
        };
        let k = base(1, 2, 3, 4);
        for other in [base(9, 2, 3, 4), base(1, 9, 3, 4), base(1, 2, 9, 4), base(1, 2, 3, 9)] {
            assert_ne!(k.key(), other.key());
            assert_ne!(k.nonce(), other.nonce());
        }
        assert_eq!(k.key(), base(1, 2, 3, 4).key());
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let s = CipherSuite::Mls256Dhkemp384Aes256gcmSha384P384;
        let ok = AttachmentKeys::from_epoch_exporter_secret(s, &[0; 48], &[0; 48], 0, &[0; 48]);
        assert!(ok.is_ok());
        for (es, h, n) in [(47, 48, 48), (48, 32, 48), (48, 48, 32)] {
            let r = AttachmentKeys::from_epoch_exporter_secret(s, &vec![0; es], &vec![0; h], 0, &vec![0; n]);
            assert!(matches!(r, Err(Error::InvalidLength { .. })), "{es} {h} {n}");
        }
        assert!(matches!(AttachmentKeys::from_parts(s, &[0; 16], &[0; 12]), Err(Error::InvalidLength { .. })));
        assert!(AttachmentKeys::from_parts(s, &[0; 32], &[0; 12]).is_ok());
    }

    #[test]
    fn from_attachment_exporter_secret_continues_the_derivation() {
        // An app's own MLS-Exporter output gives the same keys as the whole derivation.
        let s = CipherSuite::Mls128Dhkemx25519Chacha20poly1305Sha256Ed25519;
        let d = Derivation::from_epoch_exporter_secret(s, &[3; 32], &[4; 32], 5, &[6; 32]).unwrap();
        let k = AttachmentKeys::from_attachment_exporter_secret(s, d.exporter_secret.as_bytes(), &[6; 32]).unwrap();
        assert_eq!(k.key(), d.keys.key());
        assert_eq!(k.nonce(), d.keys.nonce());
        let other = AttachmentKeys::from_attachment_exporter_secret(s, d.exporter_secret.as_bytes(), &[7; 32]).unwrap();
        assert_ne!(other.key(), d.keys.key());
        for (es, n) in [(31, 32), (33, 32), (32, 31), (0, 32)] {
            let r = AttachmentKeys::from_attachment_exporter_secret(s, &vec![0; es], &vec![0; n]);
            assert!(matches!(r, Err(Error::InvalidLength { .. })), "{es} {n}");
        }
    }

    #[test]
    fn debug_does_not_print_key_material() {
        let s = CipherSuite::Mls128Dhkemx25519Aes128gcmSha256Ed25519;
        let k = AttachmentKeys::from_parts(s, &[0x5a; 16], &[0x5a; 12]).unwrap();
        let d = format!("{k:?}");
        assert!(!d.contains("90") && !d.contains("5a"), "{d}");
    }
}
