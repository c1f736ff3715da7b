//! The Delivery Service messages of draft-robert-mimi-attachments §3.1 and §3.3, TLS encoded
//! with MLS variable-length vectors (RFC 9420 §2.1.2, lengths below 2^30).
#![forbid(unsafe_code)]

use tls_codec::{TlsDeserialize, TlsDeserializeBytes, TlsSerialize, TlsSize, VLBytes};

use crate::error::{Error, Result};

/// draft-robert-mimi-attachments §3.1:
/// ```text
/// struct {
///   opaque group_id<V>;
///   opaque content<V>;
/// } UploadAttachmentRequest;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsDeserializeBytes, TlsSize)]
pub struct UploadAttachmentRequest {
    /// The MLS group the attachment is bound to.
    pub group_id: VLBytes,
    /// The encrypted attachment.
    pub content: VLBytes,
}

/// draft-robert-mimi-attachments §3.1:
/// ```text
/// struct {
///   opaque token<V>;
/// } UploadAttachmentResponse;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsDeserializeBytes, TlsSize)]
pub struct UploadAttachmentResponse {
    /// The token that downloads the attachment.
    pub token: VLBytes,
}

/// draft-robert-mimi-attachments §3.3:
/// ```text
/// struct {
///   opaque group_id<V>;
///   opaque token<V>;
/// } DownloadAttachmentRequest;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsDeserializeBytes, TlsSize)]
pub struct DownloadAttachmentRequest {
    /// The MLS group the attachment is bound to.
    pub group_id: VLBytes,
    /// The token from the reference.
    pub token: VLBytes,
}

/// draft-robert-mimi-attachments §3.3:
/// ```text
/// struct {
///   opaque content<V>;
/// } DownloadAttachmentResponse;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, TlsSerialize, TlsDeserialize, TlsDeserializeBytes, TlsSize)]
pub struct DownloadAttachmentResponse {
    /// The encrypted attachment.
    pub content: VLBytes,
}

/// The MLS variable-length vector header (RFC 9420 §2.1.2) for `len` bytes, so a large body can
/// be framed without copying it: `vl_header(content.len()) || content` is `opaque content<V>`.
pub fn vl_header(len: usize) -> Result<Vec<u8>> {
    let n = u32::try_from(len).map_err(|_| Error::TooLarge("vector longer than 2^30-1 bytes"))?;
    Ok(match n {
        0..=0x3f => vec![n as u8],
        0x40..=0x3fff => (n as u16 | 0x4000).to_be_bytes().to_vec(),
        0x4000..=0x3fff_ffff => (n | 0x8000_0000).to_be_bytes().to_vec(),
        _ => return Err(Error::TooLarge("vector longer than 2^30-1 bytes")),
    })
}

/// The bytes of an [`UploadAttachmentRequest`] before its content: `group_id<V>` and the
/// content's length header. `upload_request_prefix(g, n) || content` (with `content.len() == n`)
/// is the whole request, so a client frames a large ciphertext without copying it into wasm.
pub fn upload_request_prefix(group_id: &[u8], content_len: usize) -> Result<Vec<u8>> {
    let mut head = vl_header(group_id.len())?;
    head.extend_from_slice(group_id);
    head.extend(vl_header(content_len)?);
    Ok(head)
}

/// Encodes any wire struct.
pub fn encode<T: tls_codec::Serialize>(msg: &T) -> Result<Vec<u8>> {
    Ok(tls_codec::Serialize::tls_serialize_detached(msg)?)
}

/// Decodes a wire struct that must span all of `bytes` (no trailing data).
pub fn decode_exact<T: tls_codec::Deserialize>(bytes: &[u8]) -> Result<T> {
    let mut r = bytes;
    let v = T::tls_deserialize(&mut r)?;
    if !r.is_empty() {
        return Err(Error::Codec(format!("{} trailing bytes", r.len())));
    }
    Ok(v)
}

/// The length in bytes (1, 2 or 4) of the MLS variable-length integer (RFC 9420 §2.1.2) that
/// starts with `first`; `None` for the invalid prefix `0b11`. With [`decode_varint`], a streaming
/// reader frames `opaque<V>` headers without buffering the content.
pub fn varint_len(first: u8) -> Option<usize> {
    match first >> 6 {
        0 => Some(1),
        1 => Some(2),
        2 => Some(4),
        _ => None,
    }
}

