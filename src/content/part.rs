//! The MIMI content container and its body parts (draft-ietf-mimi-content-07 §4.1, §4.4, §4.5),
//! encoded and decoded as deterministic CBOR. Decoding validates everything our limits and the
//! CDDL fix; encoding validates first, so `decode(encode(x)) == x` and `encode(decode(b)) == b`.
#![forbid(unsafe_code)]

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::cbor::{self, Reader, Writer};
use super::ContentError as E;

type R<T> = Result<T, E>;

/// Longest `contentType`, `language` and `description` (bytes).
pub const MAX_TEXT_LEN: usize = 4096;
/// Longest `url` (bytes).
pub const MAX_URL_LEN: usize = 8192;
/// Longest `filename` (bytes).
pub const MAX_FILENAME_LEN: usize = 1024;
/// Longest `aad` and `topicId` (bytes).
pub const MAX_AAD_LEN: usize = 4096;
/// Longest inline `content` of a SinglePart (bytes).
pub const MAX_INLINE_LEN: usize = 8 << 20;
/// Most body parts in one message (all levels).
pub const MAX_PARTS: usize = 64;
/// Deepest MultiPart nesting.
pub const MAX_PART_DEPTH: usize = 8;
/// Most extensions in one message; each value is at most 4095 bytes (§4.3).
pub const MAX_EXTENSIONS: u64 = 64;

/// Disposition `attachment` (§4.4).
pub const DISPOSITION_ATTACHMENT: u8 = 6;
/// Disposition `preview` (§4.4).
pub const DISPOSITION_PREVIEW: u8 = 8;

/// IANA AEAD ids we know (RFC 5116 registry).
pub mod enc_alg {
    /// Not encrypted.
    pub const NONE: u16 = 0;
    /// AEAD_AES_128_GCM.
    pub const AES_128_GCM: u16 = 1;
    /// AEAD_AES_256_GCM.
    pub const AES_256_GCM: u16 = 2;
    /// AEAD_AES_256_GCM_12 in the registry; one sender uses it for AES-256-GCM with a 16-byte
    /// tag. Accepted only where the ciphertext length proves a 16-byte tag (`content::open`).
    pub const AES_256_GCM_QUIRK: u16 = 8;
    /// AEAD_CHACHA20_POLY1305.
    pub const CHACHA20_POLY1305: u16 = 29;
}

/// IANA Named Information hash algorithm ids we know.
pub mod hash_alg {
    /// No hash (contentHash empty).
    pub const NONE: u8 = 0;
    /// sha-256.
    pub const SHA_256: u8 = 1;
    /// sha-384.
    pub const SHA_384: u8 = 7;
    /// sha-512.
    pub const SHA_512: u8 = 8;
}

/// `(name, key length)` of an encAlg, or None if unknown.
pub(crate) fn enc_alg_info(id: u16) -> Option<(&'static str, usize)> {
    match id {
        enc_alg::NONE => Some(("encAlg 0", 0)),
        enc_alg::AES_128_GCM => Some(("AES-128-GCM", 16)),
        enc_alg::AES_256_GCM => Some(("AES-256-GCM", 32)),
        enc_alg::AES_256_GCM_QUIRK => Some(("AES-256-GCM (id 8)", 32)),
        enc_alg::CHACHA20_POLY1305 => Some(("ChaCha20-Poly1305", 32)),
        _ => None,
    }
}

/// `(name, digest length)` of a hashAlg, or None if unknown.
pub(crate) fn hash_alg_info(id: u8) -> Option<(&'static str, usize)> {
    match id {
        hash_alg::NONE => Some(("hashAlg 0", 0)),
        hash_alg::SHA_256 => Some(("sha-256", 32)),
        hash_alg::SHA_384 => Some(("sha-384", 48)),
        hash_alg::SHA_512 => Some(("sha-512", 64)),
        _ => None,
    }
}

/// An ExternalPart (§4.5). `key` is secret: it is zeroized on drop and left out of `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ExternalPart {
    /// IANA media type with parameters.
    pub content_type: String,
    /// Where the content can be fetched.
    pub url: String,
    /// Seconds since the UNIX epoch after which the content is gone; 0: does not expire.
    pub expires: u32,
    /// Size in octets; 0: not given.
    pub size: u64,
    /// IANA AEAD id, or 0.
    pub enc_alg: u16,
    /// AEAD key (empty for encAlg 0).
    pub key: Zeroizing<Vec<u8>>,
    /// AEAD nonce (12 bytes, empty for encAlg 0).
    pub nonce: Vec<u8>,
    /// AEAD additional data.
    pub aad: Vec<u8>,
    /// IANA Named Information hash id.
    pub hash_alg: u8,
    /// The hash (see `mapping` for the two semantics we read).
    pub content_hash: Vec<u8>,
    /// Optional description ("" if none).
    pub description: String,
    /// Optional suggested file name ("" if none).
    pub filename: String,
}

