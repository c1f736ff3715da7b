// Saving to disk as it decrypts (issue 18): `ref.saveTo(ciphertext, writable)` and
// `DsClient.downloadTo(group, ref, writable)` into OPFS `createWritable()` streams (Chromium) and
// into a plain WritableStream (every engine). run.mjs calls these by name.
import init, * as mimi from "/pkg/mimi_attachments.js";
import { assert, assertEq, failureOf, randomBytes, aliceAndBob, send, receive } from "./common.mjs";

await init();
const MiB = 1 << 20;
const SEALED = 256 * 1024 + 16; // a default chunk with its tag

const sha256 = async (blob) => [...new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()))].join();

/** A fresh OPFS directory for one test, and what is in it. */
async function scratch(name) {
  const root = await navigator.storage.getDirectory();
  await root.removeEntry(name, { recursive: true }).catch(() => {});
  const dir = await root.getDirectoryHandle(name, { create: true });
  const list = async () => {
    const out = [];
    for await (const [n, h] of dir.entries()) out.push(h.kind === "file" ? `${n}:${(await h.getFile()).size}` : `${n}/`);
    return out.sort().join(",");
  };
  return { root, dir, list };
}

/** A WritableStream in memory: what reached it and whether it was closed or aborted. */
function memorySink({ failAfter = Infinity } = {}) {
  const got = { bytes: 0, closed: false, aborted: null };
  const parts = [];
  const writable = new WritableStream({
    write(c) {
      if (got.bytes + c.length > failAfter) throw new Error("disk full");
      parts.push(c.slice()); got.bytes += c.length;
    },
    close() { got.closed = true; },
    abort(reason) { got.aborted = reason?.code ?? String(reason); },
  });
  return { writable, got, blob: () => new Blob(parts) };
}

