//! The attachment reference of draft §3.2, carried as the message body's content type:
//!
//! ```text
//! message/external-body; access-type=token; token=<t>; nonce=<n>; hash=<h>[; chunk-size=<N>][; size=<bytes>]
//! ```
//!
//! `token`, `nonce` and `hash` are base64url without padding (RFC 4648 §5). Parsing follows
//! RFC 2045 §5.1 (with RFC 822 lexical rules): type, subtype and parameter names are
//! case-insensitive; white space and comments may surround tokens; values are tokens or quoted
//! strings; unknown parameters are ignored. Any duplicated parameter, a missing required one,
//! RFC 2231 extended/continued forms of our parameters, bad base64url, wrong lengths and
//! out-of-range numbers are errors, each with its own [`ContentTypeError`] kind.
#![forbid(unsafe_code)]

use crate::format::ChunkSize;
use crate::suite::CipherSuite;

/// The media type of a reference.
pub const MEDIA_TYPE: &str = "message/external-body";
/// Longest content type we parse.
pub const MAX_CONTENT_TYPE_LEN: usize = 4096;
/// Longest Delivery Service token (decoded bytes).
pub const MAX_TOKEN_LEN: usize = 512;

pub use crate::error::ContentTypeError;

type CtResult<T> = core::result::Result<T, ContentTypeError>;

/// A parsed reference that has not yet been checked against a group's cipher suite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalBodyIn {
    token: Vec<u8>,
    nonce: Vec<u8>,
    hash: Vec<u8>,
    chunk_size: Option<ChunkSize>,
    size: Option<u64>,
}

/// A reference checked against a cipher suite: `nonce` and `hash` are `KDF.Nh` bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalBody {
    /// The Delivery Service token (`UploadAttachmentResponse.token`).
    pub token: Vec<u8>,
    /// The random `nonce` of draft §3.6.
    pub nonce: Vec<u8>,
    /// `attachment_hash = Hash(plaintext)`.
    pub hash: Vec<u8>,
    /// `Some(N)` for chunked v1, `None` for the draft's one-shot form.
    pub chunk_size: Option<ChunkSize>,
    /// Plaintext size in bytes, when the sender gave it.
    pub size: Option<u64>,
}

impl ExternalBodyIn {
    /// Parses a content type (RFC 2045 §5.1).
    pub fn parse(s: &str) -> CtResult<Self> {
        let b = s.as_bytes();
        if b.len() > MAX_CONTENT_TYPE_LEN {
            return Err(ContentTypeError::TooLong(b.len()));
        }
        if let Some(pos) = b.iter().position(|&c| !(c == b'\t' || (0x20..0x7f).contains(&c))) {
            return Err(ContentTypeError::NonAscii(pos));
        }
        let mut p = Lexer { b, pos: 0 };
        p.skip_cfws()?;
        let ty = p.token()?;
        p.skip_cfws()?;
        p.eat(b'/', "expected '/' after the type")?;
        p.skip_cfws()?;
        let sub = p.token()?;
        if !ty.eq_ignore_ascii_case("message") || !sub.eq_ignore_ascii_case("external-body") {
            return Err(ContentTypeError::WrongMediaType(format!("{ty}/{sub}")));
        }
        let mut seen: Vec<String> = Vec::new();
        let (mut access, mut token, mut nonce, mut hash, mut chunk, mut size) = (None, None, None, None, None, None);
        loop {
            p.skip_cfws()?;
            if p.eof() {
                break;
            }
            p.eat(b';', "expected ';' between parameters")?;
            p.skip_cfws()?;
            if p.eof() {
                break; // a trailing ';' is tolerated
            }
            let name = p.token()?.to_ascii_lowercase();
            p.skip_cfws()?;
            p.eat(b'=', "expected '=' after the parameter name")?;
            p.skip_cfws()?;
            let value = if p.peek() == Some(b'"') { p.quoted()? } else { p.token()?.to_string() };
            if seen.contains(&name) {
                return Err(ContentTypeError::DuplicateParameter(name));
            }
            seen.push(name.clone());
            match name.as_str() {
                "access-type" => access = Some(value),
                "token" => token = Some(value),
                "nonce" => nonce = Some(value),
                "hash" => hash = Some(value),
                "chunk-size" => chunk = Some(value),
                "size" => size = Some(value),
                other => {
                    if let Some((base, _)) = other.split_once('*') {
                        if matches!(base, "access-type" | "token" | "nonce" | "hash" | "chunk-size" | "size") {
                            return Err(ContentTypeError::Rfc2231(name));
                        }
                    }
                }
            }
        }
        let access = access.ok_or(ContentTypeError::MissingParameter("access-type"))?;
        if !access.eq_ignore_ascii_case("token") {
            return Err(ContentTypeError::WrongAccessType(access));
        }
        let token = b64("token", token.ok_or(ContentTypeError::MissingParameter("token"))?)?;
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(ContentTypeError::BadTokenLength(token.len()));
        }
        let nonce = b64("nonce", nonce.ok_or(ContentTypeError::MissingParameter("nonce"))?)?;
        let hash = b64("hash", hash.ok_or(ContentTypeError::MissingParameter("hash"))?)?;
        let chunk_size = match chunk {
            None => None,
            Some(v) => {
                let n = number("chunk-size", &v)?;
                Some(ChunkSize::new(n).map_err(|_| ContentTypeError::BadChunkSize(n))?)
            }
        };
        let size = size.map(|v| number("size", &v)).transpose()?;
        Ok(Self { token, nonce, hash, chunk_size, size })
    }

    /// Checks `nonce` and `hash` against the group's suite (`KDF.Nh` bytes each).
    pub fn validate(self, suite: CipherSuite) -> CtResult<ExternalBody> {
        let nh = suite.nh();
        for (param, v) in [("nonce", &self.nonce), ("hash", &self.hash)] {
            if v.len() != nh {
                return Err(ContentTypeError::BadLength { param, expected: nh, got: v.len() });
            }
        }
        Ok(ExternalBody {
            token: self.token,
            nonce: self.nonce,
            hash: self.hash,
            chunk_size: self.chunk_size,
            size: self.size,
        })
    }
}

