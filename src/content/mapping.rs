//! Our attachment references ↔ ExternalParts, both ways (table: docs/MIMI-CONTENT.md).
//!
//! | reference field            | ExternalPart                                            |
//! |----------------------------|---------------------------------------------------------|
//! | `attachment_key`           | `key`   (explicit, so any MIMI client can decrypt)      |
//! | `attachment_nonce`         | `nonce`                                                 |
//! | suite AEAD                 | `encAlg` 1 / 2 / 29                                     |
//! | suite hash                 | `hashAlg` 1 / 7 / 8                                     |
//! | `hash` (plaintext hash)    | `contentHash`                                           |
//! | `token`                    | last path segment of `url`, base64url                   |
//! | exporter `nonce`           | `contentType` parameter `mimi-nonce` (base64url)        |
//! | `chunk-size`               | `contentType` parameter `mimi-chunk-size` (absent: one-shot) |
//! | `size` (plaintext)         | `size` (0: unknown)                                     |
//! | sender leaf, epoch         | not in the part: from the MLS message that carries it   |
//!
//! `aad` stays empty (the one-shot form seals with `aad = ""`; chunked v1 uses its own per-chunk
//! aad, signalled by `mimi-chunk-size`).
#![forbid(unsafe_code)]

#[cfg(feature = "mls")]
use subtle::ConstantTimeEq;

use super::part::{enc_alg, hash_alg, ExternalPart};
use super::ContentError as E;
use crate::attachment::AttachmentRef;
use crate::error::{Error, Result};
#[cfg(feature = "mls")]
use crate::mls::Group;
use crate::reference::{ExternalBody, MAX_TOKEN_LEN};
use crate::schedule::AttachmentKeys;
use crate::stream::ChunkSize;
use crate::suite::{AeadAlg, CipherSuite, HashAlg};

/// `contentType` parameter carrying the exporter nonce of draft §3.6.
pub const PARAM_NONCE: &str = "mimi-nonce";
/// `contentType` parameter carrying our chunked-v1 chunk size.
pub const PARAM_CHUNK_SIZE: &str = "mimi-chunk-size";

/// Which of the two `contentHash` semantics matched on receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentHashMatch {
    /// Hash of the decrypted plaintext (what we and the draft authors' app write).
    Plaintext,
    /// Hash of the content at the URL, i.e. the ciphertext (the draft's wording).
    Ciphertext,
    /// The part has no hash (hashAlg 0).
    None,
}

/// encAlg of a suite's AEAD.
pub fn enc_alg_of(aead: AeadAlg) -> u16 {
    match aead {
        AeadAlg::Aes128Gcm => enc_alg::AES_128_GCM,
        AeadAlg::Aes256Gcm => enc_alg::AES_256_GCM,
        AeadAlg::ChaCha20Poly1305 => enc_alg::CHACHA20_POLY1305,
    }
}

/// hashAlg of a suite's hash.
pub fn hash_alg_of(hash: HashAlg) -> u8 {
    match hash {
        HashAlg::Sha256 => hash_alg::SHA_256,
        HashAlg::Sha384 => hash_alg::SHA_384,
        HashAlg::Sha512 => hash_alg::SHA_512,
    }
}

/// The first RFC 9420 suite with this AEAD and hash (suites that share both are equivalent for
/// attachments). encAlg 8 never maps: we do not write it.
pub fn suite_for(enc: u16, hash: u8) -> Option<CipherSuite> {
    CipherSuite::ALL.iter().copied().find(|s| enc_alg_of(s.aead()) == enc && hash_alg_of(s.hash()) == hash)
}

/// One of our references as it travels in an ExternalPart, with the part's descriptive fields.
#[derive(Debug, Clone)]
pub struct PartReference {
    /// Token, exporter nonce, plaintext hash, chunk size, plaintext size.
    pub body: ExternalBody,
    /// `attachment_key`/`attachment_nonce` (explicit in the part).
    pub keys: AttachmentKeys,
    /// `url` up to and including the last `/` before the token (e.g. the DS's
    /// `https://ds.example/v1/attachments/`).
    pub url_prefix: String,
    /// The file's media type, without our parameters (e.g. `video/mp4`).
    pub media_type: String,
    /// `expires` (0: none).
    pub expires: u32,
    /// `description`.
    pub description: String,
    /// `filename`.
    pub filename: String,
}

