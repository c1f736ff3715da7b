//! The ciphertext formats' byte arithmetic (DESIGN.md §3), sans-IO and without crypto: sizes and
//! limits, the one ciphertext-length formula, and the plans the I/O edges follow — [`ReadPlan`]
//! (reading a chunk sequence), [`SealPlan`] (resuming a ciphertext at a byte offset) and
//! [`RangePlan`] (the chunks and HTTP byte range a plaintext range needs, and how to trim them).
//!
//! Chunked v1: chunk `i` holds plaintext bytes `[i*N, min((i+1)*N, len))` and its sealed form
//! (`+16` tag) starts at ciphertext byte `i * (N + 16)`; an empty plaintext is one empty chunk.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::suite::{AEAD_NONCE_LEN, AEAD_TAG_LEN};

/// Largest plaintext sent in the draft's one-shot form (64 MiB): one AEAD call over the whole
/// file must fit in memory, on both sides.
pub const ONE_SHOT_MAX: u64 = 64 << 20;

const TAG: u64 = AEAD_TAG_LEN as u64;

/// Smallest allowed `chunk-size`.
pub const MIN_CHUNK_SIZE: u32 = 1024;
/// Largest allowed `chunk-size` (16 MiB).
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// The default `chunk-size` when sending (256 KiB; DESIGN.md §3 has the measurement).
pub const DEFAULT_CHUNK_SIZE: u32 = 256 * 1024;
/// At most 2^32 chunks per attachment.
pub const MAX_CHUNKS: u64 = 1 << 32;
/// `aad` of every chunk but the last.
pub const AAD_NOT_LAST: [u8; 1] = [0x00];
/// `aad` of the last chunk.
pub const AAD_LAST: [u8; 1] = [0x01];

/// A validated `chunk-size` (plaintext bytes per chunk).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChunkSize(u32);

impl ChunkSize {
    /// Checks `MIN_CHUNK_SIZE <= n <= MAX_CHUNK_SIZE`.
    pub fn new(n: u64) -> Result<Self> {
        match u32::try_from(n) {
            Ok(v) if (MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&v) => Ok(Self(v)),
            _ => Err(Error::BadChunkSize(n)),
        }
    }

    /// `n`, or the default ([`DEFAULT_CHUNK_SIZE`]) when absent.
    pub fn or_default(n: Option<u32>) -> Result<Self> {
        n.map_or(Ok(Self::default()), |n| Self::new(u64::from(n)))
    }

    /// Plaintext bytes per chunk.
    pub fn get(self) -> u32 {
        self.0
    }

    pub(crate) fn plain(self) -> usize {
        self.0 as usize
    }

    /// Bytes per sealed (full) chunk: `N + 16`.
    pub fn sealed(self) -> usize {
        self.0 as usize + AEAD_TAG_LEN
    }
}

impl Default for ChunkSize {
    fn default() -> Self {
        Self(DEFAULT_CHUNK_SIZE)
    }
}

/// Number of chunks for a plaintext of `plaintext_len` bytes: `max(1, ceil(len / N))`.
pub fn chunk_count(plaintext_len: u64, cs: ChunkSize) -> Result<u64> {
    let n = plaintext_len.div_ceil(u64::from(cs.0)).max(1);
    if n > MAX_CHUNKS {
        return Err(Error::TooLarge("more than 2^32 chunks"));
    }
    Ok(n)
}

/// Ciphertext length of a plaintext of `plaintext_len` bytes.
pub fn ciphertext_len(plaintext_len: u64, cs: ChunkSize) -> Result<u64> {
    let n = chunk_count(plaintext_len, cs)?;
    plaintext_len.checked_add(n * TAG).ok_or(Error::TooLarge("length overflows"))
}

