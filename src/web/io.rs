//! Reading inputs in pieces (Blob / ReadableStream), options, progress and abort.

use std::collections::VecDeque;

use futures_util::StreamExt as _;
use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{AbortSignal, Blob, ReadableStream};

use super::cipher::Backend;
use super::error::describe;
use super::js::{get_opt as get, opt_whole, MAX_SAFE};
use crate::Error;

#[wasm_bindgen(typescript_custom_section)]
const TS_OPTIONS: &'static str = r#"
export interface Progress { phase: "hash" | "encrypt" | "decrypt"; loaded: number; total?: number; }
export interface StreamOptions {
  onProgress?: (p: Progress) => void;
  signal?: AbortSignal;
  /** AEAD implementation: "auto" (WebCrypto for AES-GCM when available), "webcrypto" or "wasm". */
  backend?: "auto" | "webcrypto" | "wasm";
}
export interface EncryptOptions extends StreamOptions {
  /** Plaintext bytes per chunk (1024..16 MiB, default 256 KiB). */
  chunkSize?: number;
  /** The draft's one-shot form instead of chunked (files up to 64 MiB). */
  oneShot?: boolean;
}
export interface CiphertextOptions extends StreamOptions {
  /** First ciphertext byte to produce, to resume an upload. */
  offset?: number;
}
export interface CiphertextBlobOptions extends CiphertextOptions {
  /** MIME type of the Blob that `ciphertextToBlob` returns. */
  type?: string;
}
export interface DecryptOptions extends StreamOptions {
  /** MIME type of the Blob that `decryptToBlob` returns. */
  type?: string;
}
"#;

/// The options every streaming call takes (`EncryptOptions` / `DecryptOptions` in TypeScript).
#[derive(Clone, Default)]
pub struct Options {
    on_progress: Option<Function>,
    signal: Option<AbortSignal>,
    /// AEAD implementation to use.
    pub backend: Backend,
    /// `chunkSize` (encrypt).
    pub chunk_size: Option<u32>,
    /// `oneShot` (encrypt).
    pub one_shot: bool,
    /// `offset`: first ciphertext byte to produce (encrypt; for resuming uploads).
    pub offset: u64,
    /// `type` of a resulting Blob.
    pub blob_type: Option<String>,
}

impl Options {
    /// Reads an options object (`undefined` gives the defaults).
    pub fn from_js(v: &JsValue) -> Result<Self, Error> {
        let bad = |what: &str| Error::InvalidArgument(format!("options.{what}"));
        let mut o = Options::default();
        if v.is_undefined() || v.is_null() {
            return Ok(o);
        }
        if !v.is_object() {
            return Err(Error::InvalidArgument("options must be an object".into()));
        }
        let p = get(v, "onProgress");
        if !p.is_undefined() {
            o.on_progress = Some(p.dyn_into::<Function>().map_err(|_| bad("onProgress must be a function"))?);
        }
        let s = get(v, "signal");
        if !s.is_undefined() && !s.is_null() {
            o.signal = Some(s.dyn_into::<AbortSignal>().map_err(|_| bad("signal must be an AbortSignal"))?);
        }
        let b = get(v, "backend");
        if !b.is_undefined() {
            o.backend = match b.as_string().as_deref() {
                Some("auto") => Backend::Auto,
                Some("webcrypto") => Backend::WebCrypto,
                Some("wasm") => Backend::Wasm,
                _ => return Err(bad("backend must be \"auto\", \"webcrypto\" or \"wasm\"")),
            };
        }
        let c = get(v, "chunkSize");
        if !c.is_undefined() {
            o.chunk_size = opt_whole(&c, u64::from(u32::MAX), "chunkSize")?.map(|n| n as u32);
        }
        let one = get(v, "oneShot");
        if !one.is_undefined() {
            o.one_shot = one.as_bool().ok_or_else(|| bad("oneShot must be a boolean"))?;
        }
        let off = get(v, "offset");
        if !off.is_undefined() {
            o.offset = opt_whole(&off, MAX_SAFE, "offset")?.unwrap_or(0);
        }
        let t = get(v, "type");
        if !t.is_undefined() {
            o.blob_type = Some(t.as_string().ok_or_else(|| bad("type must be a string"))?);
        }
        Ok(o)
    }

    /// The abort signal, if any.
    pub fn signal(&self) -> Option<&AbortSignal> {
        self.signal.as_ref()
    }

    /// Drops the progress callback (for inner streams whose progress the caller reports itself).
    pub fn no_progress(&mut self) {
        self.on_progress = None;
    }

    /// Fails with `Aborted` once the signal fired.
    pub fn check_abort(&self) -> Result<(), Error> {
        match &self.signal {
            Some(s) if s.aborted() => Err(Error::Aborted),
            _ => Ok(()),
        }
    }

