//! The JavaScript API (wasm32 only). Exports convert their inputs, call the core, and convert
//! the results; errors become `Error` objects with `name = "MimiAttachmentsError"`, a stable
//! `code` (see [`crate::Error::code`]) and details.

mod basic;
pub mod cipher;
mod client;
mod ds;
mod mimi_content;
pub mod error;
mod exporter;
pub mod io;
mod js;
pub mod pipeline;
mod store;

pub use basic::*;
pub use client::*;
pub use ds::*;
pub use exporter::*;
pub use mimi_content::*;