export const saveTests = {
  /** Every engine: saveTo into a plain WritableStream; failures abort it with our error. */
  async save_to_writable_stream() {
    const { ag, bg } = await aliceAndBob(mimi);
    const data = randomBytes(3 * MiB + 77);
    const s = await send(ag, new Blob([data]));
    const ref = await receive(ag, bg, s.contentType);
    const ok = memorySink();
    assertEq(await ref.saveTo(s.ciphertext, ok.writable), undefined, "resolves when written");
    assert(ok.got.closed && ok.got.aborted === null, "closed, not aborted");
    assertEq(await sha256(ok.blob()), await sha256(new Blob([data])), "bytes written");
    // A flipped bit in chunk 5: the sink is aborted with the error the promise rejects with.
    const ct = new Uint8Array(await s.ciphertext.arrayBuffer());
    const bad = ct.slice(); bad[5 * SEALED + 10] ^= 1;
    const t = memorySink();
    const f = await failureOf(() => ref.saveTo(bad, t.writable));
    assertEq(f.code + f.chunk, "DecryptFailed5", "the decrypt error, with its chunk");
    assertEq(t.got.aborted, "DecryptFailed", "the sink aborted with it");
    assert(!t.got.closed && t.got.bytes <= 5 * 256 * 1024, "not closed; nothing past the bad chunk");
    // The last chunk is never written unless the whole file verified: drop it.
    const tr = memorySink();
    assertEq((await failureOf(() => ref.saveTo(ct.subarray(0, ct.length - 1000), tr.writable))).code, "Truncated", "truncated");
    assert(tr.got.aborted === "Truncated" && tr.got.bytes < data.length, "truncated: aborted, short");
    // The sink fails (disk full): an Io error, the decryption stops.
    const full = memorySink({ failAfter: MiB });
    assertEq((await failureOf(() => ref.saveTo(s.ciphertext, full.writable))).code, "Io", "sink failure");
    // Not a WritableStream.
    assertEq((await failureOf(() => ref.saveTo(s.ciphertext, {}))).code, "InvalidArgument", "not a WritableStream");
    return { bytes: data.length };
  },

  /** Chromium: `mib` MiB saved into OPFS byte-exact; a tampered copy leaves nothing behind. */
  async save_to_opfs({ mib }) {
    const { dir, list } = await scratch("mimi-save-test");
    const { ag, bg } = await aliceAndBob(mimi);
    const data = randomBytes(mib * MiB);
    const s = await send(ag, new Blob([data]));
    const ref = await receive(ag, bg, s.contentType);
    const h = await dir.getFileHandle("video.mp4", { create: true });
    const writable = await h.createWritable();
    const t0 = performance.now(), saveStart = Date.now();
    await ref.saveTo(s.ciphertext, writable);
    const ms = performance.now() - t0, saveEnd = Date.now();
    const file = await h.getFile();
    assertEq(file.size, data.length, "saved size");
    assertEq(await sha256(file), await sha256(new Blob([data])), "SHA-256 of the saved file");

    // Tampered in the middle: a new file stays empty (no partial bytes, no swap file left) and is
    // removed as the README says; an existing file keeps its old contents.
    const ct = new Uint8Array(await s.ciphertext.arrayBuffer());
    const bad = ct.slice(); bad[Math.floor(ct.length / 2)] ^= 1;
    await dir.removeEntry("video.mp4");
    const fresh = await dir.getFileHandle("fresh.mp4", { create: true });
    const f = await failureOf(async () => ref.saveTo(bad, await fresh.createWritable()));
    assertEq(f.code, "DecryptFailed", "tampered ciphertext");
    assertEq(await list(), "fresh.mp4:0", "the new file is empty and nothing else is left");
    await dir.removeEntry("fresh.mp4");
    const old = await dir.getFileHandle("old.txt", { create: true });
    const w = await old.createWritable(); await w.write("old contents"); await w.close();
    assertEq((await failureOf(async () => ref.saveTo(bad, await old.createWritable()))).code, "DecryptFailed", "tampered, over an old file");
    assertEq(await (await old.getFile()).text(), "old contents", "an existing file keeps its contents");
    await dir.removeEntry("old.txt");
    assertEq(await list(), "", "no file left behind");
    return { mib, saveMBps: Math.round(data.length / 1e3 / ms), saveStart, saveEnd };
  },

  /** Chromium + the DS: downloadTo into OPFS, and a failed download leaves the file empty. */
  async download_to_opfs({ url }) {
    const { dir, list } = await scratch("mimi-download-test");
    const mk = async (name) => { const c = await mimi.MlsClient.create(name, { storeName: null }); return { c, ds: new mimi.DsClient(url, c, { devLogin: true }) }; };
    const a = await mk("sv-alice"), b = await mk("sv-bob");
    await b.ds.publishKeyPackage();
    const ag = await a.ds.createGroup();
    await a.ds.addMember(ag, "sv-bob");
    const bg = await b.ds.joinFromWelcome();
    const data = randomBytes(9 * MiB + 5);
    const sent = await a.ds.sendAttachment(ag, new Blob([data]));
    const r = bg.receiveAttachment(sent.contentType(), ag.ownLeafIndex, bg.epoch);
    const h = await dir.getFileHandle("report.pdf", { create: true });
    await b.ds.downloadTo(bg, r, await h.createWritable());
    assertEq(await sha256(await h.getFile()), await sha256(new Blob([data])), "SHA-256 of the downloaded file");
    // Stopped in the middle of the body (an abort after 2 MiB): the file keeps nothing of it.
    const h3 = await dir.getFileHandle("half.pdf", { create: true });
    const stop = new AbortController();
    const half = await failureOf(async () => b.ds.downloadTo(bg, r, await h3.createWritable(), { signal: stop.signal, onProgress: (p) => { if (p.loaded > 2 * MiB) stop.abort(); } }));
    assertEq(half.code, "Aborted", "aborted in the middle");
    assertEq((await h3.getFile()).size, 0, "nothing of the aborted download kept");
    await dir.removeEntry("half.pdf");
    // Deleted on the DS: the request fails before any byte; the writable is aborted.
    await a.ds.deleteAttachment(ag, sent);
    const h2 = await dir.getFileHandle("gone.pdf", { create: true });
    assertEq((await failureOf(async () => b.ds.downloadTo(bg, r, await h2.createWritable()))).code, "NotFound", "deleted attachment");
    assertEq(await list(), "gone.pdf:0,report.pdf:" + data.length, "the failed download left an empty file only");
    return { bytes: data.length };
  },
};
