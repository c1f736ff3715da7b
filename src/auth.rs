//! Signed Delivery Service requests (shared by the client and the Delivery Service).
#![forbid(unsafe_code)]
