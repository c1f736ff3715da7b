// Page-side tests of the package's JS API. The runner (run.mjs) calls window.runTest(name, arg).
import init, * as mimi from "/pkg/mimi_attachments.js";
import { assert, assertEq, codeOf, randomBytes, equal, bytesOf, drain, aliceAndBob, send, receive, smallFlow } from "./common.mjs";
import { adversarialTests } from "./adversarial.mjs";
import { saveTests } from "./save.mjs";
import { liteTests } from "./lite.mjs";
import { responsiveTests } from "./responsive.mjs";

const wasm = await init();
const wasmMemory = () => wasm.memory.buffer.byteLength;
const MiB = 1 << 20;

const tests = {
  async alice_sends_bob_decrypts_after_two_more_epochs() {
    const carol = await mimi.MlsClient.create("carol", { storeName: null });
    const mallory = await mimi.MlsClient.create("mallory", { storeName: null });
    const { ag, bg } = await aliceAndBob(mimi);
    assertEq(ag.epoch, 1, "epoch after adding Bob");
    assertEq(bg.members().map((m) => m.identity).join(","), "alice,bob", "roster");
    const big = randomBytes(5 * MiB);
    const s1 = await send(ag, new Blob([big]));
    const s0 = await send(ag, new Blob([]));
    assertEq(s1.ciphertext.size, 5 * MiB + 20 * 16, "chunked ciphertext size (20 chunks of 256 KiB)");
    const r1 = await receive(ag, bg, s1.contentType);
    const r0 = await receive(ag, bg, s0.contentType);
    assertEq(r1.size, 5 * MiB, "size from the reference");
    const stored1 = r1.toBytes(), stored0 = r0.toBytes();

    // Epoch 2: Carol joins; epoch 3: Carol is removed.
    let up = await ag.addMembers([await carol.keyPackage()]);
    let ev = await bg.processMessage(up.commit);
    assertEq(ev.type + ev.epoch + ev.added.join(), "commit2carol", "Bob sees Carol added");
    const cg = await carol.joinGroup(up.welcome);
    assertEq(await codeOf(() => cg.receiveAttachment(s1.contentType, 0, 1)), "WrongEpoch", "Carol cannot derive an epoch-1 key");
    up = await ag.removeMembers([cg.ownLeafIndex]);
    ev = await bg.processMessage(up.commit);
    assertEq(ev.removed.join(), String(cg.ownLeafIndex), "Bob sees Carol removed");
    const evc = await cg.processMessage(up.commit);
    assert(evc.selfRemoved && !cg.isActive, "Carol knows she was removed");
    assertEq(bg.epoch, 3, "Bob in epoch 3");

    // Bob, two epochs later, from the stored references.
    const back1 = await bytesOf(await mimi.AttachmentRef.fromBytes(stored1).decryptToBlob(s1.ciphertext, { type: "video/mp4" }));
    assert(equal(back1, big), "5 MiB attachment identical");
    const back0 = await bytesOf(await mimi.AttachmentRef.fromBytes(stored0).decryptToBlob(s0.ciphertext));
    assertEq(back0.length, 0, "0-byte attachment");

    // A removed member and an outsider cannot derive the key.
    assertEq(await codeOf(() => cg.receiveAttachment(s1.contentType, 0, 3)), "NotMember", "Carol removed");
    const og = await mallory.createGroup(new TextEncoder().encode("family"));
    const guess = og.receiveAttachment(s1.contentType, 0, og.epoch);
    assertEq(await codeOf(() => drain(guess.decrypt(s1.ciphertext))), "DecryptFailed", "outsider");
    return { ciphertext: s1.ciphertext.size };
  },

  async failures_have_their_own_codes() {
    const { ag, bg } = await aliceAndBob(mimi);
    const data = randomBytes(MiB + 123);
    const s = await send(ag, new Blob([data]));
    const ref = await receive(ag, bg, s.contentType);
    const ct = await bytesOf(s.ciphertext);
    const flipped = ct.slice(); flipped[300000] ^= 1;
    const e = await (async () => { try { await drain(ref.decrypt(flipped)); } catch (e) { return e; } })();
    assert(e instanceof Error && e.name === "MimiAttachmentsError", "a real Error object");
    assertEq(e.code + e.chunk, "DecryptFailed1", "flipped bit in chunk 1");
    const sealed = 256 * 1024 + 16;
    assertEq(await codeOf(() => drain(ref.decrypt(ct.subarray(0, 4 * sealed)))), "Truncated", "dropped last chunk");
    const wrongSender = bg.receiveAttachment(s.contentType, bg.ownLeafIndex, bg.epoch);
    assertEq(await codeOf(() => drain(wrongSender.decrypt(ct))), "DecryptFailed", "wrong sender index");
    const extra = new Uint8Array(ct.length + 16); extra.set(ct);
    assertEq(await codeOf(() => drain(ref.decrypt(extra))), "TrailingData", "data after the end");
    assertEq(await codeOf(() => bg.receiveAttachment("text/plain", 0, bg.epoch)), "BadContentType", "bad content type");
    const e2 = await (async () => { try { bg.receiveAttachment(s.contentType.replace(/; hash=[^;]+/, ""), 0, bg.epoch); } catch (e) { return e; } })();
    assertEq(e2.kind, "MissingParameter", "kind of the content-type error");
    assertEq(await codeOf(() => bg.receiveAttachment(s.contentType, 0, bg.epoch + 1)), "WrongEpoch", "message of another epoch");
    // A message of another group.
    const other = await aliceAndBob(mimi, { group: "work" });
    const m = await other.ag.encryptMessage("hi");
    assertEq(await codeOf(() => bg.processMessage(m)), "WrongGroup", "message of another group");
    // The epoch moves on between encryptAttachment and complete(): must re-encrypt.
    const out = await ag.encryptAttachment(new Blob([data]));
    const upd = await ag.selfUpdate();
    await bg.processMessage(upd.commit);
    assertEq(await codeOf(() => out.complete(randomBytes(16))), "WrongEpoch", "epoch changed before sending");
    assertEq(await codeOf(() => ag.encryptAttachment(new Blob([data]), { chunkSize: 100 })), "BadChunkSize", "chunk size");
    assertEq(await codeOf(() => ag.encryptAttachment(new Blob([data]), { backend: "gpu" })), "InvalidArgument", "backend");
    assertEq(await codeOf(() => mimi.AttachmentRef.fromBytes(new Uint8Array([1, 2, 3]))), "Codec", "garbage reference");
  },

  async abort_and_progress() {
    const { ag, bg } = await aliceAndBob(mimi);
    const data = randomBytes(40 * MiB); // above the 32 MiB one-call digest budget: streamed hashing
    const seen = [];
    const s = await send(ag, new Blob([data]), { onProgress: (p) => seen.push(p) });
    // One event per piece the Blob's stream yields: WebKit hands an in-memory Blob over in one
    // piece (docs/WEBKIT.md), so there it is one event.
    const pieces = await (async (r, n) => { while (!(await r.read()).done) n++; return n; })(new Blob([data]).stream().getReader(), 0);
    assert(seen.length >= Math.min(3, pieces) && seen.every((p) => p.phase === "hash"), `hash progress reported (${seen.length} events, ${pieces} pieces)`);
    assertEq(seen.at(-1).loaded, data.length, "hash progress reaches the size");
    const ref = await receive(ag, bg, s.contentType);
    const dec = [];
    await drain(ref.decrypt(s.ciphertext, { onProgress: (p) => dec.push(p) }));
    assertEq(dec.at(-1).loaded, data.length, "decrypt progress reaches the size");
    assert(dec.every((p, i) => p.phase === "decrypt" && p.total === data.length && (i === 0 || p.loaded > dec[i - 1].loaded)), "decrypt progress increasing");
    // Abort while hashing.
    const c1 = new AbortController();
    const p1 = ag.encryptAttachment(new Blob([data]), { signal: c1.signal, onProgress: () => c1.abort() });
    assertEq(await codeOf(() => p1), "Aborted", "abort while hashing");
    // Abort while decrypting.
    const c2 = new AbortController();
    const st = ref.decrypt(s.ciphertext, { signal: c2.signal, onProgress: (p) => { if (p.loaded > 2 * MiB) c2.abort(); } });
    assertEq(await codeOf(() => drain(st)), "Aborted", "abort while decrypting");
    // Abort before the ciphertext stream starts.
    const out = await ag.encryptAttachment(new Blob([data]));
    const c3 = new AbortController(); c3.abort();
    assertEq(await codeOf(() => drain(out.ciphertext({ signal: c3.signal }))), "Aborted", "abort while encrypting");
    return { hashEvents: seen.length, decryptEvents: dec.length };
  },

  async one_shot_and_chacha20poly1305() {
    for (const suite of [1, 3]) {
      const { ag, bg } = await aliceAndBob(mimi, { suite });
      assertEq(ag.cipherSuite, suite, "group suite");
      const data = randomBytes(3 * MiB + 5);
      for (const options of [{ oneShot: true }, { chunkSize: 65536 }]) {
        const s = await send(ag, new Blob([data]), options);
        assertEq(s.contentType.includes("chunk-size"), !options.oneShot, "chunk-size only for chunked");
        const ref = await receive(ag, bg, s.contentType);
        assert(equal(await bytesOf(ref.decrypt(s.ciphertext)), data), `suite ${suite} ${JSON.stringify(options)}`);
      }
      assertEq(await codeOf(() => ag.encryptAttachment(new Blob([data]), { backend: "webcrypto", oneShot: true }).then((o) => drain(o.ciphertext({ backend: "webcrypto" })))),
        suite === 3 ? "InvalidArgument" : "no error", "WebCrypto has no ChaCha20-Poly1305");
    }
    const { ag } = await aliceAndBob(mimi);
    assertEq(await codeOf(() => ag.encryptAttachment(new Blob([new Uint8Array(64 * MiB + 1)]), { oneShot: true })), "TooLarge", "one-shot limit");
  },

  async worker_runs_the_whole_api() {
    const w = new Worker(new URL("./worker.mjs", import.meta.url), { type: "module" });
    const r = await new Promise((resolve) => { w.onmessage = (e) => resolve(e.data); w.onerror = (e) => resolve({ ok: false, error: e.message }); w.postMessage("run"); });
    w.terminate();
    assert(r.ok, `worker: ${r.error}`);
    assert(r.persisted, "IndexedDB persistence in the worker");
    assertEq(r.global, "DedicatedWorkerGlobalScope", "ran in a dedicated worker");
    return r;
  },

  async disk_backed_file({ sha256, size }) {
    const file = document.getElementById("file").files[0];
    assert(file && file.size === size, "the runner's file is selected");
    const { ag, bg } = await aliceAndBob(mimi);
    const out = await ag.encryptAttachment(file);
    const hex = [...out.hash].map((b) => b.toString(16).padStart(2, "0")).join("");
    assertEq(hex, sha256, "attachment_hash equals SHA-256 of the file on disk");
    const ref = await receive(ag, bg, out.complete(randomBytes(16)).contentType());
    // Ciphertext streamed straight into decryption: nothing held whole.
    assertEq(await drain(ref.decrypt(out.ciphertext())), size, "decrypted size");
    return { size };
  },

  async reload_before() {
    for (const n of ["reload-alice", "reload-bob"]) await mimi.MlsClient.deleteStored(n);
    const { ag, bg } = await aliceAndBob(mimi, { alice: "reload-alice", bob: "reload-bob" });
    const data = randomBytes(300000);
    const s = await send(ag, new Blob([data]));
    const ref = await receive(ag, bg, s.contentType);
    sessionStorage.setItem("reload", JSON.stringify({
      ref: Array.from(ref.toBytes()), ct: Array.from(await bytesOf(s.ciphertext)), data: Array.from(data),
      group: Array.from(ag.groupId), epoch: ag.epoch,
    }));
  },

  async reload_after() {
    const saved = JSON.parse(sessionStorage.getItem("reload"));
    const alice = await mimi.MlsClient.load("reload-alice");
    const bob = await mimi.MlsClient.load("reload-bob");
    assert(alice && bob, "both clients restored from IndexedDB");
    assertEq(await mimi.MlsClient.load("reload-nobody"), undefined, "unknown store name");
    const gid = new Uint8Array(saved.group);
    assertEq(bob.groupIds().length, 1, "Bob's groups");
    const ag = alice.loadGroup(gid), bg = bob.loadGroup(gid);
    assertEq(ag.epoch + bg.epoch, 2 * saved.epoch, "epochs restored");
    // Keep chatting both ways, and move to a new epoch.
    let ev = await bg.processMessage(await ag.encryptMessage("after the reload"));
    assertEq(new TextDecoder().decode(ev.data), "after the reload", "Alice to Bob");
    ev = await ag.processMessage(await bg.encryptMessage("welcome back"));
    assertEq(ev.senderLeafIndex, bg.ownLeafIndex, "Bob to Alice");
    ev = await ag.processMessage((await bg.selfUpdate()).commit);
    assertEq(ev.epoch, saved.epoch + 1, "new epoch");
    // The attachment received before the reload still decrypts.
    const back = await bytesOf(mimi.AttachmentRef.fromBytes(new Uint8Array(saved.ref)).decrypt(new Uint8Array(saved.ct)));
    assert(equal(back, new Uint8Array(saved.data)), "attachment after reload");
    // A fresh load sees the new epoch (persisted by the last calls).
    assertEq((await mimi.MlsClient.load("reload-bob")).loadGroup(gid).epoch, saved.epoch + 1, "persisted epoch");
    for (const n of ["reload-alice", "reload-bob"]) await mimi.MlsClient.deleteStored(n);
  },

  async bounded_memory({ mib }) {
    const size = mib * MiB;
    const part = randomBytes(MiB);
    const file = new Blob(Array.from({ length: mib }, () => part));
    const before = wasmMemory();
    const report = { sizeMiB: mib, wasmMemoryBeforeMiB: before / MiB };
    for (const [suite, backend] of [[1, "webcrypto"], [3, "wasm"]]) {
      const { ag, bg } = await aliceAndBob(mimi, { suite });
      let t0 = performance.now();
      const out = await ag.encryptAttachment(file, { backend });
      const tHash = performance.now() - t0;
      const ct = await new Response(out.ciphertext({ backend })).blob();
      const tEnc = performance.now() - t0;
      const ref = await receive(ag, bg, out.complete(randomBytes(16)).contentType());
      t0 = performance.now();
      assertEq(await drain(ref.decrypt(ct, { backend })), size, "decrypted size");
      const tDec = performance.now() - t0;
      report[`suite${suite}_${backend}`] = {
        encryptMBps: Math.round(size / 1e3 / tEnc), hashMBps: Math.round(size / 1e3 / tHash), decryptMBps: Math.round(size / 1e3 / tDec),
      };
    }
    report.wasmMemoryAfterMiB = wasmMemory() / MiB;
    assert(wasmMemory() < 64 * MiB, `wasm memory ${wasmMemory() / MiB} MiB must stay under 64 MiB`);
    return report;
  },
};

