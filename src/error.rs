//! The core's one error type, with a stable machine-readable [`Error::code`].
#![forbid(unsafe_code)]

use crate::reference::ContentTypeError;

/// Everything the core can fail with. Decrypt errors are deliberately coarse: they say *where*
/// (chunk index) and *what kind* (tag, truncation, trailing data, hash) but never leak key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The MLS cipher suite is not one of RFC 9420's seven (0x0001..=0x0007).
    #[error("unknown or unsupported MLS cipher suite 0x{0:04x}")]
    UnknownCipherSuite(u16),
    /// The `message/external-body` reference could not be parsed or validated.
    #[error("bad content type: {0}")]
    BadContentType(#[from] ContentTypeError),
    /// `chunk-size` outside `1024..=16 MiB`.
    #[error("chunk size {0} is out of range (1024..=16777216)")]
    BadChunkSize(u64),
    /// An input of the wrong length (key, nonce, secret, hash, exporter output).
    #[error("invalid length of {what}: expected {expected}, got {got}")]
    InvalidLength {
        /// Which input.
        what: &'static str,
        /// Required length in bytes.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// An AEAD tag did not verify: wrong key (wrong group, epoch, sender, nonce or hash) or
    /// altered, reordered or substituted ciphertext.
    #[error("decryption failed at chunk {chunk}: wrong key or corrupted ciphertext")]
    DecryptFailed {
        /// 0-based chunk index (0 for the one-shot form).
        chunk: u64,
    },
    /// The ciphertext ended before its final chunk.
    #[error("ciphertext is truncated: {0}")]
    Truncated(&'static str),
    /// Data follows the final chunk.
    #[error("data follows the final chunk")]
    TrailingData,
    /// A ciphertext length that no valid chunk sequence has.
    #[error("ciphertext length {0} is not a valid chunk sequence")]
    BadCiphertextLength(u64),
    /// The decrypted plaintext does not hash to the `hash` of the reference.
    #[error("the plaintext does not match the attachment hash")]
    HashMismatch,
    /// More than 2^32 chunks, or a length that overflows.
    #[error("attachment too large: {0}")]
    TooLarge(&'static str),
    /// TLS encoding or decoding of a wire struct failed.
    #[error("TLS codec: {0}")]
    Codec(String),
    /// openmls refused an operation (for example exporting from an inactive group).
    #[error("MLS: {0}")]
    Mls(String),
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// The message carrying a reference is from another epoch than the group is in now: keys
    /// must be derived when the message is processed, in its epoch.
    #[error("the group is in epoch {current}, the message is from epoch {message}")]
    WrongEpoch {
        /// The group's epoch.
        current: u64,
        /// The message's epoch.
        message: u64,
    },
    /// A stored reference or message belongs to another group.
    #[error("the attachment belongs to another group")]
    WrongGroup,
    /// No member sits at that leaf index, or the client is no longer a member.
    #[error("not a member: {0}")]
    NotMember(&'static str),
    /// The caller aborted the operation (AbortSignal).
    #[error("aborted")]
    Aborted,
    /// Reading the input (Blob, stream) failed.
    #[error("reading the input failed: {0}")]
    Io(String),
    /// The Delivery Service refused a request. `code()` is `Forbidden` (403: not a member),
    /// `NotFound` (404: unknown, expired or deleted token), `QuotaExceeded` (413/507),
    /// `Unauthorized` (401), `Conflict` (409) or `DsError` (anything else).
    #[error("the Delivery Service answered {status} {ds_code}: {message}")]
    Ds {
        /// HTTP status.
        status: u16,
        /// The DS's own error code.
        ds_code: String,
        /// The DS's message.
        message: String,
    },
    /// The Delivery Service could not be reached (after retries where the call retries).
    #[error("network error: {0}")]
    Network(String),
    /// A browser API (WebCrypto, IndexedDB) failed.
    #[error("browser API failed: {0}")]
    Platform(String),
    /// An argument of the wrong type or out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Something is already stored under that name (e.g. `MlsClient.create` over a saved client
    /// without `replace: true`).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// An object was used after it finished or failed.
    #[error("invalid state: {0}")]
    InvalidState(&'static str),
}

impl Error {
    /// A stable identifier that JavaScript callers and the Delivery Service can switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownCipherSuite(_) => "UnknownCipherSuite",
            Error::BadContentType(_) => "BadContentType",
            Error::BadChunkSize(_) => "BadChunkSize",
            Error::InvalidLength { .. } => "InvalidLength",
            Error::DecryptFailed { .. } => "DecryptFailed",
            Error::Truncated(_) => "Truncated",
            Error::TrailingData => "TrailingData",
            Error::BadCiphertextLength(_) => "BadCiphertextLength",
            Error::HashMismatch => "HashMismatch",
            Error::TooLarge(_) => "TooLarge",
            Error::Codec(_) => "Codec",
            Error::Mls(_) => "Mls",
            Error::Rng => "Rng",
            Error::InvalidState(_) => "InvalidState",
            Error::AlreadyExists(_) => "AlreadyExists",
            Error::WrongEpoch { .. } => "WrongEpoch",
            Error::WrongGroup => "WrongGroup",
            Error::NotMember(_) => "NotMember",
            Error::Aborted => "Aborted",
            Error::Io(_) => "Io",
            Error::Platform(_) => "Platform",
            Error::Ds { status, .. } => match status {
                403 => "Forbidden",
                404 => "NotFound",
                413 | 507 => "QuotaExceeded",
                401 => "Unauthorized",
                409 => "Conflict",
                _ => "DsError",
            },
            Error::Network(_) => "Network",
            Error::InvalidArgument(_) => "InvalidArgument",
        }
    }
}

impl From<tls_codec::Error> for Error {
    fn from(e: tls_codec::Error) -> Self {
        Error::Codec(e.to_string())
    }
}

/// Shorthand for the core's results.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Checks that `got` has the length `expected`.
pub(crate) fn check_len(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(Error::InvalidLength { what, expected, got })
    }
}