/// The plaintext length of a ciphertext of `ciphertext_len` bytes, or
/// [`Error::BadCiphertextLength`] if no valid chunk sequence has that length.
pub fn plaintext_len(ciphertext_len: u64, cs: ChunkSize) -> Result<u64> {
    let sealed = cs.sealed() as u64;
    let tag = TAG;
    let bad = Error::BadCiphertextLength(ciphertext_len);
    if ciphertext_len < tag {
        return Err(bad);
    }
    let n = ciphertext_len.div_ceil(sealed);
    let last = ciphertext_len - (n - 1) * sealed;
    // A final chunk carries at least one byte unless it is the only chunk.
    if last < tag || (last == tag && n > 1) || n > MAX_CHUNKS {
        return Err(bad);
    }
    Ok(ciphertext_len - n * tag)
}

/// The byte range `[start, end)` of sealed chunk `index` in a ciphertext of `ciphertext_len`
/// bytes, and whether it is the last chunk (for HTTP Range reads).
pub fn sealed_chunk_range(index: u64, ciphertext_len: u64, cs: ChunkSize) -> Result<(u64, u64, bool)> {
    let pl = plaintext_len(ciphertext_len, cs)?;
    let n = chunk_count(pl, cs)?;
    if index >= n {
        return Err(Error::TooLarge("chunk index past the end"));
    }
    let start = index * cs.sealed() as u64;
    let end = (start + cs.sealed() as u64).min(ciphertext_len);
    Ok((start, end, index + 1 == n))
}

/// `nonce_i = attachment_nonce XOR BE96(i)`.
pub fn chunk_nonce(base: &[u8; AEAD_NONCE_LEN], index: u64) -> Result<[u8; AEAD_NONCE_LEN]> {
    if index >= MAX_CHUNKS {
        return Err(Error::TooLarge("more than 2^32 chunks"));
    }
    let mut n = *base;
    for (b, i) in n[AEAD_NONCE_LEN - 8..].iter_mut().zip(index.to_be_bytes()) {
        *b ^= i;
    }
    Ok(n)
}

/// `aad_i`: `0x01` for the last chunk, `0x00` otherwise.
pub fn chunk_aad(last: bool) -> &'static [u8] {
    if last {
        &AAD_LAST
    } else {
        &AAD_NOT_LAST
    }
}

/// The one-shot form with a declared plaintext size (the reference's `size`): the ciphertext must
/// be exactly `size + 16` bytes. Checked before any decryption, so that a reference whose `size`
/// disagrees with the ciphertext fails with [`Error::Truncated`] or [`Error::TrailingData`], as
/// the chunked form does, instead of releasing a plaintext of another length than announced.
pub fn check_one_shot_len(ciphertext_len: u64, plaintext_len: Option<u64>) -> Result<()> {
    let Some(size) = plaintext_len else { return Ok(()) };
    let expected = size.checked_add(TAG).ok_or(Error::TooLarge("length overflows"))?;
    match ciphertext_len.cmp(&expected) {
        core::cmp::Ordering::Less => Err(Error::Truncated("ciphertext shorter than the declared size")),
        core::cmp::Ordering::Greater => Err(Error::TrailingData),
        core::cmp::Ordering::Equal => Ok(()),
    }
}

/// The rules of a chunked-v1 reader, without I/O or crypto: which index a sealed chunk has,
/// whether it must be opened as the last one, and which error a sequence earns. Used by the
/// synchronous [`Decryptor`] and by the browser's asynchronous (WebCrypto) pipeline alike.
#[derive(Debug, Clone)]
pub struct ReadPlan {
    cs: ChunkSize,
    index: u64,
    consumed: u64,
    expected_chunks: Option<u64>,
    expected_last_len: Option<usize>,
}

impl ReadPlan {
    /// A plan for chunks of `cs`; `plaintext_len` (the reference's `size`) makes truncation and
    /// trailing data recognisable before any chunk is opened.
    pub fn new(cs: ChunkSize, plaintext_len: Option<u64>) -> Result<Self> {
        let (expected_chunks, expected_last_len) = match plaintext_len {
            None => (None, None),
            Some(len) => {
                let n = chunk_count(len, cs)?;
                let last = len - (n - 1) * u64::from(cs.get());
                (Some(n), Some(last as usize + AEAD_TAG_LEN))
            }
        };
        Ok(Self { cs, index: 0, consumed: 0, expected_chunks, expected_last_len })
    }

