//! A small deterministic CBOR (RFC 8949) codec: exactly the subset MIMI content uses.
//!
//! Why our own and not a crate: MIMI content needs unsigned integers, byte and text strings,
//! arrays, maps, `null` and booleans, written in the *core deterministic* encoding (RFC 8949
//! §4.2.1: preferred, shortest-form heads, definite lengths, map keys sorted bytewise), and a
//! reader that *refuses* anything else, so that a decoded part re-encodes to the same bytes. The
//! general-purpose crates (ciborium, minicbor) accept non-shortest heads and indefinite lengths by
//! default, so the strictness would be code of ours anyway, on top of a serde or derive layer we
//! do not need. This file is ~250 lines and adds a few KiB of wasm (docs/MIMI-CONTENT.md).
//!
//! The reader is panic-free on every input: every length is checked against the bytes left
//! before anything is allocated, and nesting is bounded ([`MAX_DEPTH`]).
#![forbid(unsafe_code)]

use super::ContentError as E;

/// Deepest nesting of arrays/maps/tags the reader follows.
pub const MAX_DEPTH: usize = 16;

/// CBOR major types.
pub(crate) const UINT: u8 = 0;
pub(crate) const NINT: u8 = 1;
pub(crate) const BYTES: u8 = 2;
pub(crate) const TEXT: u8 = 3;
pub(crate) const ARRAY: u8 = 4;
pub(crate) const MAP: u8 = 5;
pub(crate) const TAG: u8 = 6;
pub(crate) const SIMPLE: u8 = 7;

/// The value written by [`Writer::null`].
pub(crate) const NULL: u8 = 0xf6;

/// Writes deterministic CBOR into a buffer.
#[derive(Default)]
pub(crate) struct Writer {
    pub(crate) out: Vec<u8>,
}