impl core::fmt::Debug for ExternalPart {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ExternalPart")
            .field("content_type", &self.content_type)
            .field("url", &self.url)
            .field("expires", &self.expires)
            .field("size", &self.size)
            .field("enc_alg", &self.enc_alg)
            .field("hash_alg", &self.hash_alg)
            .field("filename", &self.filename)
            .finish_non_exhaustive()
    }
}

impl ExternalPart {
    /// Checks the field relations the CDDL leaves to the text and our limits.
    pub fn validate(&self) -> R<()> {
        let text = |field, s: &str, max: usize| {
            if s.len() > max {
                Err(E::TooLong { field, len: s.len() as u64, max })
            } else {
                Ok(())
            }
        };
        text("contentType", &self.content_type, MAX_TEXT_LEN)?;
        text("url", &self.url, MAX_URL_LEN)?;
        text("description", &self.description, MAX_TEXT_LEN)?;
        text("filename", &self.filename, MAX_FILENAME_LEN)?;
        if self.aad.len() > MAX_AAD_LEN {
            return Err(E::TooLong { field: "aad", len: self.aad.len() as u64, max: MAX_AAD_LEN });
        }
        if self.url.is_empty() || self.url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(E::BadUrl);
        }
        if self.filename.chars().any(|c| c == '/' || c == '\\' || c.is_control()) {
            return Err(E::BadFilename);
        }
        let (alg, nk) = enc_alg_info(self.enc_alg).ok_or(E::UnknownEncAlg(self.enc_alg))?;
        let nn = if self.enc_alg == enc_alg::NONE { 0 } else { 12 };
        let len = |field, expected: usize, got: usize| {
            if expected == got {
                Ok(())
            } else {
                Err(E::LengthMismatch { field, alg, expected, got })
            }
        };
        len("key", nk, self.key.len())?;
        len("nonce", nn, self.nonce.len())?;
        if self.enc_alg == enc_alg::NONE {
            len("aad", 0, self.aad.len())?;
        }
        let (halg, nh) = hash_alg_info(self.hash_alg).ok_or(E::UnknownHashAlg(self.hash_alg))?;
        if self.content_hash.len() != nh {
            return Err(E::LengthMismatch {
                field: "contentHash",
                alg: halg,
                expected: nh,
                got: self.content_hash.len(),
            });
        }
        Ok(())
    }

    fn write(&self, w: &mut Writer) {
        w.text(&self.content_type);
        w.text(&self.url);
        w.uint(u64::from(self.expires));
        w.uint(self.size);
        w.uint(u64::from(self.enc_alg));
        w.bytes(&self.key);
        w.bytes(&self.nonce);
        w.bytes(&self.aad);
        w.uint(u64::from(self.hash_alg));
        w.bytes(&self.content_hash);
        w.text(&self.description);
        w.text(&self.filename);
    }

    fn read(r: &mut Reader<'_>) -> R<Self> {
        let content_type = r.text("contentType", MAX_TEXT_LEN)?.to_string();
        let url = r.text("url", MAX_URL_LEN)?.to_string();
        let expires = r.uint("expires", u64::from(u32::MAX))? as u32;
        let size = r.uint("size", u64::MAX)?;
        let enc_alg = r.uint("encAlg", u64::from(u16::MAX))? as u16;
        let key = Zeroizing::new(r.bytes("key", 64)?.to_vec());
        let nonce = r.bytes("nonce", 64)?.to_vec();
        let aad = r.bytes("aad", MAX_AAD_LEN)?.to_vec();
        let hash_alg = r.uint("hashAlg", u64::from(u8::MAX))? as u8;
        let content_hash = r.bytes("contentHash", 64)?.to_vec();
        let description = r.text("description", MAX_TEXT_LEN)?.to_string();
        let filename = r.text("filename", MAX_FILENAME_LEN)?.to_string();
        let p = Self {
            content_type,
            url,
            expires,
            size,
            enc_alg,
            key,
            nonce,
            aad,
            hash_alg,
            content_hash,
            description,
            filename,
        };
        p.validate()?;
        Ok(p)
    }
}