    /// Calls `onProgress({phase, loaded, total})`. Exceptions thrown by the callback are ignored.
    pub fn progress(&self, phase: &str, loaded: u64, total: Option<u64>) {
        if let Some(f) = &self.on_progress {
            let o = Object::new();
            let _ = Reflect::set(&o, &"phase".into(), &phase.into());
            let _ = Reflect::set(&o, &"loaded".into(), &(loaded as f64).into());
            let _ = Reflect::set(&o, &"total".into(), &total.map_or(JsValue::UNDEFINED, |t| (t as f64).into()));
            let _ = f.call1(&JsValue::NULL, &o);
        }
    }
}

/// Where an [`Accumulator`] reads from.
enum Source {
    Stream(wasm_streams::readable::IntoStream<'static>),
    /// A Blob whose stream is not a byte stream (WebKit), read in [`BLOB_SLICE`] slices.
    Slices {
        blob: Blob,
        at: u64,
    },
    Bytes(Option<Uint8Array>),
}

/// Bytes per `slice().arrayBuffer()` read of a Blob whose stream is not a byte stream. WebKit's
/// `Blob.stream()` gives an in-memory Blob in one piece (a 48 MiB read was one 188 ms task of the
/// page, measured with WebKitGTK 2.50 here), so there a Blob is read in slices: a 4 MiB copy is a
/// few ms.
const BLOB_SLICE: u64 = 4 << 20;

/// Whether this engine's `Blob.stream()` is a byte stream (has a BYOB reader): Chromium and
/// Firefox, not WebKit. Probed once per thread, on an empty Blob.
pub fn blobs_have_byte_streams() -> bool {
    thread_local! {
        static BYTES: bool = Blob::new().is_ok_and(|b| {
            let stream = b.stream();
            match web_sys::ReadableStreamByobReader::new(&stream) {
                Ok(r) => {
                    let _ = r.cancel();
                    true
                }
                Err(_) => {
                    let _ = stream.cancel();
                    false
                }
            }
        });
    }
    BYTES.with(|b| *b)
}

/// A `Blob`, `ReadableStream` or `Uint8Array`/`ArrayBuffer` input as a source of pieces.
fn source_of(input: &JsValue) -> Result<Source, Error> {
    // A Blob (a File too) is read through `Blob.stream()`: measured here in Chromium at 256 MiB,
    // 790-960 MB/s for an in-memory Blob and for a file on disk, against 265-520 MB/s for 4 MiB
    // `slice().arrayBuffer()` reads (slow to make on a Blob of many parts: ~1.8 ms a slice).
    if let Some(b) = input.dyn_ref::<Blob>() {
        if !blobs_have_byte_streams() {
            return Ok(Source::Slices { blob: b.clone(), at: 0 });
        }
        return Ok(Source::Stream(wasm_streams::ReadableStream::from_raw(b.stream()).into_stream()));
    }
    if let Some(s) = input.dyn_ref::<ReadableStream>() {
        return Ok(Source::Stream(wasm_streams::ReadableStream::from_raw(s.clone()).into_stream()));
    }
    if input.is_instance_of::<Uint8Array>() {
        return Ok(Source::Bytes(Some(input.clone().unchecked_into())));
    }
    if input.is_instance_of::<js_sys::ArrayBuffer>() {
        return Ok(Source::Bytes(Some(Uint8Array::new(input))));
    }
    Err(Error::InvalidArgument("input must be a Blob, a ReadableStream or a Uint8Array".into()))
}

impl Source {
    /// The next piece, or `None` at the end.
    async fn next(&mut self) -> Result<Option<Uint8Array>, Error> {
        match self {
            Source::Stream(s) => match s.next().await {
                None => Ok(None),
                Some(Err(e)) => Err(Error::Io(describe(&e))),
                Some(Ok(v)) => v
                    .dyn_into::<Uint8Array>()
                    .map(Some)
                    .map_err(|_| Error::Io("the stream yielded something other than a Uint8Array".into())),
            },
            Source::Slices { blob, at } => {
                let size = blob.size() as u64;
                if *at >= size {
                    return Ok(None);
                }
                let end = at.saturating_add(BLOB_SLICE).min(size);
                let io = |e: JsValue| Error::Io(describe(&e));
                let part = blob.slice_with_f64_and_f64(*at as f64, end as f64).map_err(io)?;
                let buf = wasm_bindgen_futures::JsFuture::from(part.array_buffer()).await.map_err(io)?;
                let piece = Uint8Array::new(&buf);
                if u64::from(piece.length()) != end - *at {
                    return Err(Error::Io("the file changed while it was read".into()));
                }
                *at = end;
                Ok(Some(piece))
            }
            Source::Bytes(b) => Ok(b.take()),
        }
    }
}

/// Pulls `Uint8Array` pieces from a stream and hands out pieces of exactly the size asked for:
/// a view of the current piece when it holds enough (no copy), else one assembled copy.
pub struct Accumulator {
    source: Source,
    pending: VecDeque<Uint8Array>,
    len: usize,
    ended: bool,
    /// Bytes pulled so far.
    pub read: u64,
}

impl Accumulator {
    /// Reads a `Blob`, `ReadableStream`, `Uint8Array` or `ArrayBuffer`.
    pub fn new(input: &JsValue) -> Result<Self, Error> {
        Ok(Self { source: source_of(input)?, pending: VecDeque::new(), len: 0, ended: false, read: 0 })
    }