/// Decodes exactly one minimally encoded MLS variable-length integer spanning all of `bytes`.
pub fn decode_varint(bytes: &[u8]) -> Result<u64> {
    let (&b0, rest) = bytes.split_first().ok_or_else(|| Error::Codec("empty varint".into()))?;
    let len = varint_len(b0).ok_or_else(|| Error::Codec("invalid varint prefix".into()))?;
    if bytes.len() != len {
        return Err(Error::Codec("varint length".into()));
    }
    let v = rest.iter().fold(u64::from(b0 & 0x3f), |v, b| (v << 8) | u64::from(*b));
    let min = match len {
        1 => 0,
        2 => 64,
        _ => 16384,
    };
    if v < min {
        return Err(Error::Codec("non-minimal varint".into()));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_request_encoding_is_the_drafts() {
        let m = UploadAttachmentRequest { group_id: vec![1, 2, 3].into(), content: vec![0xaa; 70].into() };
        let b = encode(&m).unwrap();
        // 1-byte varint 3, group id, 2-byte varint 0x4046 (70), content.
        assert_eq!(&b[..6], &[3, 1, 2, 3, 0x40, 70]);
        assert_eq!(b.len(), 1 + 3 + 2 + 70);
        assert_eq!(decode_exact::<UploadAttachmentRequest>(&b).unwrap(), m);
    }

    #[test]
    fn upload_request_prefix_frames_the_drafts_request() {
        for (gid_len, len) in [(0usize, 0usize), (3, 70), (32, 63), (64, 64), (255, 16384), (1, 100_000)] {
            let (gid, content) = (vec![7u8; gid_len], vec![0x5a; len]);
            let mut b = upload_request_prefix(&gid, len).unwrap();
            b.extend_from_slice(&content);
            let whole =
                encode(&UploadAttachmentRequest { group_id: gid.clone().into(), content: content.into() }).unwrap();
            assert_eq!(b, whole, "group id {gid_len} B, content {len} B");
        }
        assert!(upload_request_prefix(&[1], 1 << 30).is_err());
    }

    #[test]
    fn vl_header_matches_tls_codec() {
        for len in [0usize, 1, 63, 64, 16383, 16384, 1 << 20, (1 << 30) - 1] {
            let enc = encode(&UploadAttachmentResponse { token: vec![0u8; len.min(70000)].into() }).unwrap();
            if len <= 70000 {
                assert_eq!(vl_header(len).unwrap(), enc[..enc.len() - len].to_vec(), "{len}");
            }
        }
        assert_eq!(vl_header((1 << 30) - 1).unwrap(), vec![0xbf, 0xff, 0xff, 0xff]);
        assert!(vl_header(1 << 30).is_err());
    }

    #[test]
    fn decoding_rejects_truncation_trailing_bytes_and_non_minimal_lengths() {
        let b = encode(&DownloadAttachmentRequest { group_id: vec![9].into(), token: vec![7; 16].into() }).unwrap();
        assert!(decode_exact::<DownloadAttachmentRequest>(&b[..b.len() - 1]).is_err());
        let mut long = b.clone();
        long.push(0);
        assert!(matches!(decode_exact::<DownloadAttachmentRequest>(&long), Err(Error::Codec(_))));
        // RFC 9420 §2.1.2: a length must use the shortest encoding.
        assert!(decode_exact::<UploadAttachmentResponse>(&[0x40, 0x01, 0xff]).is_err());
        // 8-byte varints (0b11 prefix) are invalid in MLS.
        assert!(decode_exact::<UploadAttachmentResponse>(&[0xc0, 0, 0, 0, 0, 0, 0, 1, 0]).is_err());
        assert_eq!(decode_exact::<UploadAttachmentResponse>(&[0x01, 0xff]).unwrap().token.as_slice(), &[0xff]);
    }

    #[test]
    fn varints_round_trip_with_vl_header_and_refuse_bad_encodings() {
        for len in [0usize, 1, 63, 64, 16383, 16384, (1 << 30) - 1] {
            let h = vl_header(len).unwrap();
            assert_eq!(varint_len(h[0]), Some(h.len()));
            assert_eq!(decode_varint(&h).unwrap(), len as u64);
        }
        assert_eq!(varint_len(0xc0), None);
        assert!(decode_varint(&[0x40, 0x01]).is_err(), "non-minimal");
        assert!(decode_varint(&[0x80, 0, 0x40, 0]).is_ok());
        assert!(decode_varint(&[0x80, 0, 0x3f, 0xff]).is_err(), "non-minimal 4-byte");
        assert!(decode_varint(&[0x40]).is_err(), "truncated");
        assert!(decode_varint(&[]).is_err());
    }
}