/// The part-specific fields after cardinality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartBody {
    /// `nullpart` (0).
    Null,
    /// `single` (1): inline content.
    Single {
        /// Media type.
        content_type: String,
        /// The content.
        content: Vec<u8>,
    },
    /// `external` (2).
    External(Box<ExternalPart>),
    /// `multi` (3).
    Multi {
        /// 0 chooseOne, 1 singleUnit, 2 processAll.
        semantics: u8,
        /// At least two parts.
        parts: Vec<NestedPart>,
    },
}

/// A NestedPart (§4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedPart {
    /// 0..=255 (6 attachment, 8 preview, ...).
    pub disposition: u8,
    /// "" or a comma-separated list of language tags.
    pub language: String,
    /// Cardinality and fields.
    pub body: PartBody,
}

impl NestedPart {
    /// An attachment part (disposition 6) around an ExternalPart.
    pub fn attachment(part: ExternalPart) -> Self {
        Self { disposition: DISPOSITION_ATTACHMENT, language: String::new(), body: PartBody::External(Box::new(part)) }
    }

    /// Deterministic CBOR of this part alone (validated first).
    pub fn to_cbor(&self) -> R<Vec<u8>> {
        let mut w = Writer::default();
        self.write(&mut w, 0, &mut 0)?;
        Ok(w.out)
    }

    /// Decodes one NestedPart; nothing may follow it.
    pub fn from_cbor(b: &[u8]) -> R<Self> {
        let mut r = Reader::new(b);
        let p = Self::read(&mut r, 0, &mut 0)?;
        finish(&r, b)?;
        Ok(p)
    }

    /// Every ExternalPart in the body, depth-first (part index order).
    pub fn external_parts(&self) -> Vec<&ExternalPart> {
        let mut v = Vec::new();
        self.collect(&mut v);
        v
    }

    fn collect<'a>(&'a self, v: &mut Vec<&'a ExternalPart>) {
        match &self.body {
            PartBody::External(p) => v.push(p),
            PartBody::Multi { parts, .. } => parts.iter().for_each(|p| p.collect(v)),
            _ => {}
        }
    }

    fn write(&self, w: &mut Writer, depth: usize, count: &mut usize) -> R<()> {
        *count += 1;
        if *count > MAX_PARTS {
            return Err(E::TooManyParts(MAX_PARTS));
        }
        if depth > MAX_PART_DEPTH {
            return Err(E::TooDeep);
        }
        if self.language.len() > MAX_TEXT_LEN {
            return Err(E::TooLong { field: "language", len: self.language.len() as u64, max: MAX_TEXT_LEN });
        }
        let len = match &self.body {
            PartBody::Null => 3,
            PartBody::Single { .. } | PartBody::Multi { .. } => 5,
            PartBody::External(_) => 15,
        };
        w.array(len);
        w.uint(u64::from(self.disposition));
        w.text(&self.language);
        match &self.body {
            PartBody::Null => w.uint(0),
            PartBody::Single { content_type, content } => {
                if content_type.len() > MAX_TEXT_LEN {
                    return Err(E::TooLong { field: "contentType", len: content_type.len() as u64, max: MAX_TEXT_LEN });
                }
                if content.len() > MAX_INLINE_LEN {
                    return Err(E::TooLong { field: "content", len: content.len() as u64, max: MAX_INLINE_LEN });
                }
                w.uint(1);
                w.text(content_type);
                w.bytes(content);
            }
            PartBody::External(p) => {
                p.validate()?;
                w.uint(2);
                p.write(w);
            }
            PartBody::Multi { semantics, parts } => {
                if *semantics > 2 {
                    return Err(E::OutOfRange { field: "partSemantics", value: u64::from(*semantics), max: 2 });
                }
                if parts.len() < 2 {
                    return Err(E::WrongArrayLength { field: "parts", got: parts.len() as u64 });
                }
                w.uint(3);
                w.uint(u64::from(*semantics));
                w.array(parts.len());
                for p in parts {
                    p.write(w, depth + 1, count)?;
                }
            }
        }
        Ok(())
    }

    fn read(r: &mut Reader<'_>, depth: usize, count: &mut usize) -> R<Self> {
        *count += 1;
        if *count > MAX_PARTS {
            return Err(E::TooManyParts(MAX_PARTS));
        }
        if depth > MAX_PART_DEPTH {
            return Err(E::TooDeep);
        }
        let n = r.array("NestedPart", &[3, 5, 15])?;
        let disposition = r.uint("disposition", 255)? as u8;
        let language = r.text("language", MAX_TEXT_LEN)?.to_string();
        let cardinality = r.uint("cardinality", u64::MAX)?;
        let want = match cardinality {
            0 => 3,
            1 | 3 => 5,
            2 => 15,
            c => return Err(E::UnknownCardinality(c)),
        };
        if n != want {
            return Err(E::WrongArrayLength { field: "NestedPart", got: n });
        }
        let body = match cardinality {
            0 => PartBody::Null,
            1 => PartBody::Single {
                content_type: r.text("contentType", MAX_TEXT_LEN)?.to_string(),
                content: r.bytes("content", MAX_INLINE_LEN)?.to_vec(),
            },
            2 => PartBody::External(Box::new(ExternalPart::read(r)?)),
            _ => {
                let semantics = r.uint("partSemantics", 2)? as u8;
                let k = r.array_up_to("parts", MAX_PARTS as u64)?;
                if k < 2 {
                    return Err(E::WrongArrayLength { field: "parts", got: k });
                }
                let mut parts = Vec::new();
                for _ in 0..k {
                    parts.push(Self::read(r, depth + 1, count)?);
                }
                PartBody::Multi { semantics, parts }
            }
        };
        Ok(Self { disposition, language, body })
    }
}