impl PartReference {
    /// Builds the ExternalPart (validated).
    pub fn to_part(&self) -> Result<ExternalPart> {
        if self.url_prefix.is_empty() || !self.url_prefix.ends_with('/') {
            return Err(Error::InvalidArgument("urlPrefix must end with '/'".into()));
        }
        let suite = self.keys.suite();
        let mut ct = self.media_type.trim().to_string();
        if ct.is_empty() {
            ct.push_str("application/octet-stream");
        }
        ct.push_str(&format!("; {PARAM_NONCE}={}", crate::b64::encode(&self.body.nonce)));
        if let Some(cs) = self.body.chunk_size {
            ct.push_str(&format!("; {PARAM_CHUNK_SIZE}={}", cs.get()));
        }
        let part = ExternalPart {
            content_type: ct,
            url: format!("{}{}", self.url_prefix, crate::b64::encode(&self.body.token)),
            expires: self.expires,
            size: self.body.size.unwrap_or(0),
            enc_alg: enc_alg_of(suite.aead()),
            key: zeroize::Zeroizing::new(self.keys.key().to_vec()),
            nonce: self.keys.nonce().to_vec(),
            aad: Vec::new(),
            hash_alg: hash_alg_of(suite.hash()),
            content_hash: self.body.hash.clone(),
            description: self.description.clone(),
            filename: self.filename.clone(),
        };
        part.validate()?;
        Ok(part)
    }

    /// Reads one of our references back ([`E::NotAReference`] for a part without `mimi-nonce`:
    /// open those with [`super::PartOpener`] directly).
    pub fn from_part(part: &ExternalPart) -> Result<Self> {
        part.validate()?;
        let (media_type, params) = split_params(&part.content_type)?;
        let nonce = params.nonce.ok_or(E::NotAReference("no mimi-nonce parameter"))?;
        let nonce = crate::b64::decode(nonce.as_bytes()).map_err(|_| E::BadParameter(PARAM_NONCE))?;
        let chunk_size = match params.chunk_size {
            None => None,
            Some(v) => {
                let n: u64 = v.parse().map_err(|_| E::BadParameter(PARAM_CHUNK_SIZE))?;
                if !v.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(E::BadParameter(PARAM_CHUNK_SIZE).into());
                }
                Some(ChunkSize::new(n).map_err(|_| E::BadParameter(PARAM_CHUNK_SIZE))?)
            }
        };
        if !part.aad.is_empty() {
            return Err(E::NotAReference("aad is not empty").into());
        }
        let suite = suite_for(part.enc_alg, part.hash_alg).ok_or(E::NotAReference("encAlg/hashAlg of no MLS suite"))?;
        let nh = suite.nh();
        if nonce.len() != nh {
            return Err(E::LengthMismatch {
                field: PARAM_NONCE,
                alg: "the suite's KDF.Nh",
                expected: nh,
                got: nonce.len(),
            }
            .into());
        }
        let cut = part.url.rfind('/').ok_or(E::NotAReference("url has no '/' before the token"))?;
        let (url_prefix, tok) = part.url.split_at(cut + 1);
        let token = crate::b64::decode(tok.as_bytes()).map_err(|_| E::NotAReference("token is not base64url"))?;
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(E::NotAReference("token length").into());
        }
        let keys = AttachmentKeys::from_parts(suite, &part.key, &part.nonce)?;
        Ok(Self {
            body: ExternalBody {
                token,
                nonce,
                hash: part.content_hash.clone(),
                chunk_size,
                size: (part.size != 0).then_some(part.size),
            },
            keys,
            url_prefix: url_prefix.to_string(),
            media_type,
            expires: part.expires,
            description: part.description.clone(),
            filename: part.filename.clone(),
        })
    }
}