    /// Bytes buffered now.
    pub fn buffered(&self) -> usize {
        self.len
    }

    /// Pulls until at least `n` bytes are buffered or the input ended.
    pub async fn fill(&mut self, n: usize) -> Result<(), Error> {
        while self.len < n && !self.ended {
            match self.source.next().await? {
                None => self.ended = true,
                Some(piece) => {
                    let l = piece.length() as usize;
                    if l > 0 {
                        self.len += l;
                        self.read += l as u64;
                        self.pending.push_back(piece);
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes the oldest buffered piece whole, as it came from the input (no copy).
    pub fn take_piece(&mut self) -> Option<Uint8Array> {
        let piece = self.pending.pop_front()?;
        self.len -= piece.length() as usize;
        Some(piece)
    }

    /// Takes `min(n, buffered)` bytes.
    pub fn take(&mut self, n: usize) -> Uint8Array {
        let n = n.min(self.len);
        if let Some(front) = self.pending.front() {
            let fl = front.length() as usize;
            if fl >= n {
                let out = front.subarray(0, n as u32);
                if fl == n {
                    self.pending.pop_front();
                } else {
                    let rest = front.subarray(n as u32, fl as u32);
                    if let Some(f) = self.pending.front_mut() {
                        *f = rest;
                    }
                }
                self.len -= n;
                return out;
            }
        }
        let out = Uint8Array::new_with_length(n as u32);
        let mut at = 0usize;
        while at < n {
            let Some(front) = self.pending.pop_front() else { break };
            let fl = front.length() as usize;
            let k = fl.min(n - at);
            out.set(&front.subarray(0, k as u32), at as u32);
            if k < fl {
                self.pending.push_front(front.subarray(k as u32, fl as u32));
            }
            at += k;
        }
        self.len -= at;
        out
    }
}

/// Reads a `Blob` through a BYOB reader into one reused buffer, in pieces of exactly the size
/// asked for (shorter only at the end): no garbage per piece, which a default reader leaves for
/// V8 to collect (draining a 1 GiB file raised renderer RSS by 166-200 MiB with it, 0-1 MiB
/// this way). A piece is valid until the next [`ByobFill::fill`]: the caller must be done with
/// it (WebCrypto copies its input when called) before asking for the next.
pub struct ByobFill {
    reader: web_sys::ReadableStreamByobReader,
    /// The buffer, as the last read returned it (each read transfers it).
    buffer: js_sys::ArrayBuffer,
    ended: bool,
}

impl ByobFill {
    /// A reader of `blob` with a buffer of `capacity` bytes; `None` where the Blob's stream is
    /// not a byte stream.
    pub fn new(blob: &Blob, capacity: u32) -> Option<Self> {
        if !blobs_have_byte_streams() {
            return None;
        }
        let reader = web_sys::ReadableStreamByobReader::new(&blob.stream()).ok()?;
        Some(Self { reader, buffer: js_sys::ArrayBuffer::new(capacity), ended: false })
    }

    /// The next `want` bytes (fewer at the end of the Blob) in the reused buffer.
    pub async fn fill(&mut self, want: u32) -> Result<Uint8Array, Error> {
        let io = |e: JsValue| Error::Io(describe(&e));
        if want > self.buffer.byte_length() {
            return Err(Error::InvalidState("piece larger than the read buffer"));
        }
        let mut at = 0u32;
        while at < want && !self.ended {
            let view = Uint8Array::new_with_byte_offset_and_length(&self.buffer, at, want - at);
            let r = wasm_bindgen_futures::JsFuture::from(self.reader.read_with_array_buffer_view(&view))
                .await
                .map_err(io)?;
            let value = Reflect::get(&r, &"value".into()).map_err(io)?;
            let filled =
                value.dyn_into::<Uint8Array>().map_err(|_| Error::Io("the reader returned no buffer".into()))?;
            self.buffer = filled.buffer();
            if Reflect::get(&r, &"done".into()).map_err(io)?.as_bool().unwrap_or(true) {
                self.ended = true;
            } else {
                at += filled.length().min(want - at);
            }
        }
        Ok(Uint8Array::new_with_byte_offset_and_length(&self.buffer, 0, at))
    }
}

impl Drop for ByobFill {
    /// Releases the Blob's stream when reading stops early (an abort or an error).
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.reader.cancel();
        }
    }
}

/// Milliseconds of work between two yields to the event loop: well under the 50 ms after which a
/// task counts as long (the page's input, rendering and timers run in between).
const SLICE_MS: f64 = 6.0;

/// Keeps the thread responsive while a loop works on it: `tick` after each unit of work yields to
/// the event loop with a macrotask once [`SLICE_MS`] passed since the last yield. Awaiting a
/// resolved Promise (a read of an in-memory Blob, a finished WebCrypto call) only runs a
/// microtask, so without it a whole hash pass was one task (6 s at 1 GiB, measured in Chromium).
pub struct Pacer {
    since: f64,
}

impl Default for Pacer {
    fn default() -> Self {
        Self { since: js_sys::Date::now() }
    }
}

impl Pacer {
    /// Yields to the event loop if this task has run long enough.
    pub async fn tick(&mut self) {
        if js_sys::Date::now() - self.since >= SLICE_MS {
            yield_to_event_loop().await;
            self.since = js_sys::Date::now();
        }
    }
}

/// How this thread posts a macrotask.
enum Yielder {
    /// `scheduler.yield()` (Chromium 129+, Firefox 142+): a macrotask the browser runs ahead of
    /// other queued work, once input and rendering had their turn.
    Scheduler(JsValue, Function),
    /// A `MessageChannel` message to ourselves (every browser; unlike `setTimeout(0)` never
    /// clamped to 4 ms): each message resolves the oldest waiting yield.
    Channel { port: JsValue, post: Function, waiting: std::rc::Rc<std::cell::RefCell<VecDeque<Function>>> },
    /// Neither exists (not a browser): a resolved Promise.
    None,
}

thread_local! {
    static YIELDER: Yielder = Yielder::new();
}

impl Yielder {
    fn new() -> Self {
        let g = js_sys::global();
        if let Ok(s) = Reflect::get(&g, &"scheduler".into()) {
            if let Ok(f) = Reflect::get(&s, &"yield".into()).and_then(|f| f.dyn_into::<Function>()) {
                return Yielder::Scheduler(s, f);
            }
        }
        Self::channel(&g).unwrap_or(Yielder::None)
    }

    fn channel(g: &JsValue) -> Option<Self> {
        let ctor = Reflect::get(g, &"MessageChannel".into()).ok()?.dyn_into::<Function>().ok()?;
        let ch = Reflect::construct(&ctor, &js_sys::Array::new()).ok()?;
        let receiver = Reflect::get(&ch, &"port1".into()).ok()?;
        let port = Reflect::get(&ch, &"port2".into()).ok()?;
        let post = Reflect::get(&port, &"postMessage".into()).ok()?.dyn_into::<Function>().ok()?;
        let waiting: std::rc::Rc<std::cell::RefCell<VecDeque<Function>>> = Default::default();
        let w = waiting.clone();
        let on_message = Closure::<dyn FnMut()>::new(move || {
            let next = w.borrow_mut().pop_front();
            if let Some(resolve) = next {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        Reflect::set(&receiver, &"onmessage".into(), on_message.as_ref()).ok()?;
        // The handler lives as long as the thread (one per thread).
        on_message.forget();
        Some(Yielder::Channel { port, post, waiting })
    }

    fn promise(&self) -> js_sys::Promise {
        match self {
            Yielder::Scheduler(s, f) => match f.call0(s).map(|p| p.dyn_into::<js_sys::Promise>()) {
                Ok(Ok(p)) => p,
                _ => js_sys::Promise::resolve(&JsValue::UNDEFINED),
            },
            Yielder::Channel { port, post, waiting } => js_sys::Promise::new(&mut |resolve, _| {
                waiting.borrow_mut().push_back(resolve);
                if post.call1(port, &JsValue::NULL).is_err() {
                    if let Some(r) = waiting.borrow_mut().pop_back() {
                        let _ = r.call0(&JsValue::UNDEFINED);
                    }
                }
            }),
            Yielder::None => js_sys::Promise::resolve(&JsValue::UNDEFINED),
        }
    }
}

/// Lets the event loop run other tasks (a macrotask, not a microtask) before going on.
pub async fn yield_to_event_loop() {
    let p = YIELDER.with(Yielder::promise);
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
}
