//! The error of the MIMI-content layer. It imports nothing from the crate, so the core
//! [`crate::Error`] can wrap it without an import cycle.

/// Why MIMI content (CBOR) or an ExternalPart was rejected. [`ContentError::kind`] is stable
/// (the JS API's `kind`, the vector files' expected value); the core [`crate::Error`] wraps it as
/// `Error::Content` with code `BadMimiContent`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentError {
    /// The input ended inside a data item.
    #[error("CBOR input is truncated")]
    Truncated,
    /// Bytes follow the top-level item.
    #[error("{0} bytes follow the CBOR item")]
    TrailingBytes(usize),
    /// A head not in its shortest form, or map keys out of order (RFC 8949 §4.2.1).
    #[error("CBOR not in deterministic encoding at byte {0}")]
    NotDeterministic(usize),
    /// An indefinite-length item (not allowed in deterministic encoding).
    #[error("indefinite-length CBOR item at byte {0}")]
    IndefiniteLength(usize),
    /// Reserved additional information (28..30).
    #[error("reserved CBOR additional information at byte {0}")]
    Reserved(usize),
    /// A field of the wrong CBOR type.
    #[error("{field}: expected {expected}, got {got}")]
    WrongType {
        /// Field name (draft's CDDL).
        field: &'static str,
        /// Expected type.
        expected: &'static str,
        /// Type found.
        got: &'static str,
    },
    /// An array with a length the CDDL does not allow (for a part: not matching its cardinality).
    #[error("{field}: array of {got} elements not allowed")]
    WrongArrayLength {
        /// Field name.
        field: &'static str,
        /// Length found.
        got: u64,
    },
    /// An integer above the field's `.size` (or enumeration) limit.
    #[error("{field}: {value} is above {max}")]
    OutOfRange {
        /// Field name.
        field: &'static str,
        /// Value found.
        value: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A string or map longer than our limit for that field (docs/MIMI-CONTENT.md).
    #[error("{field}: {len} exceeds the limit of {max}")]
    TooLong {
        /// Field name.
        field: &'static str,
        /// Length found.
        len: u64,
        /// Limit.
        max: usize,
    },
    /// A text string that is not UTF-8.
    #[error("{0}: not valid UTF-8")]
    BadUtf8(&'static str),
    /// Arrays/maps nested deeper than the limit.
    #[error("nesting too deep")]
    TooDeep,
    /// A map key given twice.
    #[error("duplicate map key")]
    DuplicateKey,
    /// Cardinality other than 0..=3.
    #[error("unknown cardinality {0}")]
    UnknownCardinality(u64),
    /// An `encAlg` that is not 0, 1, 2, 8 (quirk, see [`open`]) or 29.
    #[error("unsupported encAlg {0} (supported: 0, 1, 2, 29; 8 as AES-256-GCM with a 16-byte tag)")]
    UnknownEncAlg(u16),
    /// A `hashAlg` that is not 1 (sha-256), 7 (sha-384), 8 (sha-512), or 0 with an empty hash.
    #[error("unsupported hashAlg {0} (supported: 1 sha-256, 7 sha-384, 8 sha-512)")]
    UnknownHashAlg(u8),
    /// `key`, `nonce`, `aad` or `contentHash` of a length that disagrees with `encAlg`/`hashAlg`.
    #[error("{field} has {got} bytes, {alg} needs {expected}")]
    LengthMismatch {
        /// Field name.
        field: &'static str,
        /// The algorithm that fixes the length.
        alg: &'static str,
        /// Required length.
        expected: usize,
        /// Length found.
        got: usize,
    },
    /// `url` empty, or with white space or control characters.
    #[error("url is not a URI")]
    BadUrl,
    /// `filename` with a path separator or a control character.
    #[error("filename contains a path separator or control character")]
    BadFilename,
    /// A body with more parts than the limit.
    #[error("more than {0} body parts")]
    TooManyParts(usize),
    /// A `message/external-body`-style parameter of ours in `contentType` is malformed.
    #[error("contentType parameter {0:?} is malformed")]
    BadParameter(&'static str),
    /// The part is not one of our references (no `mimi-nonce` parameter) where one is needed.
    #[error("not a mimi-attachments reference: {0}")]
    NotAReference(&'static str),
    /// encAlg 8: the ciphertext length does not prove a 16-byte tag (see [`open`]).
    #[error("encAlg 8 with a ciphertext length that does not prove a 16-byte tag")]
    AmbiguousTag,
    /// The downloaded ciphertext does not have the length the part's `size` announces.
    #[error("ciphertext of {got} bytes does not fit the part's size {size}")]
    SizeMismatch {
        /// The part's `size`.
        size: u64,
        /// Ciphertext bytes received.
        got: u64,
    },
    /// The explicit key/nonce of the part differ from the ones derived from the group.
    #[error("the part's key or nonce differs from the one the group derives")]
    KeyMismatch,
}

impl ContentError {
    /// A stable name for the kind of defect.
    pub fn kind(&self) -> &'static str {
        match self {
            ContentError::Truncated => "Truncated",
            ContentError::TrailingBytes(_) => "TrailingBytes",
            ContentError::NotDeterministic(_) => "NotDeterministic",
            ContentError::IndefiniteLength(_) => "IndefiniteLength",
            ContentError::Reserved(_) => "Reserved",
            ContentError::WrongType { .. } => "WrongType",
            ContentError::WrongArrayLength { .. } => "WrongArrayLength",
            ContentError::OutOfRange { .. } => "OutOfRange",
            ContentError::TooLong { .. } => "TooLong",
            ContentError::BadUtf8(_) => "BadUtf8",
            ContentError::TooDeep => "TooDeep",
            ContentError::DuplicateKey => "DuplicateKey",
            ContentError::UnknownCardinality(_) => "UnknownCardinality",
            ContentError::UnknownEncAlg(_) => "UnknownEncAlg",
            ContentError::UnknownHashAlg(_) => "UnknownHashAlg",
            ContentError::LengthMismatch { .. } => "LengthMismatch",
            ContentError::BadUrl => "BadUrl",
            ContentError::BadFilename => "BadFilename",
            ContentError::TooManyParts(_) => "TooManyParts",
            ContentError::BadParameter(_) => "BadParameter",
            ContentError::NotAReference(_) => "NotAReference",
            ContentError::AmbiguousTag => "AmbiguousTag",
            ContentError::SizeMismatch { .. } => "SizeMismatch",
            ContentError::KeyMismatch => "KeyMismatch",
        }
    }
}