    /// Bytes of a full sealed chunk (`N + 16`).
    pub fn sealed_len(&self) -> usize {
        self.cs.sealed()
    }

    /// Index of the next chunk.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// A full sealed chunk that more data follows: its index, to open with `last = false`.
    pub fn not_last(&mut self) -> Result<u64> {
        let i = self.index;
        if let Some(n) = self.expected_chunks {
            if i + 1 >= n {
                return Err(Error::TrailingData);
            }
        }
        if i + 1 >= MAX_CHUNKS {
            return Err(Error::TooLarge("more than 2^32 chunks"));
        }
        self.index += 1;
        self.consumed = self.consumed.saturating_add(self.cs.sealed() as u64);
        Ok(i)
    }

    /// The input ended with a final piece of `len` bytes: its index, to open with `last = true`,
    /// or the error the sequence earns.
    pub fn last(&mut self, len: usize) -> Result<u64> {
        let i = self.index;
        let total = self.consumed.saturating_add(len as u64);
        if len == 0 {
            return Err(Error::Truncated(if i == 0 { "no ciphertext" } else { "the final chunk is missing" }));
        }
        if let Some(n) = self.expected_chunks {
            if i + 1 < n {
                return Err(Error::Truncated("fewer chunks than the declared size"));
            }
            if Some(len) != self.expected_last_len {
                return Err(if Some(len) < self.expected_last_len {
                    Error::Truncated("final chunk shorter than the declared size")
                } else {
                    Error::TrailingData
                });
            }
        }
        if len < AEAD_TAG_LEN {
            return Err(Error::Truncated("final chunk shorter than an AEAD tag"));
        }
        if len == AEAD_TAG_LEN && i > 0 {
            return Err(Error::BadCiphertextLength(total));
        }
        Ok(i)
    }

    /// The error for chunk `index` whose tag failed when opened with `as_last`;
    /// `opens_with_other_flag` says whether it opens with the other last-flag: a final chunk
    /// where more data follows is trailing data, a non-final chunk at the end is truncation.
    pub fn failure(index: u64, as_last: bool, opens_with_other_flag: bool) -> Error {
        match (opens_with_other_flag, as_last) {
            (true, false) => Error::TrailingData,
            (true, true) => Error::Truncated("the final chunk is missing"),
            (false, _) => Error::DecryptFailed { chunk: index },
        }
    }
}

/// Which ciphertext form an attachment uses: the draft's one-shot form (no `chunk-size` in the
/// reference) or chunked v1 with `chunk-size = N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `AEAD.Seal(attachment_key, attachment_nonce, "", plaintext)`.
    OneShot,
    /// Chunked v1.
    Chunked(ChunkSize),
}

impl Format {
    /// The format a reference's `chunk-size` (absent: one-shot) signals.
    pub fn from_chunk_size(cs: Option<ChunkSize>) -> Self {
        cs.map_or(Format::OneShot, Format::Chunked)
    }

    /// The `chunk-size` of the chunked form.
    pub fn chunk_size(self) -> Option<ChunkSize> {
        match self {
            Format::OneShot => None,
            Format::Chunked(cs) => Some(cs),
        }
    }

    /// THE ciphertext length of a plaintext of `plaintext_len` bytes in this format.
    pub fn ciphertext_len(self, plaintext_len: u64) -> Result<u64> {
        match self {
            Format::OneShot => plaintext_len.checked_add(TAG).ok_or(Error::TooLarge("length overflows")),
            Format::Chunked(cs) => ciphertext_len(plaintext_len, cs),
        }
    }

    /// Whether a plaintext of `plaintext_len` bytes may be sent in this format: the one-shot form
    /// is limited to [`ONE_SHOT_MAX`].
    pub fn check_plaintext_len(self, plaintext_len: u64) -> Result<()> {
        match self {
            Format::OneShot if plaintext_len > ONE_SHOT_MAX => {
                Err(Error::TooLarge("the one-shot form is limited to 64 MiB: use chunked"))
            }
            _ => self.ciphertext_len(plaintext_len).map(|_| ()),
        }
    }
}