impl Writer {
    /// A head in its shortest form.
    pub(crate) fn head(&mut self, major: u8, n: u64) {
        let m = major << 5;
        if n < 24 {
            self.out.push(m | n as u8);
        } else if n <= 0xff {
            self.out.extend_from_slice(&[m | 24, n as u8]);
        } else if n <= 0xffff {
            self.out.push(m | 25);
            self.out.extend_from_slice(&(n as u16).to_be_bytes());
        } else if n <= 0xffff_ffff {
            self.out.push(m | 26);
            self.out.extend_from_slice(&(n as u32).to_be_bytes());
        } else {
            self.out.push(m | 27);
            self.out.extend_from_slice(&n.to_be_bytes());
        }
    }
    pub(crate) fn uint(&mut self, n: u64) {
        self.head(UINT, n)
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.head(BYTES, b.len() as u64);
        self.out.extend_from_slice(b);
    }
    pub(crate) fn text(&mut self, s: &str) {
        self.head(TEXT, s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }
    pub(crate) fn array(&mut self, len: usize) {
        self.head(ARRAY, len as u64)
    }
    pub(crate) fn map(&mut self, len: usize) {
        self.head(MAP, len as u64)
    }
    pub(crate) fn null(&mut self) {
        self.out.push(NULL)
    }
    pub(crate) fn bool(&mut self, b: bool) {
        self.out.push(if b { 0xf5 } else { 0xf4 })
    }
    /// Already encoded bytes (a checked raw value).
    pub(crate) fn raw(&mut self, b: &[u8]) {
        self.out.extend_from_slice(b)
    }
}

/// Reads deterministic CBOR; every method names the `field` it reads for its errors.
pub(crate) struct Reader<'a> {
    b: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(b: &'a [u8]) -> Self {
        Self { b, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.b.len()
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], E> {
        let n = usize::try_from(n).map_err(|_| E::Truncated)?;
        let end = self.pos.checked_add(n).ok_or(E::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(E::Truncated)?;
        self.pos = end;
        Ok(s)
    }

    /// Reads a head: (major type, argument). Rejects indefinite lengths, reserved additional
    /// information and every non-shortest argument.
    pub(crate) fn head(&mut self) -> Result<(u8, u64), E> {
        let at = self.pos;
        let ib = *self.take(1)?.first().ok_or(E::Truncated)?;
        let (major, info) = (ib >> 5, ib & 0x1f);
        let n = match info {
            0..=23 => u64::from(info),
            24..=27 => {
                let len = 1u64 << (info - 24);
                let mut v = 0u64;
                for &c in self.take(len)? {
                    v = (v << 8) | u64::from(c);
                }
                // Floats (major 7, info 25..27) carry bit patterns, not lengths.
                let min = match info {
                    24 => 24,
                    25 => 0x100,
                    26 => 0x1_0000,
                    _ => 0x1_0000_0000,
                };
                if major != SIMPLE && v < min {
                    return Err(E::NotDeterministic(at));
                }
                if major == SIMPLE && info == 24 && v < 32 {
                    return Err(E::NotDeterministic(at));
                }
                v
            }
            31 => return Err(E::IndefiniteLength(at)),
            _ => return Err(E::Reserved(at)),
        };
        Ok((major, n))
    }

    fn expect(&mut self, field: &'static str, want: u8) -> Result<u64, E> {
        let at = self.pos;
        let (major, n) = self.head()?;
        if major != want {
            self.pos = at;
            return Err(E::WrongType { field, expected: type_name(want), got: type_name(major) });
        }
        Ok(n)
    }

    /// An unsigned integer no larger than `max`.
    pub(crate) fn uint(&mut self, field: &'static str, max: u64) -> Result<u64, E> {
        let n = self.expect(field, UINT)?;
        if n > max {
            return Err(E::OutOfRange { field, value: n, max });
        }
        Ok(n)
    }

    /// A byte string of at most `max` bytes.
    pub(crate) fn bytes(&mut self, field: &'static str, max: usize) -> Result<&'a [u8], E> {
        let n = self.expect(field, BYTES)?;
        if n > max as u64 {
            return Err(E::TooLong { field, len: n, max });
        }
        self.take(n)
    }

    /// A UTF-8 text string of at most `max` bytes.
    pub(crate) fn text(&mut self, field: &'static str, max: usize) -> Result<&'a str, E> {
        let n = self.expect(field, TEXT)?;
        if n > max as u64 {
            return Err(E::TooLong { field, len: n, max });
        }
        core::str::from_utf8(self.take(n)?).map_err(|_| E::BadUtf8(field))
    }

    /// An array head; its length must be one of `lens`.
    pub(crate) fn array(&mut self, field: &'static str, lens: &[u64]) -> Result<u64, E> {
        let n = self.expect(field, ARRAY)?;
        if !lens.contains(&n) {
            return Err(E::WrongArrayLength { field, got: n });
        }
        Ok(n)
    }

    /// An array head of any length up to `max`.
    pub(crate) fn array_up_to(&mut self, field: &'static str, max: u64) -> Result<u64, E> {
        let n = self.expect(field, ARRAY)?;
        if n > max {
            return Err(E::WrongArrayLength { field, got: n });
        }
        Ok(n)
    }

    /// A map head of at most `max` pairs.
    pub(crate) fn map(&mut self, field: &'static str, max: u64) -> Result<u64, E> {
        let n = self.expect(field, MAP)?;
        if n > max {
            return Err(E::TooLong { field, len: n, max: max as usize });
        }
        Ok(n)
    }

    /// `null` (true) or something else (false, nothing consumed).
    pub(crate) fn null(&mut self) -> bool {
        if self.peek() == Some(NULL) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `true` or `false`.
    pub(crate) fn bool(&mut self, field: &'static str) -> Result<bool, E> {
        match self.peek() {
            Some(0xf4) => {
                self.pos += 1;
                Ok(false)
            }
            Some(0xf5) => {
                self.pos += 1;
                Ok(true)
            }
            Some(b) => Err(E::WrongType { field, expected: "bool", got: type_name(b >> 5) }),
            None => Err(E::Truncated),
        }
    }

    /// Skips one well-formed deterministic data item and returns its encoding.
    pub(crate) fn any(&mut self, depth: usize) -> Result<&'a [u8], E> {
        let start = self.pos;
        self.skip(depth)?;
        self.b.get(start..self.pos).ok_or(E::Truncated)
    }

    fn skip(&mut self, depth: usize) -> Result<(), E> {
        if depth > MAX_DEPTH {
            return Err(E::TooDeep);
        }
        let (major, n) = self.head()?;
        match major {
            UINT | NINT | SIMPLE => Ok(()),
            BYTES => self.take(n).map(|_| ()),
            TEXT => {
                let s = self.take(n)?;
                core::str::from_utf8(s).map(|_| ()).map_err(|_| E::BadUtf8("value"))
            }
            ARRAY => {
                for _ in 0..n {
                    self.skip(depth + 1)?;
                }
                Ok(())
            }
            MAP => {
                let mut prev: Option<&[u8]> = None;
                for _ in 0..n {
                    let k = self.any(depth + 1)?;
                    check_key_order(prev, k, self.pos)?;
                    prev = Some(k);
                    self.skip(depth + 1)?;
                }
                Ok(())
            }
            _ => self.skip(depth + 1), // TAG: one tagged item
        }
    }
}

/// RFC 8949 §4.2.1: map keys strictly increasing in bytewise order of their encodings.
pub(crate) fn check_key_order(prev: Option<&[u8]>, key: &[u8], pos: usize) -> Result<(), E> {
    match prev {
        Some(p) if p == key => Err(E::DuplicateKey),
        Some(p) if p > key => Err(E::NotDeterministic(pos)),
        _ => Ok(()),
    }
}

/// Name of a major type for error messages.
pub(crate) fn type_name(major: u8) -> &'static str {
    match major {
        UINT => "uint",
        NINT => "negative int",
        BYTES => "bstr",
        TEXT => "tstr",
        ARRAY => "array",
        MAP => "map",
        TAG => "tag",
        _ => "simple/float",
    }
}
