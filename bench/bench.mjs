// Page side of the benchmark (bench/run.mjs drives it). Each measurement returns MB/s (1e6 B/s)
// of plaintext. Nothing here asserts a time.
import init, * as mimi from "/pkg/mimi_attachments.js";

const wasm = await init();
const MiB = 1 << 20;
const blobs = new Map();
const rate = (bytes, ms) => bytes / 1e3 / ms;
const now = () => performance.now();

async function drain(stream) {
  const r = stream.getReader();
  let n = 0;
  for (;;) { const { done, value } = await r.read(); if (done) return n; n += value.length; }
}
function random(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}
async function twoMembers(suite) {
  const a = await mimi.MlsClient.create("a", { storeName: null, cipherSuite: suite });
  const b = await mimi.MlsClient.create("b", { storeName: null, cipherSuite: suite });
  const ag = await a.createGroup();
  const bg = await b.joinGroup((await ag.addMembers([await b.keyPackage()])).welcome);
  return { ag, bg };
}
const groups = {};
const group = async (suite) => (groups[suite] ??= await twoMembers(suite));
const cts = new Map();
const appCts = new Map();

const m = {
  // The same random Blob for every measurement of a size (4 MiB random parts); `key` stores it
  // under another name (the File and the in-memory Blob of one size side by side).
  async makeBlob({ mib, key = mib }) {
    const parts = [];
    for (let i = 0; i < mib; i += 4) parts.push(random(Math.min(4, mib - i) * MiB));
    blobs.set(key, new Blob(parts));
    return { size: blobs.get(key).size };
  },
  // The same random bytes as a File on disk, picked through an <input type=file> (what a user
  // sending a file hands the library): bench/run.mjs sets the input's file.
  useFile({ mib }) {
    const f = document.getElementById("file").files[0];
    if (!f || f.size !== mib * MiB) throw new Error(`no ${mib} MiB file in the input`);
    blobs.set(mib, f);
    return { size: f.size, kind: "File" };
  },
  dropBlob({ mib }) { blobs.delete(mib); blobs.delete(`${mib}b`); appCts.clear(); window.__matrixApp = null; window.__matrix = null; for (const k of [...cts.keys()]) if (k.startsWith(`${mib}/`)) cts.delete(k); return {}; },
  wasmMemory() { return { bytes: wasm.memory.buffer.byteLength }; },

  // Ceilings.
  async readStream({ mib }) { const t = now(); const n = await drain(blobs.get(mib).stream()); return { mbps: rate(n, now() - t) }; },
  async sha256Wasm() {
    const buf = random(64 * MiB), t = now();
    for (let i = 0; i < buf.length; i += 4 * MiB) mimi.attachmentHash(1, buf.subarray(i, i + 4 * MiB));
    return { mbps: rate(buf.length, now() - t) };
  },
  async aesGcmWebCrypto({ chunk = 256 * 1024 }) {
    const buf = random(64 * MiB), iv = random(12);
    const key = await crypto.subtle.importKey("raw", random(16), "AES-GCM", false, ["encrypt"]);
    const t = now();
    for (let i = 0; i < buf.length; i += chunk) await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: new Uint8Array(1) }, key, buf.subarray(i, i + chunk));
    return { mbps: rate(buf.length, now() - t) };
  },
  async chachaWasm() {
    const buf = random(64 * MiB);
    const keys = mimi.AttachmentKeys.fromParts(3, random(32), random(12));
    const t = now();
    for (let i = 0; i < buf.length; i += 4 * MiB) mimi.encryptChunked(keys, buf.subarray(i, i + 4 * MiB), 262144);
    return { mbps: rate(buf.length, now() - t) };
  },

  // What the browser does end to end without us: the file's Blob read in 4 MiB slices (the next
  // one prefetched) and sealed with WebCrypto AES-GCM in 256 KiB chunks, 8 in flight: the bound
  // of our encrypt pass (the hash pass aside).
  async jsBlobAesGcm({ mib }) {
    const blob = blobs.get(mib), CH = 256 * 1024, SLICE = 4 * MiB;
    const key = await crypto.subtle.importKey("raw", random(16), "AES-GCM", false, ["encrypt"]);
    const iv = random(12), aad = new Uint8Array(1), inflight = [];
    const t = now();
    let next = blob.slice(0, SLICE).arrayBuffer();
    for (let off = 0; off < blob.size; off += SLICE) {
      const buf = new Uint8Array(await next);
      if (off + SLICE < blob.size) next = blob.slice(off + SLICE, off + 2 * SLICE).arrayBuffer();
      for (let i = 0; i < buf.length; i += CH) {
        inflight.push(crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, key, buf.subarray(i, i + CH)));
        if (inflight.length >= 8) await inflight.shift();
      }
    }
    await Promise.all(inflight);
    return { mbps: rate(blob.size, now() - t) };
  },

  // Ours: File/Blob -> ciphertext stream (hash pass + encrypt pass), and back.
  async oursEncrypt({ mib, suite, backend }) {
    const { ag } = await group(suite);
    const blob = blobs.get(mib);
    const t = now();
    const out = await ag.encryptAttachment(blob, { backend });
    const tHash = now() - t;
    await drain(out.ciphertext({ backend }));
    const ms = now() - t;
    return { mbps: rate(blob.size, ms), hashMbps: rate(blob.size, tHash), encryptPassMbps: rate(blob.size, ms - tHash) };
  },
  // The decrypt rows' input: the ciphertext collected into a Blob (its own step, so that the
  // buffering is not counted in the encrypt rows' memory).
  async prepareCiphertext({ mib, suite, backend }) {
    const { ag, bg } = await group(suite);
    const out = await ag.encryptAttachment(blobs.get(mib), { backend });
    const ref = out.complete(random(16));
    cts.set(`${mib}/${suite}/${backend}`, { ct: await new Response(out.ciphertext({ backend })).blob(), ref: bg.receiveAttachment(ref.contentType(), ag.ownLeafIndex, bg.epoch) });
    return {};
  },
  async oursDecrypt({ mib, suite, backend }) {
    const { ct, ref } = cts.get(`${mib}/${suite}/${backend}`);
    const t = now();
    const n = await drain(ref.decrypt(ct, { backend }));
    return { mbps: rate(n, now() - t) };
  },

  // As apps call it, on the page's main thread: `input` ("file": the picked File, "blob": the
  // in-memory Blob) encrypted with the ciphertext collected as a Blob, by `sink` "response"
  // (`new Response(out.ciphertext()).blob()`) or "helper" (`out.ciphertextToBlob()`); the
  // decrypt rows take that Blob back with `decryptToBlob`.
  // Makes the groups before anything is measured (MLS key generation is not part of a row).
  async warmup() { await group(1); await group(3); return {}; },
  async appEncrypt({ mib, input, sink }) {
    const { ag, bg } = await group(1);
    const blob = blobs.get(input === "blob" ? `${mib}b` : mib);
    const t = now();
    const out = await ag.encryptAttachment(blob);
    const tHash = now() - t;
    const ct = sink === "helper" ? await out.ciphertextToBlob() : await new Response(out.ciphertext()).blob();
    const ms = now() - t;
    if (ct.size !== out.ciphertextSize) throw new Error("ciphertext size");
    const ref = bg.receiveAttachment(out.complete(random(16)).contentType(), ag.ownLeafIndex, bg.epoch);
    appCts.set(input, { ct, ref });
    return { mbps: rate(blob.size, ms), hashMbps: rate(blob.size, tHash), encryptPassMbps: rate(blob.size, ms - tHash) };
  },
  async appDecrypt({ input }) {
    const { ct, ref } = appCts.get(input);
    const t = now();
    const pt = await ref.decryptToBlob(ct);
    return { mbps: rate(pt.size, now() - t) };
  },
  // The Blob sinks alone, no crypto (a ceiling of every "→ Blob" row): a stream of fresh
  // 256 KiB + 16 B pieces (the size of a sealed chunk) collected by `new Response(stream).blob()`,
  // and one buffer of the whole size made a Blob (what the peer's rows do).
  async sinkResponse({ mib }) {
    const piece = 262160, tmpl = new Uint8Array(piece);
    let left = mib * MiB;
    const t = now();
    const s = new ReadableStream({ pull(c) { if (left <= 0) { c.close(); return; } const n = Math.min(piece, left); c.enqueue(tmpl.slice(0, n)); left -= n; } });
    const b = await new Response(s).blob();
    return { mbps: rate(b.size, now() - t) };
  },
  async sinkBuffer({ mib }) {
    try {
      const buf = new Uint8Array(mib * MiB);
      const t = now();
      const b = new Blob([buf]);
      const ms = now() - t;
      return { mbps: rate(b.size, ms) };
    } catch (e) { return { failed: `${e.name}: ${e.message}`.slice(0, 120) }; }
  },
  // The peer as apps call it: the file read whole, encrypted, the ciphertext made a Blob; back
  // the same way.
  async matrixAppEncrypt({ mib }) {
    const blob = blobs.get(mib);
    try {
      const t = now();
      const { data, info } = await window.MatrixEncryptAttachment.encryptAttachment(await blob.arrayBuffer());
      const ct = new Blob([data]);
      const ms = now() - t;
      window.__matrixApp = { ct, info };
      return { mbps: rate(blob.size, ms) };
    } catch (e) { window.__matrixApp = null; return { failed: `${e.name}: ${e.message}`.slice(0, 120) }; }
  },
  async matrixAppDecrypt() {
    if (!window.__matrixApp) return { failed: "no ciphertext (encrypt failed)" };
    try {
      const { ct, info } = window.__matrixApp;
      const t = now();
      const pt = new Blob([await window.MatrixEncryptAttachment.decryptAttachment(await ct.arrayBuffer(), info)]);
      const ms = now() - t;
      return { mbps: rate(pt.size, ms) };
    } catch (e) { window.__matrixApp = null; return { failed: `${e.name}: ${e.message}`.slice(0, 120) }; }
  },

  // The peer: matrix-encrypt-attachment (whole-file AES-CTR + SHA-256 on WebCrypto).
  async matrixEncrypt({ mib }) {
    const blob = blobs.get(mib);
    try {
      const t = now();
      const { data, info } = await window.MatrixEncryptAttachment.encryptAttachment(await blob.arrayBuffer());
      const ms = now() - t;
      window.__matrix = { data, info };
      return { mbps: rate(blob.size, ms) };
    } catch (e) { window.__matrix = null; return { failed: `${e.name}: ${e.message}`.slice(0, 120) }; }
  },
  async matrixDecrypt() {
    if (!window.__matrix) return { failed: "no ciphertext (encrypt failed)" };
    try {
      const { data, info } = window.__matrix;
      const t = now();
      const p = await window.MatrixEncryptAttachment.decryptAttachment(data, info);
      const ms = now() - t;
      return { mbps: rate(p.byteLength, ms) };
    } catch (e) { window.__matrix = null; return { failed: `${e.name}: ${e.message}`.slice(0, 120) }; }
  },

  // Through the Delivery Service on loopback, from the page's main thread: sendAttachment (hash,
  // encrypt and upload; no ciphertext Blob) and downloadToBlob (the plaintext kept as a Blob).
  async viaDs(a) {
    try { return await m.viaDsOnce(a); } catch (e) { return { failed: `${e.code ?? e.name}: ${e.message}`.slice(0, 160) }; }
  },
  async viaDsOnce({ mib, url }) {
    const a = await mimi.MlsClient.create(`ua${mib}${Math.random()}`, { storeName: null });
    const b = await mimi.MlsClient.create(`ub${mib}${Math.random()}`, { storeName: null });
    const da = new mimi.DsClient(url, a, { devLogin: true }), db = new mimi.DsClient(url, b, { devLogin: true });
    await db.publishKeyPackage();
    const ag = await da.createGroup();
    await da.addMember(ag, b.identity);
    const bg = await db.joinFromWelcome();
    const blob = blobs.get(mib);
    let t = now();
    const ref = await da.sendAttachment(ag, blob);
    const up = now() - t;
    const r = bg.receiveAttachment(ref.contentType(), ag.ownLeafIndex, bg.epoch);
    t = now();
    const kept = await db.downloadToBlob(bg, r); // kept, as an app keeps it
    return { uploadMbps: rate(blob.size, up), downloadMbps: rate(kept.size, now() - t) };
  },

  // Main-thread frame rate while a Worker encrypts.
  async fpsWithWorker({ mib }) {
    const w = new Worker(new URL("./worker.mjs", import.meta.url), { type: "module" });
    let frames = 0, on = true;
    const tick = () => { frames++; if (on) requestAnimationFrame(tick); };
    const done = new Promise((r) => { w.onmessage = (e) => r(e.data); });
    const t = now();
    requestAnimationFrame(tick);
    w.postMessage(blobs.get(mib));
    const r = await done;
    on = false;
    const ms = now() - t;
    w.terminate();
    return { fps: frames / (ms / 1000), workerMbps: r.ok ? rate(r.bytes, r.ms) : undefined, error: r.error };
  },
};

// Every measurement also reports the longest task of the page's main thread while it ran (a
// `longtask` PerformanceObserver: tasks over 50 ms; 0 when there was none).
window.measure = async (name, arg) => {
  let longest = 0;
  const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) longest = Math.max(longest, e.duration); });
  obs.observe({ type: "longtask" });
  try {
    const v = await m[name](arg ?? {});
    await new Promise((r) => setTimeout(r, 50));
    for (const e of obs.takeRecords()) longest = Math.max(longest, e.duration);
    return { ...v, longestTaskMs: longest };
  } finally { obs.disconnect(); }
};
{ const i = document.createElement("input"); i.type = "file"; i.id = "file"; document.body.append(i); }
window.ready = true;
