//! MIMI content (draft-ietf-mimi-content-07): the CBOR message container, its body parts and the
//! **ExternalPart** that references an encrypted file, plus the mapping between our attachment
//! references and ExternalParts and an incremental opener for one-shot ciphertexts of any size.
//!
//! * [`cbor`]: a small deterministic CBOR codec (RFC 8949 §4.2.1), strict on input;
//! * [`part`]: [`MimiContent`], [`NestedPart`], [`ExternalPart`] with their limits;
//! * [`mapping`]: reference ↔ ExternalPart (table in docs/MIMI-CONTENT.md);
//! * [`open`]: AES-GCM / ChaCha20-Poly1305 opened as a stream, tag checked at the end.
//!
//! Sans-IO and synchronous like the rest of the core; every malformed input is a
//! [`ContentError`] with a stable [`ContentError::kind`], never a panic.
#![forbid(unsafe_code)]

pub mod cbor;
pub mod error;
pub mod mapping;
pub mod open;
pub mod part;

pub use error::ContentError;
pub use mapping::{ContentHashMatch, PartReference};
pub use open::{PartAead, PartOpener, StreamOpener};
pub use part::{ExternalPart, MimiContent, NestedPart, PartBody};