/// A key of the extensions map (§4.3): an integer or a text string of 1..=255 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtensionKey {
    /// Integer key (positive: IANA registry; negative: private use).
    Int(i64),
    /// Text key (private use).
    Text(String),
}

/// The MIMI content container (§4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimiContent {
    /// 16 random bytes.
    pub salt: [u8; 16],
    /// Message ID this message replaces.
    pub replaces: Option<[u8; 32]>,
    /// Topic ("" none).
    pub topic_id: Vec<u8>,
    /// `(relative, time)`.
    pub expires: Option<(bool, u32)>,
    /// Message ID this message replies to.
    pub in_reply_to: Option<[u8; 32]>,
    /// Extensions: key and the value's CBOR encoding (at most 4095 bytes), in any order (written
    /// sorted by encoded key).
    pub extensions: Vec<(ExtensionKey, Vec<u8>)>,
    /// The body.
    pub body: NestedPart,
}

impl MimiContent {
    /// Deterministic CBOR (validated first).
    pub fn to_cbor(&self) -> R<Vec<u8>> {
        let mut w = Writer::default();
        w.array(7);
        w.bytes(&self.salt);
        match &self.replaces {
            Some(id) => w.bytes(id),
            None => w.null(),
        }
        if self.topic_id.len() > MAX_AAD_LEN {
            return Err(E::TooLong { field: "topicId", len: self.topic_id.len() as u64, max: MAX_AAD_LEN });
        }
        w.bytes(&self.topic_id);
        match self.expires {
            Some((rel, t)) => {
                w.array(2);
                w.bool(rel);
                w.uint(u64::from(t));
            }
            None => w.null(),
        }
        match &self.in_reply_to {
            Some(id) => w.bytes(id),
            None => w.null(),
        }
        if self.extensions.len() as u64 > MAX_EXTENSIONS {
            return Err(E::TooLong {
                field: "extensions",
                len: self.extensions.len() as u64,
                max: MAX_EXTENSIONS as usize,
            });
        }
        let mut ext: Vec<(Vec<u8>, &[u8])> = Vec::new();
        for (k, v) in &self.extensions {
            let mut kw = Writer::default();
            match k {
                ExtensionKey::Int(i) if *i >= 0 => kw.uint(*i as u64),
                ExtensionKey::Int(i) => kw.head(cbor::NINT, !(*i) as u64),
                ExtensionKey::Text(s) => {
                    if s.is_empty() || s.len() > 255 {
                        return Err(E::TooLong { field: "extension name", len: s.len() as u64, max: 255 });
                    }
                    kw.text(s)
                }
            }
            // The value must itself be one deterministic item.
            let mut r = Reader::new(v);
            r.any(1)?;
            finish(&r, v)?;
            if v.len() > 4095 {
                return Err(E::TooLong { field: "extension value", len: v.len() as u64, max: 4095 });
            }
            ext.push((kw.out, v));
        }
        ext.sort();
        if ext.windows(2).any(|p| matches!(p, [a, b] if a.0 == b.0)) {
            return Err(E::DuplicateKey);
        }
        w.map(ext.len());
        for (k, v) in ext {
            w.raw(&k);
            w.raw(v);
        }
        self.body.write(&mut w, 0, &mut 0)?;
        Ok(w.out)
    }

