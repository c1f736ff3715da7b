//! The JavaScript API (wasm32 only). Exports convert their inputs, call the core, and convert
//! the results; errors become `Error` objects with `name = "MimiAttachmentsError"`, a stable
//! `code` (see [`crate::Error::code`]) and details.

mod attachment;
mod basic;
pub mod cipher;
#[cfg(feature = "mls")]
mod client;
mod ds;
pub mod error;
mod exporter;
mod external;
#[cfg(feature = "mls")]
mod group;
mod hash;
pub mod io;
mod js;
mod member;
mod mimi_content;
pub mod pipeline;
mod store;

pub use attachment::*;
pub use basic::*;
#[cfg(feature = "mls")]
pub use client::*;
pub use ds::*;
pub use exporter::*;
pub use external::*;
#[cfg(feature = "mls")]
pub use group::*;
pub use mimi_content::*;