// The adversarial cases of issue 7 (tests/browser/adversarial.mjs, docs/ADVERSARIAL.md).
Object.assign(tests, adversarialTests, responsiveTests);
// Saving to disk as it decrypts (tests/browser/save.mjs; the OPFS ones are run by run.mjs).
Object.assign(tests, saveTests, liteTests);

tests.ds_transport = async ({ url }) => {
  const mk = async (name) => { const c = await mimi.MlsClient.create(name, { storeName: null }); return { c, ds: new mimi.DsClient(url, c, { devLogin: true }) }; };
  const a = await mk("t-alice"), b = await mk("t-bob");
  await b.ds.publishKeyPackage();
  const ag = await a.ds.createGroup();
  await a.ds.addMember(ag, "t-bob");
  const bg = await b.ds.joinFromWelcome();
  assert(bg, "Bob joined from his mailbox");
  assertEq(await b.ds.joinFromWelcome(), undefined, "mailbox now empty");
  await a.ds.sendMessage(ag, "hello over the DS");
  const got = await b.ds.fetchMessages(bg, { after: 0 });
  const app = got.events.filter((e) => e.type === "application");
  assertEq(app.length, 1, "one application message relayed");
  assertEq(new TextDecoder().decode(app[0].data), "hello over the DS", "message text");
  // Small (one request) and large (resumable, 8 MiB parts) attachments.
  for (const size of [100_000, 19 * MiB + 7]) {
    const data = randomBytes(size);
    const seen = [];
    const ref = await a.ds.sendAttachment(ag, new Blob([data]), { onProgress: (p) => seen.push(p.phase) });
    assert(seen.includes("upload"), "upload progress reported");
    const r = bg.receiveAttachment(ref.contentType(), ag.ownLeafIndex, bg.epoch);
    assert(equal(await bytesOf(await b.ds.downloadToBlob(bg, r)), data), `download of ${size} bytes`);
    // A Range read from the middle, across a chunk boundary.
    const [s, e] = [Math.floor(size / 2) - 1000, Math.floor(size / 2) + 300000];
    const part = await b.ds.downloadRange(bg, r, s, Math.min(e, size));
    assert(equal(part, data.subarray(s, Math.min(e, size))), "range bytes");
  }
  // Delete: gone for everyone.
  const ref = await a.ds.sendAttachment(ag, new Blob([randomBytes(5000)]));
  const r = bg.receiveAttachment(ref.contentType(), ag.ownLeafIndex, bg.epoch);
  // The DS's default policy: only the uploader deletes.
  assertEq(await codeOf(() => b.ds.deleteAttachment(bg, r)), "Forbidden", "Bob may not delete Alice's upload");
  await a.ds.deleteAttachment(ag, ref);
  assertEq(await codeOf(() => b.ds.downloadToBlob(bg, r)), "NotFound", "deleted attachment");
  // Copy into a second group, with the reference handed over in that group's E2EE message.
  const c = await mk("t-carol");
  await c.ds.publishKeyPackage();
  const ag2 = await a.ds.createGroup();
  await a.ds.addMember(ag2, "t-carol");
  const cg = await c.ds.joinFromWelcome();
  const data = randomBytes(70_000);
  const orig = await a.ds.sendAttachment(ag, new Blob([data]));
  const copy = await a.ds.copyAttachment(orig, ag, ag2);
  await a.ds.sendMessage(ag2, copy.toBytes());
  const ev = (await c.ds.fetchMessages(cg, {})).events.find((e) => e.type === "application");
  const handed = mimi.AttachmentRef.fromBytes(ev.data);
  assert(equal(await bytesOf(await c.ds.downloadToBlob(cg, handed)), data), "copied attachment decrypts in the other group");
  // Bob (not in group 2) cannot use the copy's token with his group.
  assertEq(await codeOf(() => b.ds.downloadToBlob(bg, handed)), "WrongGroup", "reference of another group");
  return { relayed: got.events.length };
};

