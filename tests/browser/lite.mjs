// The light build (`mimi-attachments/lite`: no openmls) through its JS API, in the same page as
// the full build. An app with its own MLS stack hands the package that stack's `MLS-Exporter`;
// here the full build's MlsGroup stands in for such a stack (as openmls compiled by another
// package, e.g. Wire's core-crypto, would): `ExternalGroup({exportSecret: g.exportSecret})`.
// ts-mls as that stack, with request signing and the Delivery Service: tests/interop.
import initLite, * as lite from "/pkg/lite/mimi_attachments_lite.js";
import * as mimi from "/pkg/mimi_attachments.js";
import { assert, assertEq, codeOf, failureOf, randomBytes, equal, bytesOf, drain, aliceAndBob } from "./common.mjs";

await initLite();
const MiB = 1 << 20;

/** Alice and Bob in a group of the "other" stack, and their ExternalGroups of its current epoch. */
async function liteAliceAndBob(suite = 1) {
  const { ag, bg } = await aliceAndBob(mimi, { suite });
  const ext = (g, over = {}) => new lite.ExternalGroup({
    groupId: g.groupId, epoch: g.epoch, ownLeafIndex: g.ownLeafIndex, cipherSuite: g.cipherSuite,
    exportSecret: (label, context, length) => g.exportSecret(label, context, length),
    ...over,
  });
  return { ag, bg, xa: ext(ag), xb: ext(bg), ext };
}

/** A WritableStream that keeps what it is given. */
function sink() {
  const parts = [];
  let closed = false, aborted = null;
  const writable = new WritableStream({
    write(c) { parts.push(c.slice()); },
    close() { closed = true; },
    abort(e) { aborted = e?.code ?? String(e); },
  });
  return { writable, state: () => ({ closed, aborted }), blob: () => new Blob(parts) };
}

