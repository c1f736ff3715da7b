//! Every Delivery Service TLS struct (draft §3.1, §3.3) through `wire::decode_exact`.
//!
//! Invariants: never panics; a decoded message re-encodes to exactly the input bytes (the MLS
//! encoding with minimal-length varints is canonical, and `decode_exact` allows no trailing data);
//! `vl_header` agrees with the codec for every decoded vector length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mimi_attachments::wire::{
    decode_exact, encode, vl_header, DownloadAttachmentRequest, DownloadAttachmentResponse, UploadAttachmentRequest,
    UploadAttachmentResponse,
};
use tls_codec::VLBytes;

fn round_trip<T>(data: &[u8]) -> Option<T>
where
    T: tls_codec::Deserialize + tls_codec::Serialize + tls_codec::Size + PartialEq + core::fmt::Debug,
{
    let v: T = decode_exact(data).ok()?;
    let enc = encode(&v).expect("a decoded message encodes");
    assert_eq!(enc, data, "non-canonical encoding accepted: {v:?}");
    assert_eq!(v.tls_serialized_len(), data.len());
    assert_eq!(decode_exact::<T>(&enc).expect("re-decodes"), v);
    Some(v)
}

fn vector(v: &VLBytes) {
    let body = v.as_slice();
    let mut framed = vl_header(body.len()).expect("a decoded vector's length has a header");
    framed.extend_from_slice(body);
    assert_eq!(framed, encode(v).expect("encodes"));
}

fuzz_target!(|data: &[u8]| {
    if let Some(m) = round_trip::<UploadAttachmentRequest>(data) {
        vector(&m.group_id);
        vector(&m.content);
    }
    if let Some(m) = round_trip::<UploadAttachmentResponse>(data) {
        vector(&m.token);
    }
    if let Some(m) = round_trip::<DownloadAttachmentRequest>(data) {
        vector(&m.group_id);
        vector(&m.token);
    }
    if let Some(m) = round_trip::<DownloadAttachmentResponse>(data) {
        vector(&m.content);
    }
});
