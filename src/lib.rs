//! # mimi-attachments
//!
//! End-to-end encrypted file attachments for MLS groups, as described by
//! *draft-robert-mimi-attachments* ("MIMI Attachments"), for browsers (WebAssembly) and native code.
//!
//! The core modules are synchronous, panic-free on every input and contain no unsafe code:
//! * [`suite`]: the RFC 9420 cipher suites' Hash, KDF and AEAD;
//! * [`schedule`]: the draft §3.6 key schedule (`attachment_key`, `attachment_nonce`);
//! * [`format`]: the ciphertext formats' sizes, limits and plans (sans-IO, no crypto);
//! * [`stream`]: sealing and opening the draft's one-shot ciphertext and our chunked v1 format;
//! * [`reference`]: the `message/external-body; access-type=token` content type (draft §3.2);
//! * [`wire`]: the Delivery Service's TLS structs (draft §3.1, §3.3);
//! * [`auth`]: signed Delivery Service requests (a member's leaf key signs each request);
//! * [`content`]: MIMI content (CBOR) and ExternalParts, and one-shot ciphertexts opened as a stream;
//! * [`mls`]: an MLS client and its groups (openmls), [`attachment`]: references as apps keep them.
//!
//! The `web` module (wasm32 only) adapts these to JavaScript.
#![deny(missing_docs)]
#![cfg_attr(not(target_arch = "wasm32"), forbid(unsafe_code))]

pub mod aead;
pub mod attachment;
pub mod auth;
pub mod b64;
pub mod content;
pub mod error;
pub mod format;
#[cfg(feature = "mls")]
pub mod mls;
pub mod reference;
pub mod schedule;
pub mod stream;
pub mod suite;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
pub use format::{ChunkSize, Format};
pub use reference::{ContentTypeError, ExternalBody, ExternalBodyIn};
pub use schedule::{AttachmentContext, AttachmentKeys};
pub use stream::{Decryptor, Encryptor};
pub use suite::CipherSuite;