/// Where to resume producing a ciphertext at byte `offset` (an interrupted upload): seal chunks
/// `first_chunk..chunks` from plaintext byte `plain_start`, and drop the first `skip` bytes of
/// the first sealed chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealPlan {
    /// Chunks of the whole ciphertext (1 for one-shot).
    pub chunks: u64,
    /// The first chunk to seal.
    pub first_chunk: u64,
    /// Plaintext byte where chunk `first_chunk` starts.
    pub plain_start: u64,
    /// Bytes of the first sealed chunk that precede `offset` (at most its sealed length).
    pub skip: u64,
}

impl SealPlan {
    /// The plan for resuming at ciphertext byte `offset` of a `plaintext_len`-byte file.
    /// `offset == ciphertext length` is allowed (nothing left: the last chunk is sealed and
    /// skipped whole); past it is `InvalidArgument`.
    pub fn new(format: Format, plaintext_len: u64, offset: u64) -> Result<Self> {
        format.check_plaintext_len(plaintext_len)?;
        let ct_len = format.ciphertext_len(plaintext_len)?;
        if offset > ct_len {
            return Err(Error::InvalidArgument(format!(
                "offset {offset} is past the end of the ciphertext ({ct_len})"
            )));
        }
        Ok(match format {
            Format::OneShot => SealPlan { chunks: 1, first_chunk: 0, plain_start: 0, skip: offset },
            Format::Chunked(cs) => {
                let chunks = chunk_count(plaintext_len, cs)?;
                let sealed = cs.sealed() as u64;
                // offset == ct_len on a chunk boundary lands one past the last chunk: take the
                // last chunk and skip all of it.
                let first_chunk = (offset / sealed).min(chunks - 1);
                let skip = offset - first_chunk * sealed;
                SealPlan { chunks, first_chunk, plain_start: first_chunk * u64::from(cs.get()), skip }
            }
        })
    }
}

/// What plaintext bytes `[start, end)` of a chunked attachment need: the chunks
/// `first_chunk..=last_chunk`, fetched as ciphertext bytes `[ct_start, ct_end)` (an HTTP Range
/// `bytes=ct_start-(ct_end-1)`), opened, concatenated, and trimmed to `[trim_start, trim_end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RangePlan {
    /// First chunk needed.
    pub first_chunk: u64,
    /// Last chunk needed (inclusive).
    pub last_chunk: u64,
    /// First ciphertext byte to fetch.
    pub ct_start: u64,
    /// One past the last ciphertext byte to fetch.
    pub ct_end: u64,
    /// Where the range starts in the opened chunks' concatenated plaintext.
    pub trim_start: u64,
    /// Where it ends there (exclusive).
    pub trim_end: u64,
}

impl RangePlan {
    /// The plan for plaintext `[start, end)` of a `plaintext_len`-byte attachment in chunks of
    /// `cs`; `end` is clamped to the length; `None` when the (clamped) range is empty.
    pub fn new(cs: ChunkSize, plaintext_len: u64, start: u64, end: u64) -> Result<Option<Self>> {
        let ct_len = ciphertext_len(plaintext_len, cs)?;
        let end = end.min(plaintext_len);
        if start >= end {
            return Ok(None);
        }
        let n = u64::from(cs.get());
        let sealed = cs.sealed() as u64;
        let (first_chunk, last_chunk) = (start / n, (end - 1) / n);
        let base = first_chunk * n;
        Ok(Some(RangePlan {
            first_chunk,
            last_chunk,
            ct_start: first_chunk * sealed,
            ct_end: ((last_chunk + 1) * sealed).min(ct_len),
            trim_start: start - base,
            trim_end: end - base,
        }))
    }

    /// Ciphertext bytes the Range response must carry.
    pub fn ct_len(&self) -> u64 {
        self.ct_end - self.ct_start
    }

    /// Plaintext bytes of the range.
    pub fn len(&self) -> u64 {
        self.trim_end - self.trim_start
    }