impl ExternalBody {
    /// Parses and validates in one step.
    pub fn parse(s: &str, suite: CipherSuite) -> CtResult<Self> {
        ExternalBodyIn::parse(s)?.validate(suite)
    }

    /// The content type string (canonical form: lower case, `; ` separators, unpadded base64url).
    pub fn to_content_type(&self) -> String {
        let mut s = format!(
            "{MEDIA_TYPE}; access-type=token; token={}; nonce={}; hash={}",
            crate::b64::encode(&self.token),
            crate::b64::encode(&self.nonce),
            crate::b64::encode(&self.hash)
        );
        if let Some(cs) = self.chunk_size {
            s.push_str(&format!("; chunk-size={}", cs.get()));
        }
        if let Some(size) = self.size {
            s.push_str(&format!("; size={size}"));
        }
        s
    }
}

fn b64(param: &'static str, v: String) -> CtResult<Vec<u8>> {
    crate::b64::decode(v.as_bytes()).map_err(|_| ContentTypeError::BadBase64(param))
}

fn number(param: &'static str, v: &str) -> CtResult<u64> {
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ContentTypeError::BadNumber(param));
    }
    v.parse::<u64>().map_err(|_| ContentTypeError::BadNumber(param))
}

/// RFC 822 / RFC 2045 lexical scanner over printable ASCII (checked by the caller).
struct Lexer<'a> {
    b: &'a [u8],
    pos: usize,
}

const TSPECIALS: &[u8] = b"()<>@,;:\\\"/[]?=";

impl<'a> Lexer<'a> {
    fn eof(&self) -> bool {
        self.pos >= self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn err(&self, what: &'static str) -> ContentTypeError {
        ContentTypeError::Syntax { pos: self.pos, what }
    }

    fn eat(&mut self, c: u8, what: &'static str) -> CtResult<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(what))
        }
    }

    /// Skips white space and (nested) comments.
    fn skip_cfws(&mut self) -> CtResult<()> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t') => self.pos += 1,
                Some(b'(') => {
                    let mut depth = 0usize;
                    loop {
                        match self.peek() {
                            None => return Err(self.err("unterminated comment")),
                            Some(b'\\') => self.pos += 2,
                            Some(b'(') => {
                                depth += 1;
                                self.pos += 1
                            }
                            Some(b')') => {
                                self.pos += 1;
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            Some(_) => self.pos += 1,
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn token(&mut self) -> CtResult<&'a str> {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if c <= b' ' || c >= 0x7f || TSPECIALS.contains(&c) {
                break;
            }
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.err("expected a token"));
        }
        // Only ASCII bytes were consumed.
        core::str::from_utf8(self.b.get(start..self.pos).unwrap_or_default()).map_err(|_| self.err("expected a token"))
    }

    fn quoted(&mut self) -> CtResult<String> {
        self.eat(b'"', "expected '\"'")?;
        let mut v = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated quoted string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(v);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            v.push(char::from(c));
                            self.pos += 1;
                        }
                        None => return Err(self.err("unterminated quoted string")),
                    }
                }
                Some(c) => {
                    v.push(char::from(c));
                    self.pos += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{MAX_CHUNK_SIZE, MIN_CHUNK_SIZE};

    /// `ContentTypeError` lives in `error.rs` (below every other module), so its messages print
    /// the limits as numbers: they must be these constants.
    #[test]
    fn error_messages_print_the_limits() {
        assert!(ContentTypeError::TooLong(1).to_string().contains(&MAX_CONTENT_TYPE_LEN.to_string()));
        assert!(ContentTypeError::BadTokenLength(0).to_string().contains(&format!("1..={MAX_TOKEN_LEN}")));
        assert!(ContentTypeError::BadChunkSize(1)
            .to_string()
            .contains(&format!("({MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE})")));
    }
}