/// The ExternalPart of a stored reference (what a sender puts in its MIMI message).
pub fn attachment_to_part(
    r: &AttachmentRef,
    url_prefix: &str,
    media_type: &str,
    filename: &str,
    description: &str,
    expires: u32,
) -> Result<ExternalPart> {
    PartReference {
        body: r.external_body(),
        keys: r.keys().clone(),
        url_prefix: url_prefix.to_string(),
        media_type: media_type.to_string(),
        expires,
        description: description.to_string(),
        filename: filename.to_string(),
    }
    .to_part()
}

/// A receiver's reference from an ExternalPart of ours, received in a message of `message_epoch`
/// from leaf `sender`: derives the keys from the group (as for `message/external-body`) and
/// requires the part's explicit key and nonce to equal them (constant time;
/// [`E::KeyMismatch`] otherwise), so the part is bound to group, epoch and sender.
#[cfg(feature = "mls")]
pub fn attachment_from_part(
    group: &Group,
    part: &ExternalPart,
    sender: u32,
    message_epoch: u64,
) -> Result<AttachmentRef> {
    let pr = PartReference::from_part(part)?;
    let suite = group.suite()?;
    if suite.aead() != pr.keys.suite().aead() || suite.hash() != pr.keys.suite().hash() {
        return Err(E::NotAReference("encAlg/hashAlg differ from the group's suite").into());
    }
    let r = AttachmentRef::receive(group, &pr.body.to_content_type(), sender, message_epoch)?;
    let same = r.keys().key().ct_eq(pr.keys.key()) & r.keys().nonce().ct_eq(pr.keys.nonce());
    if bool::from(same) {
        Ok(r)
    } else {
        Err(E::KeyMismatch.into())
    }
}

#[derive(Default)]
struct OurParams {
    nonce: Option<String>,
    chunk_size: Option<String>,
}

/// Splits `type/subtype; a=b; ...`: returns the content type without our two parameters, and
/// their values. Quoted strings are honoured (a `;` inside quotes does not split).
fn split_params(ct: &str) -> Result<(String, OurParams), E> {
    let mut pieces = Vec::new();
    let (mut start, mut quoted, mut escape) = (0usize, false, false);
    for (i, c) in ct.char_indices() {
        match c {
            _ if escape => escape = false,
            '\\' if quoted => escape = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                pieces.push(ct.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(ct.get(start..).unwrap_or_default());
    let mut kept: Vec<&str> = Vec::new();
    let mut p = OurParams::default();
    for (i, piece) in pieces.into_iter().enumerate() {
        let t = piece.trim();
        if i > 0 {
            if let Some((name, value)) = t.split_once('=') {
                let name = name.trim().to_ascii_lowercase();
                let value = value.trim().trim_matches('"').to_string();
                let slot = match name.as_str() {
                    PARAM_NONCE => Some((&mut p.nonce, PARAM_NONCE)),
                    PARAM_CHUNK_SIZE => Some((&mut p.chunk_size, PARAM_CHUNK_SIZE)),
                    _ => None,
                };
                if let Some((slot, pname)) = slot {
                    if slot.is_some() {
                        return Err(E::BadParameter(pname));
                    }
                    *slot = Some(value);
                    continue;
                }
            }
        }
        if !t.is_empty() {
            kept.push(t);
        }
    }
    Ok((kept.join("; "), p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_params_keeps_foreign_parameters_and_quotes() {
        let (mt, p) = split_params("text/plain; charset=\"a;b\"; MIMI-NONCE=abc ;mimi-chunk-size=1024").unwrap();
        assert_eq!(mt, "text/plain; charset=\"a;b\"");
        assert_eq!(p.nonce.as_deref(), Some("abc"));
        assert_eq!(p.chunk_size.as_deref(), Some("1024"));
        assert_eq!(split_params("a/b; mimi-nonce=x; mimi-nonce=y").err(), Some(E::BadParameter(PARAM_NONCE)));
    }
}
