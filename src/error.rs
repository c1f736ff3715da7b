//! The core's one error type, with a stable machine-readable [`Error::code`].
#![forbid(unsafe_code)]

use crate::content::error::ContentError;

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
    /// MIMI content (CBOR) or an ExternalPart was malformed or did not fit its ciphertext;
    /// the defect is [`ContentError::kind`].
    #[error("bad MIMI content: {0}")]
    Content(#[from] ContentError),
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
    /// Signing a Delivery Service request with this member's leaf key failed.
    #[error("signing failed: {0}")]
    Signing(String),
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
    /// The Delivery Service refused a request. [`Error::code`] is the DS's own `code` (from its
    /// JSON error body, see [`DsCode`]), so a full DS disk (`InsufficientStorage`), a group quota
    /// (`QuotaExceeded`) and a file over the DS's limit (`TooLarge`) stay distinct; `DsError` for
    /// a code this version does not know or an answer that is not the DS's JSON.
    #[error("the Delivery Service answered {status} {code}: {message}")]
    Ds {
        /// HTTP status.
        status: u16,
        /// The DS's own error code.
        code: DsCode,
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
    /// The stable code that JavaScript callers switch on (one exhaustive match).
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Error::UnknownCipherSuite(_) => ErrorCode::UnknownCipherSuite,
            Error::BadContentType(_) => ErrorCode::BadContentType,
            Error::Content(_) => ErrorCode::BadMimiContent,
            Error::BadChunkSize(_) => ErrorCode::BadChunkSize,
            Error::InvalidLength { .. } => ErrorCode::InvalidLength,
            Error::DecryptFailed { .. } => ErrorCode::DecryptFailed,
            Error::Truncated(_) => ErrorCode::Truncated,
            Error::TrailingData => ErrorCode::TrailingData,
            Error::BadCiphertextLength(_) => ErrorCode::BadCiphertextLength,
            Error::HashMismatch => ErrorCode::HashMismatch,
            Error::TooLarge(_) => ErrorCode::TooLarge,
            Error::Codec(_) => ErrorCode::Codec,
            Error::Mls(_) => ErrorCode::Mls,
            Error::Rng => ErrorCode::Rng,
            Error::Signing(_) => ErrorCode::Signing,
            Error::InvalidState(_) => ErrorCode::InvalidState,
            Error::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Error::WrongEpoch { .. } => ErrorCode::WrongEpoch,
            Error::WrongGroup => ErrorCode::WrongGroup,
            Error::NotMember(_) => ErrorCode::NotMember,
            Error::Aborted => ErrorCode::Aborted,
            Error::Io(_) => ErrorCode::Io,
            Error::Platform(_) => ErrorCode::Platform,
            Error::Ds { code, .. } => code.error_code(),
            Error::Network(_) => ErrorCode::Network,
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
        }
    }

    /// [`Error::error_code`] as a string.
    pub fn code(&self) -> &'static str {
        self.error_code().as_str()
    }

    /// A Delivery Service error from the HTTP status and the `code` of its JSON body (`None`
    /// when the body was not the DS's JSON).
    pub fn ds(status: u16, code: Option<&str>, message: impl Into<String>) -> Self {
        let code = code.map_or(DsCode::Other(String::new()), DsCode::parse);
        Error::Ds { status, code, message: message.into() }
    }
}