// Issue 14's findings through the JS API, against the DS in development mode (--dev-identity):
// the mailboxes and group registration need the bearer token of the client named in the path.
tests.ds_identity = async ({ url }) => {
  const fail = async (f) => { try { await f(); } catch (e) { return { code: e.code, status: e.status, message: e.message }; } return { code: "no error" }; };
  const token = async (name) => {
    const r = await fetch(url + "/v1/dev/login", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ client: name }) });
    assertEq(r.headers.get("mimi-ds-mode"), "development", "the DS says it runs in development mode");
    return (await r.json()).token;
  };
  const client = (name) => mimi.MlsClient.create(name, { storeName: null });
  const alice = await client("idj-alice"), bob = await client("idj-bob");
  const aDs = new mimi.DsClient(url, alice, { devLogin: true });
  const bDs = new mimi.DsClient(url, bob, { devLogin: true });
  const malloryToken = await token("idj-mallory");

  // 1. Impersonation: Mallory publishes a key package under Bob's name, with no token or her own.
  const fakeBob = await client("idj-bob");
  let r = await fail(() => new mimi.DsClient(url, fakeBob).publishKeyPackage());
  assertEq(r.code + r.status, "Unauthorized401", "publish without a token");
  r = await fail(() => new mimi.DsClient(url, fakeBob, { authToken: malloryToken }).publishKeyPackage());
  assertEq(r.code + r.status, "Forbidden403", "publish into Bob's mailbox with Mallory's token");
  await bDs.publishKeyPackage();

  // Key-package drain: claiming needs an authenticated caller.
  const outsider = await client("idj-outsider");
  const outsiderGroup = await outsider.createGroup();
  r = await fail(() => new mimi.DsClient(url, outsider).addMember(outsiderGroup, "idj-bob"));
  assertEq(r.code + r.status, "Unauthorized401", "claim without a token");

  // Outsider registration: registering a group needs a token.
  r = await fail(() => new mimi.DsClient(url, outsider).createGroup());
  assertEq(r.code + r.status, "Unauthorized401", "register a group without a token");
  // Squatting: a readable id in another client's namespace.
  r = await fail(() => new mimi.DsClient(url, outsider, { authToken: malloryToken }).createGroup(new TextEncoder().encode("idj-alice/general")));
  assert(r.code !== "no error", "a group id in Alice's namespace is refused");

  // 2. Welcome theft: Alice adds Bob (the only key package left is the one he published).
  const ag = await aDs.createGroup(new TextEncoder().encode("idj-alice/general"));
  await aDs.addMember(ag, "idj-bob");
  r = await fail(() => new mimi.DsClient(url, fakeBob).joinFromWelcome());
  assertEq(r.code + r.status, "Unauthorized401", "fetch Bob's Welcome without a token");
  r = await fail(() => new mimi.DsClient(url, fakeBob, { authToken: malloryToken }).joinFromWelcome());
  assertEq(r.code + r.status, "Forbidden403", "fetch Bob's Welcome with Mallory's token");
  const bg = await bDs.joinFromWelcome();
  assert(bg && bg.epoch === ag.epoch, "Bob still gets his Welcome and joins");

  // 3. No information before authentication: a non-member's request for the real group and for an
  // unknown one get the same answer.
  const oscar = await client("idj-oscar");
  const oDs = new mimi.DsClient(url, oscar, { authToken: await token("idj-oscar") });
  const sameId = await oscar.createGroup(new TextEncoder().encode("idj-alice/general"));
  const unknownId = await oscar.createGroup(new TextEncoder().encode("idj-alice/nothing-here"));
  const k = await fail(() => oDs.fetchMessages(sameId, {}));
  const u = await fail(() => oDs.fetchMessages(unknownId, {}));
  assertEq(k.code + k.status, "Forbidden403", "non-member, known group");
  assertEq(JSON.stringify(u), JSON.stringify(k), "an unknown group answers exactly like a known one");

  // The setAuthToken way: a client created without options works once given its token.
  const carol = await client("idj-carol");
  const cDs = new mimi.DsClient(url, carol);
  assertEq((await fail(() => cDs.publishKeyPackage())).code, "Unauthorized", "no token yet");
  cDs.setAuthToken(await token("idj-carol"));
  await cDs.publishKeyPackage();
  await aDs.addMember(ag, "idj-carol");
  assert(await cDs.joinFromWelcome(), "Carol joins after setAuthToken");
  return { checked: 11 };
};