    /// Decodes a whole message; nothing may follow it.
    pub fn from_cbor(b: &[u8]) -> R<Self> {
        let mut r = Reader::new(b);
        r.array("mimiContent", &[7])?;
        let salt = fixed::<16>(r.bytes("salt", 16)?, "salt")?;
        let replaces = if r.null() { None } else { Some(fixed::<32>(r.bytes("replaces", 32)?, "replaces")?) };
        let topic_id = r.bytes("topicId", MAX_AAD_LEN)?.to_vec();
        let expires = if r.null() {
            None
        } else {
            r.array("expires", &[2])?;
            Some((r.bool("relative")?, r.uint("time", u64::from(u32::MAX))? as u32))
        };
        let in_reply_to = if r.null() { None } else { Some(fixed::<32>(r.bytes("inReplyTo", 32)?, "inReplyTo")?) };
        let n = r.map("extensions", MAX_EXTENSIONS)?;
        let mut extensions = Vec::new();
        let mut prev: Option<&[u8]> = None;
        for _ in 0..n {
            let at = r.pos;
            let kb = r.any(1)?;
            cbor::check_key_order(prev, kb, at)?;
            prev = Some(kb);
            let mut kr = Reader::new(kb);
            let key = match kr.head()? {
                (cbor::UINT, v) => ExtensionKey::Int(i64::try_from(v).map_err(|_| E::OutOfRange {
                    field: "extension name",
                    value: v,
                    max: i64::MAX as u64,
                })?),
                (cbor::NINT, v) => ExtensionKey::Int(
                    !(i64::try_from(v).map_err(|_| E::OutOfRange {
                        field: "extension name",
                        value: v,
                        max: i64::MAX as u64,
                    })?),
                ),
                (cbor::TEXT, len) if (1..=255).contains(&len) => {
                    let mut tr = Reader::new(kb);
                    ExtensionKey::Text(tr.text("extension name", 255)?.to_string())
                }
                (cbor::TEXT, len) => return Err(E::TooLong { field: "extension name", len, max: 255 }),
                (m, _) => {
                    return Err(E::WrongType {
                        field: "extension name",
                        expected: "int or tstr",
                        got: cbor::type_name(m),
                    })
                }
            };
            let v = r.any(1)?;
            if v.len() > 4095 {
                return Err(E::TooLong { field: "extension value", len: v.len() as u64, max: 4095 });
            }
            extensions.push((key, v.to_vec()));
        }
        let body = NestedPart::read(&mut r, 0, &mut 0)?;
        finish(&r, b)?;
        Ok(Self { salt, replaces, topic_id, expires, in_reply_to, extensions, body })
    }

    /// The value of a text extension (e.g. 1: sender URI, 2: room URI in the §5.9 example).
    pub fn text_extension(&self, key: i64) -> Option<String> {
        let (_, v) = self.extensions.iter().find(|(k, _)| *k == ExtensionKey::Int(key))?;
        let mut r = Reader::new(v);
        r.text("extension value", 4095).ok().map(str::to_string)
    }

    /// The message ID of §3.3 with SHA-256: `0x01 || SHA-256(senderUri || roomUri || message ||
    /// salt)[0..31]`.
    pub fn message_id(&self, sender_uri: &str, room_uri: &str) -> R<[u8; 32]> {
        let msg = self.to_cbor()?;
        let mut h = Sha256::new();
        h.update(sender_uri.as_bytes());
        h.update(room_uri.as_bytes());
        h.update(&msg);
        h.update(self.salt);
        let d = h.finalize();
        let mut id = [0u8; 32];
        id[0] = 1;
        id[1..].copy_from_slice(&d[..31]);
        Ok(id)
    }
}

fn fixed<const N: usize>(b: &[u8], field: &'static str) -> R<[u8; N]> {
    b.try_into().map_err(|_| E::LengthMismatch { field, alg: "the CDDL", expected: N, got: b.len() })
}

fn finish(r: &Reader<'_>, b: &[u8]) -> R<()> {
    if r.is_empty() {
        Ok(())
    } else {
        Err(E::TrailingBytes(b.len().saturating_sub(r.pos)))
    }
}