/// Declares [`ErrorCode`] (every code the package throws) and [`DsCode`] (the codes a Delivery
/// Service sends), one list each, so the TypeScript union can be checked against them.
macro_rules! codes {
    (
        package { $($(#[$pm:meta])* $p:ident,)* }
        ds { $($(#[$dm:meta])* $d:ident,)* }
    ) => {
        /// Every stable `code` an error of this package carries (the TypeScript `MimiErrorCode`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$pm])* $p,)*
        }

        impl ErrorCode {
            /// All codes, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$p,)*];

            /// The code as JavaScript sees it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$p => stringify!($p),)*
                }
            }
        }

        /// The `code` of a Delivery Service's JSON error body (`{"code", "message"}`; the table
        /// in ds/README.md "Errors"). Each known code reaches JavaScript unchanged.
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        pub enum DsCode {
            $($(#[$dm])* $d,)*
            /// A code this version does not know (kept verbatim), or an empty string when the
            /// answer was not the DS's JSON; reaches JavaScript as `DsError`.
            Other(String),
        }

        impl DsCode {
            /// The known DS codes.
            pub const KNOWN: &'static [DsCode] = &[$(DsCode::$d,)*];

            /// Reads the DS's `code` string.
            pub fn parse(code: &str) -> DsCode {
                match code {
                    $(stringify!($d) => DsCode::$d,)*
                    other => DsCode::Other(other.to_string()),
                }
            }

            /// The code as the DS sent it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(DsCode::$d => stringify!($d),)*
                    DsCode::Other(s) => s,
                }
            }

            /// The package's code for it: the same name, `DsError` for an unknown code.
            pub fn error_code(&self) -> ErrorCode {
                match self {
                    $(DsCode::$d => ErrorCode::$d,)*
                    DsCode::Other(_) => ErrorCode::DsError,
                }
            }
        }

        impl core::fmt::Display for DsCode {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(if self.as_str().is_empty() { "(no code)" } else { self.as_str() })
            }
        }
    };
}

codes! {
    package {
        /// [`Error::UnknownCipherSuite`].
        UnknownCipherSuite,
        /// [`Error::BadContentType`].
        BadContentType,
        /// [`Error::Content`]: a malformed MIMI-content part (with `kind`).
        BadMimiContent,
        /// [`Error::BadChunkSize`].
        BadChunkSize,
        /// [`Error::InvalidLength`].
        InvalidLength,
        /// [`Error::DecryptFailed`].
        DecryptFailed,
        /// [`Error::Truncated`].
        Truncated,
        /// [`Error::TrailingData`].
        TrailingData,
        /// [`Error::BadCiphertextLength`].
        BadCiphertextLength,
        /// [`Error::HashMismatch`].
        HashMismatch,
        /// [`Error::TooLarge`], or the DS's `TooLarge` (over its per-file limit).
        TooLarge,
        /// [`Error::Codec`].
        Codec,
        /// [`Error::Mls`].
        Mls,
        /// [`Error::Rng`].
        Rng,
        /// [`Error::Signing`].
        Signing,
        /// [`Error::InvalidState`].
        InvalidState,
        /// [`Error::AlreadyExists`]: `MlsClient.create` over a stored client without `replace: true`.
        AlreadyExists,
        /// [`Error::WrongEpoch`], or the DS's `WrongEpoch` (a handshake for another epoch).
        WrongEpoch,
        /// [`Error::WrongGroup`].
        WrongGroup,
        /// [`Error::NotMember`].
        NotMember,
        /// [`Error::Aborted`].
        Aborted,
        /// [`Error::Io`].
        Io,
        /// [`Error::Platform`].
        Platform,
        /// [`Error::Network`].
        Network,
        /// [`Error::InvalidArgument`].
        InvalidArgument,
        /// DS: malformed request.
        BadRequest,
        /// DS: openmls rejected a GroupInfo, commit, proposal or key package.
        InvalidMessage,
        /// DS: the request signature header is missing or malformed.
        Unauthorized,
        /// DS: the signature does not cover this method, path or body.
        BadSignature,
        /// DS: the request's timestamp is outside the DS's clock skew.
        Stale,
        /// DS: signed at an epoch the DS no longer accepts.
        StaleEpoch,
        /// DS: the request's nonce was already used.
        Replay,
        /// DS: not a current member of the group (or not allowed by policy).
        Forbidden,
        /// DS: unknown, expired or deleted token or upload.
        NotFound,
        /// DS: method not allowed on the route.
        MethodNotAllowed,
        /// DS: the request body stopped arriving.
        Timeout,
        /// DS: upload offset mismatch, upload busy, group exists.
        Conflict,
        /// DS: byte range beyond the end.
        RangeNotSatisfiable,
        /// DS: too many key-package claims or group registrations (`Retry-After`).
        RateLimited,
        /// DS: the group's or the client's byte or count quota.
        QuotaExceeded,
        /// DS: the DS's disk is full.
        InsufficientStorage,
        /// DS: a storage engine (PostgreSQL, the object store) cannot be reached; retry.
        Unavailable,
        /// DS: an internal failure.
        Internal,
        /// DS: a code this version does not know, or an answer that is not the DS's JSON.
        DsError,
    }
    ds {
        /// 400.
        BadRequest,
        /// 400.
        InvalidMessage,
        /// 401.
        Unauthorized,
        /// 401.
        BadSignature,
        /// 401.
        Stale,
        /// 401.
        StaleEpoch,
        /// 401.
        Replay,
        /// 403.
        Forbidden,
        /// 404.
        NotFound,
        /// 405.
        MethodNotAllowed,
        /// 408.
        Timeout,
        /// 409.
        Conflict,
        /// 409.
        WrongEpoch,
        /// 413.
        TooLarge,
        /// 416.
        RangeNotSatisfiable,
        /// 429.
        RateLimited,
        /// 507.
        QuotaExceeded,
        /// 507.
        InsufficientStorage,
        /// 503.
        Unavailable,
        /// 500.
        Internal,
    }
}

impl From<tls_codec::Error> for Error {
    fn from(e: tls_codec::Error) -> Self {
        Error::Codec(e.to_string())
    }
}

/// Why a content type was rejected. [`ContentTypeError::kind`] is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentTypeError {
    /// Longer than `reference::MAX_CONTENT_TYPE_LEN` (4096) bytes.
    #[error("longer than 4096 bytes ({0})")]
    TooLong(usize),
    /// A byte that is not printable US-ASCII, space or tab.
    #[error("byte {0} is not printable US-ASCII")]
    NonAscii(usize),
    /// RFC 2045 syntax violated.
    #[error("syntax error at byte {pos}: {what}")]
    Syntax {
        /// Byte offset.
        pos: usize,
        /// What was expected.
        what: &'static str,
    },
    /// Not `message/external-body`.
    #[error("media type is {0:?}, expected message/external-body")]
    WrongMediaType(String),
    /// `access-type` other than `token`.
    #[error("access-type is {0:?}, expected token")]
    WrongAccessType(String),
    /// A parameter given twice.
    #[error("parameter {0:?} appears more than once")]
    DuplicateParameter(String),
    /// A required parameter is absent.
    #[error("required parameter {0:?} is missing")]
    MissingParameter(&'static str),
    /// `name*=` or `name*0=` (RFC 2231) for one of our parameters.
    #[error("parameter {0:?}: RFC 2231 extended or continued parameters are not supported")]
    Rfc2231(String),
    /// Not unpadded base64url.
    #[error("parameter {0:?} is not unpadded base64url")]
    BadBase64(&'static str),
    /// Decoded value of the wrong length for the group's cipher suite.
    #[error("parameter {param:?} has {got} bytes, the cipher suite needs {expected}")]
    BadLength {
        /// Parameter name.
        param: &'static str,
        /// Required length.
        expected: usize,
        /// Decoded length.
        got: usize,
    },
    /// `token` empty or longer than `reference::MAX_TOKEN_LEN` (512) bytes.
    #[error("token has {0} bytes (allowed 1..=512)")]
    BadTokenLength(usize),
    /// Not a decimal number that fits 64 bits.
    #[error("parameter {0:?} is not a decimal number below 2^64")]
    BadNumber(&'static str),
    /// `chunk-size` out of range.
    #[error("chunk-size {0} is out of range (1024..=16777216)")]
    BadChunkSize(u64),
}

impl ContentTypeError {
    /// A stable name for the kind of defect (used by the vector files and the JS API).
    pub fn kind(&self) -> &'static str {
        match self {
            ContentTypeError::TooLong(_) => "TooLong",
            ContentTypeError::NonAscii(_) => "NonAscii",
            ContentTypeError::Syntax { .. } => "Syntax",
            ContentTypeError::WrongMediaType(_) => "WrongMediaType",
            ContentTypeError::WrongAccessType(_) => "WrongAccessType",
            ContentTypeError::DuplicateParameter(_) => "DuplicateParameter",
            ContentTypeError::MissingParameter(_) => "MissingParameter",
            ContentTypeError::Rfc2231(_) => "Rfc2231",
            ContentTypeError::BadBase64(_) => "BadBase64",
            ContentTypeError::BadLength { .. } => "BadLength",
            ContentTypeError::BadTokenLength(_) => "BadTokenLength",
            ContentTypeError::BadNumber(_) => "BadNumber",
            ContentTypeError::BadChunkSize(_) => "BadChunkSize",
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(rel: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).expect(rel)
    }

    /// The TypeScript union `MimiErrorCode` (src/web/error.rs) lists exactly [`ErrorCode::ALL`].
    #[test]
    fn typescript_union_is_the_rust_list() {
        let src = read("src/web/error.rs");
        let start = src.find("export type MimiErrorCode =").expect("union") + "export type MimiErrorCode =".len();
        let end = start + src[start..].find(';').expect("end of union");
        let mut ts: Vec<&str> =
            src[start..end].split('|').map(|s| s.trim().trim_matches('"')).filter(|s| !s.is_empty()).collect();
        let mut rust: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        ts.sort_unstable();
        rust.sort_unstable();
        assert_eq!(ts, rust);
    }

    /// Every code of the DS's error table (ds/README.md "Errors") is a known [`DsCode`], and
    /// every known [`DsCode`] is in that table.
    #[test]
    fn ds_codes_are_the_ds_table() {
        let readme = read("ds/README.md");
        let mut table: Vec<String> = readme
            .lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let status = cells.get(1)?;
                let code = cells.get(2)?.strip_prefix('`')?.strip_suffix('`')?;
                status.parse::<u16>().ok().map(|_| code.to_string())
            })
            .collect();
        table.sort();
        table.dedup();
        assert!(table.len() >= 15, "table found: {table:?}");
        let mut known: Vec<String> = DsCode::KNOWN.iter().map(|c| c.as_str().to_string()).collect();
        known.sort();
        assert_eq!(table, known);
        for c in table {
            assert_eq!(DsCode::parse(&c).error_code().as_str(), c, "{c} reaches JS unchanged");
        }
    }

    /// DS failures carry the DS's own code, not one derived from the HTTP status.
    #[test]
    fn ds_errors_keep_their_code_and_status() {
        for (status, code) in [
            (507, "InsufficientStorage"),
            (507, "QuotaExceeded"),
            (413, "TooLarge"),
            (409, "WrongEpoch"),
            (409, "Conflict"),
            (401, "Replay"),
            (401, "StaleEpoch"),
            (401, "Unauthorized"),
        ] {
            let e = Error::ds(status, Some(code), "m");
            assert_eq!(e.code(), code);
            assert!(matches!(e, Error::Ds { status: s, .. } if s == status));
        }
        assert_eq!(Error::ds(418, Some("Teapot"), "m").code(), "DsError");
        assert_eq!(Error::ds(502, None, "Bad Gateway").code(), "DsError");
        assert_eq!(Error::ds(418, Some("Teapot"), "m").to_string(), "the Delivery Service answered 418 Teapot: m");
    }

    #[test]
    fn codes_are_unique() {
        let mut v: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        let n = v.len();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), n);
    }
}