    /// Always false: an empty range has no plan (kept for clippy's `len_without_is_empty`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chunk layout written out the slow way: `(plain_start, plain_len, ct_start, sealed_len)`.
    fn layout(len: u64, n: u64) -> Vec<(u64, u64, u64, u64)> {
        let mut v = Vec::new();
        let (mut p, mut c) = (0, 0);
        loop {
            let take = (len - p).min(n);
            v.push((p, take, c, take + TAG));
            p += take;
            c += take + TAG;
            if p >= len {
                return v;
            }
        }
    }

    fn sizes(n: u64) -> Vec<u64> {
        vec![0, 1, n - 1, n, n + 1, 2 * n - 1, 2 * n, 2 * n + 1, 3 * n + 7]
    }

    #[test]
    fn lengths_agree_with_the_layout() {
        for n in [1024u64, 1500, 4096] {
            let cs = ChunkSize::new(n).unwrap();
            for len in sizes(n) {
                let l = layout(len, n);
                let ct: u64 = l.iter().map(|c| c.3).sum();
                assert_eq!(chunk_count(len, cs).unwrap(), l.len() as u64);
                assert_eq!(ciphertext_len(len, cs).unwrap(), ct);
                assert_eq!(Format::Chunked(cs).ciphertext_len(len).unwrap(), ct);
                assert_eq!(plaintext_len(ct, cs).unwrap(), len);
                for (i, c) in l.iter().enumerate() {
                    let (a, b, last) = sealed_chunk_range(i as u64, ct, cs).unwrap();
                    assert_eq!((a, b - a, last), (c.2, c.3, i + 1 == l.len()));
                }
            }
        }
        assert_eq!(Format::OneShot.ciphertext_len(5).unwrap(), 21);
        assert!(Format::OneShot.ciphertext_len(u64::MAX).is_err());
    }

    #[test]
    fn one_shot_limit() {
        assert!(Format::OneShot.check_plaintext_len(ONE_SHOT_MAX).is_ok());
        assert_eq!(Format::OneShot.check_plaintext_len(ONE_SHOT_MAX + 1).unwrap_err().code(), "TooLarge");
        assert!(Format::Chunked(ChunkSize::default()).check_plaintext_len(ONE_SHOT_MAX + 1).is_ok());
        assert_eq!(SealPlan::new(Format::OneShot, ONE_SHOT_MAX + 1, 0).unwrap_err().code(), "TooLarge");
    }

    /// For every ciphertext offset: the plan's first chunk is the one holding that byte (or the
    /// last, at the very end), and sealing from it and skipping `skip` bytes yields exactly the
    /// ciphertext's tail.
    #[test]
    fn seal_plan_against_brute_force() {
        for n in [1024u64, 1500] {
            let cs = ChunkSize::new(n).unwrap();
            for len in sizes(n) {
                let l = layout(len, n);
                let ct_len: u64 = l.iter().map(|c| c.3).sum();
                for offset in 0..=ct_len {
                    let p = SealPlan::new(Format::Chunked(cs), len, offset).unwrap();
                    assert_eq!(p.chunks, l.len() as u64);
                    let c = l[p.first_chunk as usize];
                    assert!(c.2 <= offset && offset <= c.2 + c.3, "offset {offset} in chunk {}", p.first_chunk);
                    assert!(offset < c.2 + c.3 || p.first_chunk + 1 == p.chunks);
                    assert_eq!((p.plain_start, p.skip), (c.0, offset - c.2));
                }
                assert_eq!(SealPlan::new(Format::Chunked(cs), len, ct_len + 1).unwrap_err().code(), "InvalidArgument");
            }
        }
        for len in [0u64, 1, 100] {
            for offset in 0..=len + TAG {
                let p = SealPlan::new(Format::OneShot, len, offset).unwrap();
                assert_eq!(p, SealPlan { chunks: 1, first_chunk: 0, plain_start: 0, skip: offset });
            }
            assert!(SealPlan::new(Format::OneShot, len, len + TAG + 1).is_err());
        }
    }