export const liteTests = {
  /** The light module exports the attachment API and no MLS client. */
  async lite_exports_no_mls_client() {
    for (const name of ["MlsClient", "MlsGroup", "ExternalPart"]) assertEq(typeof lite[name], name === "ExternalPart" ? "function" : "undefined", `lite.${name}`);
    for (const name of ["ExternalGroup", "DsClient", "AttachmentRef", "OutgoingAttachment", "AttachmentKeys", "ExternalBodyRef", "attachmentExporterInput", "encryptChunked", "decryptChunked"]) {
      assertEq(typeof lite[name], "function", `lite.${name}`);
    }
    const ds = new lite.DsClient("http://127.0.0.1:9", {});
    assertEq(typeof ds.sendAttachment + typeof ds.registerGroup + typeof ds.postHandshake, "functionfunctionfunction", "the light DsClient");
    assertEq(typeof ds.createGroup + typeof ds.pendingUploads, "undefinedundefined", "no MLS-client routes or reload resume in the light DsClient");
  },

  /** Suites 1 and 3, chunked and one-shot: the light build's references are byte-identical to
   *  the full build's (same keys, group, epoch, sender), and each build decrypts the other's. */
  async lite_round_trip_matches_the_full_build() {
    const seen = [];
    for (const suite of [1, 3]) {
      const { ag, bg, xa, xb } = await liteAliceAndBob(suite);
      assertEq(xa.cipherSuite + xa.epoch + xa.ownLeafIndex, suite + ag.epoch + ag.ownLeafIndex, "ExternalGroup getters");
      const data = randomBytes(2 * MiB + 333);
      for (const options of [{ chunkSize: 65536 }, {}, { oneShot: true }]) {
        const out = await xa.encryptAttachment(new Blob([data]), options);
        assertEq(out.epoch, ag.epoch, "keys of the current epoch");
        const ct = await out.ciphertextToBlob();
        assertEq(ct.size, out.ciphertextSize, "ciphertext size");
        const sent = out.complete(randomBytes(16));
        const ct2 = await new Response(out.ciphertext()).blob();
        assertEq(ct2.size, ct.size, "ciphertext() and ciphertextToBlob() agree");
        const lr = await xb.receiveAttachment(sent.contentType(), xa.ownLeafIndex, xb.epoch);
        const fr = bg.receiveAttachment(sent.contentType(), ag.ownLeafIndex, bg.epoch);
        assert(equal(lr.toBytes(), fr.toBytes()), "the receiver's reference is the full build's, byte for byte");
        assert(equal(sent.toBytes(), lr.toBytes()), "and the sender's");
        assert(equal(await bytesOf(await lr.decryptToBlob(ct)), data), `light decrypts light ${JSON.stringify(options)}`);
        assert(equal(await bytesOf(await fr.decryptToBlob(ct)), data), "full decrypts light");
        // The other way: the full build encrypts, the light build decrypts.
        const fout = await ag.encryptAttachment(new Blob([data]), options);
        const fct = await fout.ciphertextToBlob();
        const fref = fout.complete(randomBytes(16));
        const lr2 = await xb.receiveAttachment(fref.contentType(), ag.ownLeafIndex, xb.epoch);
        assert(equal(await bytesOf(lr2.decrypt(fct)), data), "light decrypts full");
        assert(equal(lite.AttachmentRef.fromBytes(fref.toBytes()).toBytes(), fref.toBytes()), "stored references move between builds");
        seen.push(`suite ${suite} ${options.oneShot ? "one-shot" : `chunk ${options.chunkSize ?? "default"}`}`);
      }
    }
    return seen;
  },

  /** Failures of the light build carry the same codes as the full build's. */
  async lite_failures_have_their_own_codes() {
    const { ag, bg, xa, xb, ext } = await liteAliceAndBob();
    const data = randomBytes(MiB + 123);
    const out = await xa.encryptAttachment(new Blob([data]));
    const ct = await bytesOf(await out.ciphertextToBlob());
    const ct_ = out.complete(randomBytes(16)).contentType();
    const ref = await xb.receiveAttachment(ct_, xa.ownLeafIndex, xb.epoch);
    const flipped = ct.slice(); flipped[300000] ^= 1;
    const f = await failureOf(() => drain(ref.decrypt(flipped)));
    assertEq(f.code + f.chunk, "DecryptFailed1", "flipped bit in chunk 1");
    assertEq(await codeOf(() => drain(ref.decrypt(ct.subarray(0, 4 * (256 * 1024 + 16))))), "Truncated", "dropped last chunk");
    const extra = new Uint8Array(ct.length + 16); extra.set(ct);
    assertEq(await codeOf(() => drain(ref.decrypt(extra))), "TrailingData", "data after the end");
    const wrongSender = await xb.receiveAttachment(ct_, xb.ownLeafIndex, xb.epoch);
    assertEq(await codeOf(() => drain(wrongSender.decrypt(ct))), "DecryptFailed", "keys of the wrong sender");
    assertEq(await codeOf(() => xb.receiveAttachment("text/plain", 0, xb.epoch)), "BadContentType", "bad content type");
    assertEq(await codeOf(() => xb.receiveAttachment(ct_, 0, xb.epoch + 1)), "WrongEpoch", "a message of another epoch than the ExternalGroup's");
    assertEq(await codeOf(() => xb.receiveAttachment(ct_, 0.5, xb.epoch)), "InvalidArgument", "leaf index 0.5");
    assertEq(await codeOf(() => xa.encryptAttachment(new Blob([data]), { chunkSize: 100 })), "BadChunkSize", "chunk size");
    // The init object, checked as every number argument is.
    const base = { groupId: ag.groupId, epoch: ag.epoch, ownLeafIndex: 0, cipherSuite: 1, exportSecret: () => new Uint8Array(32) };
    const init = (over) => codeOf(() => new lite.ExternalGroup({ ...base, ...over }));
    assertEq(await init({}), "no error", "a good init");
    assertEq(await init({ epoch: 1n }), "no error", "a bigint epoch (as ts-mls has it)");
    assertEq(await init({ epoch: -1n }), "InvalidArgument", "a negative bigint epoch");
    assertEq(await init({ epoch: 1.5 }), "InvalidArgument", "epoch 1.5");
    assertEq(await init({ ownLeafIndex: 2 ** 32 }), "InvalidArgument", "leaf index past u32");
    assertEq(await init({ cipherSuite: 0x7777 }), "UnknownCipherSuite", "suite");
    assertEq(await init({ groupId: "family" }), "InvalidArgument", "group id not bytes");
    assertEq(await init({ exportSecret: undefined }), "InvalidArgument", "no exporter");
    assertEq(await init({ sign: 7 }), "InvalidArgument", "sign not a function");
    assertEq(await codeOf(() => new lite.ExternalGroup()), "InvalidArgument", "no init");
    // What the app's exporter hands back is checked.
    const blob = new Blob([data]);
    assertEq(await codeOf(() => ext(ag, { exportSecret: () => new Uint8Array(31) }).encryptAttachment(blob)), "InvalidLength", "31-byte exporter output");
    assertEq(await codeOf(() => ext(ag, { exportSecret: () => "secret" }).encryptAttachment(blob)), "Mls", "exporter output not bytes");
    assertEq(await codeOf(() => ext(ag, { exportSecret: () => { throw new Error("no such epoch"); } }).encryptAttachment(blob)), "Mls", "exporter throws");
    assertEq(await codeOf(() => ext(ag, { exportSecret: async () => { throw new Error("gone"); } }).encryptAttachment(blob)), "Mls", "exporter rejects");
    // The exporter's output is the secret, not a view the package keeps: the app's array is wiped.
    let handed;
    await ext(ag, { exportSecret: (l, c, n) => (handed = ag.exportSecret(l, c, n)) }).encryptAttachment(blob);
    assert(handed.length === 32 && handed.every((b) => b === 0), "the exporter's output array is zeroed after use");
    // A reference of another group is refused before anything is fetched.
    const other = await aliceAndBob(mimi, { group: "work" });
    const foreign = (await ext(other.ag).encryptAttachment(blob)).complete(randomBytes(16));
    assertEq(await codeOf(() => new lite.DsClient("http://127.0.0.1:9", {}).downloadToBlob(xb, foreign)), "WrongGroup", "a reference of another group");
  },

  /** The light build in a Worker (the app's MLS stack there): its ciphertext and content type
   *  decrypt in the page with the same exporter; another exporter's keys do not. */
  async lite_runs_in_a_worker() {
    const seed = randomBytes(32), groupId = randomBytes(16), data = randomBytes(MiB + 5);
    const w = new Worker(new URL("./lite-worker.mjs", import.meta.url), { type: "module" });
    const r = await new Promise((resolve) => {
      w.onmessage = (e) => resolve(e.data);
      w.onerror = (e) => resolve({ ok: false, error: e.message });
      w.postMessage({ groupId, epoch: 7, leaf: 3, seed, file: new Blob([data]) });
    });
    w.terminate();
    assert(r.ok, `worker: ${r.error}`);
    assertEq(r.global, "DedicatedWorkerGlobalScope", "ran in a dedicated worker");
    const exporter = (s) => async (label, context, length) => {
      const key = await crypto.subtle.importKey("raw", s, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return new Uint8Array(await crypto.subtle.sign("HMAC", key, new Uint8Array([...new TextEncoder().encode(label), ...context]))).slice(0, length);
    };
    const receiver = (s) => new lite.ExternalGroup({ groupId, epoch: 7, ownLeafIndex: 0, cipherSuite: 1, exportSecret: exporter(s) });
    const ref = await receiver(seed).receiveAttachment(r.contentType, 3, 7);
    assert(equal(await bytesOf(await ref.decryptToBlob(r.ciphertext)), data), "the page decrypts the worker's attachment");
    const other = await receiver(randomBytes(32)).receiveAttachment(r.contentType, 3, 7);
    assertEq(await codeOf(() => other.decryptToBlob(r.ciphertext)), "DecryptFailed", "another exporter's keys");
    return { bytes: data.length };
  },

  /** Progress, abort and saveTo in the light build. */
  async lite_progress_abort_and_save() {
    const { xa, xb } = await liteAliceAndBob();
    const data = randomBytes(40 * MiB + 9);
    const seen = [];
    const out = await xa.encryptAttachment(new Blob([data]), { onProgress: (p) => seen.push(p) });
    assert(seen.length >= 1 && seen.every((p) => p.phase === "hash") && seen.at(-1).loaded === data.length, "hash progress");
    const ct = await out.ciphertextToBlob();
    const ref = await xb.receiveAttachment(out.complete(randomBytes(16)).contentType(), xa.ownLeafIndex, xb.epoch);
    const c1 = new AbortController();
    assertEq(await codeOf(() => xa.encryptAttachment(new Blob([data]), { signal: c1.signal, onProgress: () => c1.abort() })), "Aborted", "abort while hashing");
    const c2 = new AbortController();
    const st = ref.decrypt(ct, { signal: c2.signal, onProgress: (p) => { if (p.loaded > 2 * MiB) c2.abort(); } });
    assertEq(await codeOf(() => drain(st)), "Aborted", "abort while decrypting");
    const ok = sink();
    await ref.saveTo(ct, ok.writable);
    assert(ok.state().closed && equal(await bytesOf(ok.blob()), data), "saveTo writes the verified plaintext");
    const bad = new Uint8Array(await ct.arrayBuffer()); bad[bad.length - 5] ^= 1;
    const t = sink();
    assertEq(await codeOf(() => ref.saveTo(bad, t.writable)), "DecryptFailed", "a tampered last chunk");
    assert(!t.state().closed && t.state().aborted === "DecryptFailed", "the sink is aborted, not closed");
    return { hashEvents: seen.length };
  },
};