// The codes the real Delivery Service sends reach JS as the DS's own code, with `status` and
// `dsCode` (docs/ERRORS.md); tests/error_codes.rs covers every DS code with a fake endpoint.
tests.ds_error_codes = async ({ url }) => {
  const dsErr = async (f) => {
    try { await f(); } catch (e) {
      assertEq(e.name, "MimiAttachmentsError", "name");
      return { code: e.code, status: e.status, dsCode: e.dsCode };
    }
    return { code: "no error" };
  };
  const expect = (got, code, status, what) => {
    assertEq(got.code, code, `${what}: code`);
    assertEq(got.status, status, `${what}: status`);
    assertEq(got.dsCode, code, `${what}: dsCode`);
  };
  const mk = async (name) => { const c = await mimi.MlsClient.create(name, { storeName: null }); return { c, ds: new mimi.DsClient(url, c, { devLogin: true }) }; };
  const a = await mk("ec-alice"), b = await mk("ec-bob"), m = await mk("ec-mallory");
  await b.ds.publishKeyPackage();
  const gid = randomBytes(16);
  const ag = await a.ds.createGroup(gid);
  await a.ds.addMember(ag, "ec-bob");
  const bg = await b.ds.joinFromWelcome();
  // Conflict: a group id that is taken.
  expect(await dsErr(() => m.ds.createGroup(gid)), "Conflict", 409, "group id taken");
  // Forbidden: a non-member signs for the group (Oscar's local group of the same id is not the DS's).
  const o = await mk("ec-oscar");
  const og = await o.c.createGroup(gid);
  expect(await dsErr(() => o.ds.sendAttachment(og, new Blob([randomBytes(10)]))), "Forbidden", 403, "non-member");
  // NotFound: a deleted attachment.
  const ref = await a.ds.sendAttachment(ag, new Blob([randomBytes(5000)]));
  const r = bg.receiveAttachment(ref.contentType(), ag.ownLeafIndex, bg.epoch);
  await a.ds.deleteAttachment(ag, ref);
  expect(await dsErr(() => b.ds.downloadToBlob(bg, r)), "NotFound", 404, "deleted attachment");
  // WrongEpoch: Bob moves the group on; Alice, not having fetched it, commits in the old epoch.
  await b.ds.selfUpdate(bg);
  expect(await dsErr(() => a.ds.selfUpdate(ag)), "WrongEpoch", 409, "commit in an old epoch");
  return null;
};