    /// For every range of a few files: the chunks are exactly those that hold a byte of the
    /// range, the byte range is exactly theirs, and trimming their plaintext gives the range.
    #[test]
    fn range_plan_against_brute_force() {
        let n = 1024u64;
        let cs = ChunkSize::new(n).unwrap();
        for len in [0u64, 1, n, n + 1, 3 * n + 5] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let l = layout(len, n);
            let points: Vec<u64> =
                [0, 1, n - 1, n, n + 1, 2 * n, 3 * n, len.saturating_sub(1), len, len + 1, len + 5000].into();
            for &start in &points {
                for &end in &points {
                    let plan = RangePlan::new(cs, len, start, end).unwrap();
                    let end_c = end.min(len);
                    let Some(p) = plan else {
                        assert!(start >= end_c, "[{start}, {end}) of {len} is not empty");
                        continue;
                    };
                    let hit: Vec<usize> = (0..l.len()).filter(|&i| l[i].0 < end_c && start < l[i].0 + l[i].1).collect();
                    assert_eq!((p.first_chunk, p.last_chunk), (hit[0] as u64, *hit.last().unwrap() as u64));
                    let (a, b) = (l[hit[0]].2, l[*hit.last().unwrap()].2 + l[*hit.last().unwrap()].3);
                    assert_eq!((p.ct_start, p.ct_end, p.ct_len()), (a, b, b - a));
                    let opened: Vec<u8> =
                        hit.iter().flat_map(|&i| plain[l[i].0 as usize..(l[i].0 + l[i].1) as usize].to_vec()).collect();
                    assert_eq!(
                        &opened[p.trim_start as usize..p.trim_end as usize],
                        &plain[start as usize..end_c as usize]
                    );
                    assert_eq!(p.len(), end_c - start);
                }
            }
        }
    }

    #[test]
    fn format_from_chunk_size() {
        let cs = ChunkSize::default();
        assert_eq!(Format::from_chunk_size(None), Format::OneShot);
        assert_eq!(Format::from_chunk_size(Some(cs)).chunk_size(), Some(cs));
        assert_eq!(Format::OneShot.chunk_size(), None);
    }

    /// The fuzz target's plan check (fuzz/fuzz_targets/decryptor.rs, `plans`) on pseudo-random
    /// lengths, offsets and ranges, huge ones included.
    #[test]
    fn plans_on_arbitrary_numbers() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000u32 {
            let cs = ChunkSize::new(1024 + next() % 3073).unwrap();
            let len = match i % 3 {
                0 => next() % (1 << 16),
                1 => next() % (1 << 40),
                _ => next(),
            };
            let Ok(ct_len) = ciphertext_len(len, cs) else {
                assert!(SealPlan::new(Format::Chunked(cs), len, 0).is_err());
                continue;
            };
            let n = u64::from(cs.get());
            let offset = next() % ct_len.saturating_add(2);
            match SealPlan::new(Format::Chunked(cs), len, offset) {
                Ok(p) => {
                    let (start, end, last) = sealed_chunk_range(p.first_chunk, ct_len, cs).unwrap();
                    assert_eq!(start + p.skip, offset);
                    assert!(offset < end || (last && offset == end));
                    assert_eq!(p.plain_start, p.first_chunk * n);
                }
                Err(_) => assert!(offset > ct_len),
            }
            let span = len.saturating_add(2);
            let (a, b) = (next() % span, next() % span);
            match RangePlan::new(cs, len, a, b).unwrap() {
                None => assert!(a >= b.min(len)),
                Some(p) => {
                    let end = b.min(len);
                    assert!(p.first_chunk * n <= a && a < (p.first_chunk + 1) * n);
                    assert!(p.last_chunk * n < end && end <= (p.last_chunk + 1) * n);
                    assert_eq!(sealed_chunk_range(p.first_chunk, ct_len, cs).unwrap().0, p.ct_start);
                    assert_eq!(sealed_chunk_range(p.last_chunk, ct_len, cs).unwrap().1, p.ct_end);
                    assert_eq!((p.trim_start, p.len()), (a - p.first_chunk * n, end - a));
                }
            }
        }
    }
}
