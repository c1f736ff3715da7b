// Feature detection of the web platform features the package and the issues ahead care about,
// run in the real browser (run.mjs --engine webkit compares the result with the table in
// docs/WEBKIT.md, so the document stays true to the engine). Each check uses the feature (or
// the standard detection of it) rather than trusting that a name exists.

const timeout = (p, ms) => Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error("timeout")), ms))]);

async function opfs() {
  if (!navigator.storage?.getDirectory) return { opfs: false, opfsCreateWritable: false, opfsError: "no navigator.storage.getDirectory" };
  try {
    const root = await timeout(navigator.storage.getDirectory(), 5000);
    const h = await root.getFileHandle("mimi-feature-probe", { create: true });
    let writable = false;
    if (typeof h.createWritable === "function") {
      const w = await h.createWritable();
      await w.write(new Uint8Array([1, 2, 3]));
      await w.close();
      writable = (await h.getFile()).size === 3;
    }
    await root.removeEntry("mimi-feature-probe");
    return { opfs: true, opfsCreateWritable: writable };
  } catch (e) {
    return { opfs: false, opfsCreateWritable: false, opfsError: `${e.name}: ${e.message}` };
  }
}

/** fetch() with a ReadableStream body and duplex: "half": the standard detection, and a real
 *  request over HTTP/1.1 (Chromium sends stream bodies only over HTTP/2 and later). */
async function streamingUpload(url) {
  let duplexRead = false;
  let detected = false;
  try {
    const hasContentType = new Request(url, {
      method: "POST", body: new ReadableStream(),
      get duplex() { duplexRead = true; return "half"; },
    }).headers.has("content-type");
    detected = duplexRead && !hasContentType;
  } catch { detected = false; }
  let sent = false;
  try {
    const body = new ReadableStream({ start(c) { c.enqueue(new Uint8Array(10)); c.close(); } });
    await timeout(fetch(url, { method: "POST", body, duplex: "half" }), 10_000);
    sent = true;
  } catch { sent = false; }
  return { streamingRequestBodyApi: detected, streamingRequestBodyOverHttp1: sent };
}

function byobReader() {
  try {
    const s = new ReadableStream({ type: "bytes", pull(c) { c.close(); } });
    s.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch { return false; }
}

function blobByteStream() {
  try { new Blob([new Uint8Array(8)]).stream().getReader({ mode: "byob" }).releaseLock(); return true; } catch { return false; }
}

async function compression(format) {
  try {
    const out = new Blob([new Uint8Array(1000)]).stream().pipeThrough(new CompressionStream(format));
    const back = await new Response(out.pipeThrough(new DecompressionStream(format))).arrayBuffer();
    return back.byteLength === 1000;
  } catch { return false; }
}

async function webLocks() {
  try { return await timeout(navigator.locks.request("mimi-probe", async () => true), 5000); } catch { return false; }
}

async function schedulerYield() {
  try { await globalThis.scheduler.yield(); return true; } catch { return false; }
}

async function idbBlob() {
  const name = "mimi-feature-probe";
  try {
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open(name);
      r.onupgradeneeded = () => r.result.createObjectStore("s");
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    try {
      await new Promise((res, rej) => {
        const t = db.transaction("s", "readwrite");
        t.objectStore("s").put(new Blob([new Uint8Array(10)]), "k");
        t.oncomplete = res;
        t.onerror = t.onabort = () => rej(t.error);
      });
      return true;
    } finally { db.close(); indexedDB.deleteDatabase(name); }
  } catch { return false; }
}

async function transferableStream() {
  try {
    const { port1, port2 } = new MessageChannel();
    const got = new Promise((res) => { port2.onmessage = (e) => res(e.data); });
    const s = new ReadableStream({ start(c) { c.enqueue(new Uint8Array([7])); c.close(); } });
    port1.postMessage(s, [s]);
    const r = await timeout(got, 5000);
    const { value } = await r.getReader().read();
    port1.close(); port2.close();
    return value[0] === 7;
  } catch { return false; }
}

async function asyncIteration() {
  try {
    const s = new ReadableStream({ start(c) { c.enqueue(1); c.close(); } });
    let n = 0;
    for await (const v of s) n += v;
    return n === 1;
  } catch { return false; }
}

/** Pieces a 16 MiB in-memory Blob's stream() yields (Chromium: many; WebKit: one, the whole Blob). */
async function inMemoryBlobPieces() {
  const r = new Blob([new Uint8Array(16 << 20)]).stream().getReader();
  let n = 0;
  for (;;) { const { done } = await r.read(); if (done) return n; n++; }
}

/** Every feature, `name -> true|false` (and `opfsError`, why OPFS failed); `url` answers POST
 *  (the harness's static server). */
export async function detect(url) {
  const o = await opfs();
  return {
    storageManager: typeof navigator.storage === "object",
    showSaveFilePicker: typeof window.showSaveFilePicker === "function",
    showOpenFilePicker: typeof window.showOpenFilePicker === "function",
    opfs: o.opfs,
    opfsCreateWritable: o.opfsCreateWritable,
    opfsError: o.opfsError ?? null,
    opfsCreateSyncAccessHandle: typeof globalThis.FileSystemFileHandle?.prototype.createSyncAccessHandle === "function",
    ...(await streamingUpload(url)),
    byobReader: byobReader(),
    blobStreamIsByteStream: blobByteStream(),
    inMemoryBlobStreamInPieces: (await inMemoryBlobPieces()) > 1,
    compressionStreamGzip: await compression("gzip"),
    compressionStreamDeflateRaw: await compression("deflate-raw"),
    webLocks: await webLocks(),
    schedulerYield: await schedulerYield(),
    schedulerPostTask: typeof globalThis.scheduler?.postTask === "function",
    indexedDbStoresBlobs: await idbBlob(),
    transferableStreams: await transferableStream(),
    readableStreamAsyncIteration: await asyncIteration(),
    readableStreamFrom: typeof ReadableStream.from === "function",
    serviceWorker: "serviceWorker" in navigator && isSecureContext,
    webCryptoEd25519: await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign"]).then(() => true, () => false),
    webCryptoX25519: await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]).then(() => true, () => false),
    storagePersist: typeof navigator.storage?.persist === "function",
    longTaskEntries: PerformanceObserver.supportedEntryTypes?.includes("longtask") ?? false,
    moduleWorker: await new Promise((res) => {
      try {
        const w = new Worker(URL.createObjectURL(new Blob(["postMessage(1)"], { type: "text/javascript" })), { type: "module" });
        w.onmessage = () => { w.terminate(); res(true); };
        w.onerror = () => { w.terminate(); res(false); };
        setTimeout(() => { w.terminate(); res(false); }, 5000);
      } catch { res(false); }
    }),
  };
}