// An upload interrupted by a page reload resumes from the server's offset.
tests.resume_before = async ({ url }) => {
  for (const n of ["ru-alice", "ru-bob"]) await mimi.MlsClient.deleteStored(n);
  const a = await mimi.MlsClient.create("ru-alice", { storeName: "ru-alice" });
  const b = await mimi.MlsClient.create("ru-bob", { storeName: "ru-bob" });
  const da = new mimi.DsClient(url, a, { devLogin: true }), db = new mimi.DsClient(url, b, { devLogin: true });
  await db.publishKeyPackage();
  const ag = await da.createGroup();
  await da.addMember(ag, "ru-bob");
  await db.joinFromWelcome();
  const data = randomBytes(96 * MiB);
  const sha = [...new Uint8Array(await crypto.subtle.digest("SHA-256", data))];
  sessionStorage.setItem("resume", JSON.stringify({ url, group: Array.from(ag.groupId), sha }));
  window.__uploaded = 0;
  // Not awaited: the runner reloads the page in the middle of it.
  da.sendAttachment(ag, new Blob([data]), { onProgress: (p) => { if (p.phase === "upload") window.__uploaded = p.loaded / p.total; } }).catch(() => {});
};

tests.resume_after = async () => {
  const { url, group, sha } = JSON.parse(sessionStorage.getItem("resume"));
  const a = await mimi.MlsClient.load("ru-alice"), b = await mimi.MlsClient.load("ru-bob");
  const gid = new Uint8Array(group);
  const ag = a.loadGroup(gid), bg = b.loadGroup(gid);
  const da = new mimi.DsClient(url, a, { devLogin: true }), db = new mimi.DsClient(url, b, { devLogin: true });
  const pending = await da.pendingUploads();
  assertEq(pending.length, 1, "one pending upload after the reload");
  assertEq(pending[0].size, 96 * MiB, "its size");
  let first = null;
  const ref = await da.resumeUpload(ag, pending[0].id, { onProgress: (p) => { first ??= p.loaded / p.total; } });
  assert(first > 0.2, `resumed from the server's offset, not from 0 (first progress ${first})`);
  assertEq((await da.pendingUploads()).length, 0, "no pending upload left");
  const r = bg.receiveAttachment(ref.contentType(), ag.ownLeafIndex, bg.epoch);
  const back = await bytesOf(await db.downloadToBlob(bg, r));
  const got = [...new Uint8Array(await crypto.subtle.digest("SHA-256", back))];
  assertEq(got.join(), sha.join(), "SHA-256 of the downloaded file");
  for (const n of ["ru-alice", "ru-bob"]) await mimi.MlsClient.deleteStored(n);
  return { resumedAt: Math.round(first * 100) + "%" };
};

window.testNames = ["alice_sends_bob_decrypts_after_two_more_epochs", "failures_have_their_own_codes", "abort_and_progress",
  "one_shot_and_chacha20poly1305", "worker_runs_the_whole_api", ...Object.keys(adversarialTests), ...Object.keys(responsiveTests), "save_to_writable_stream",
  ...Object.keys(liteTests)];
window.runTest = async (name, arg) => {
  if (!tests[name]) throw new Error(`no test ${name}`);
  return (await tests[name](arg)) ?? null;
};
window.ready = true;
