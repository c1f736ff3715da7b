// MIMI content (draft-ietf-mimi-content-07) in headless Chromium: ExternalParts made by ANOTHER
// implementation's codec (npm `cborg`, a generic CBOR library, fed the draft's field list) with a
// random AES-256-GCM key and nonce (as the draft authors' messenger sends them), encrypted by
// Node's own crypto, received and decrypted by the package; our parts read back by cborg; the
// one-shot send for draft-only receivers; and (with --big) a 256 MiB one-shot receive with the
// renderer's RSS sampled from /proc.
//
//   wasm-pack build --dev --target web --out-dir pkg
//   node tests/browser/mimi_content.mjs [--only NAME] [--big]
//
// Standalone (own server on 127.0.0.1 and own browser): prints "test NAME ... ok|FAILED" and a
// closing "test result: ok. N passed; M failed".
import { open as openFile, mkdtemp, rm } from "node:fs/promises";
import { createCipheriv, createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { tmpdir } from "node:os";
import * as cborg from "cborg";
import { browserRss, startBrowserTests } from "./harness.mjs";

const args = process.argv.slice(2);
const big = args.includes("--big");

// Blobs served to the page ("the storage at the URL"), by path.
const served = new Map();
const route = async (url, res) => {
  if (url === "/") {
    res.writeHead(200, { "content-type": "text/html" }).end(
      `<!doctype html><meta charset="utf-8"><script type="module">import init, * as m from "/pkg/mimi_attachments.js"; await init(); window.mimi = m; window.ready = true;</script>`);
    return true;
  }
  if (!served.has(url)) return false;
  const v = served.get(url);
  if (typeof v === "string") { // a file path: streamed
    const f = await openFile(v);
    res.writeHead(200, { "content-type": "application/octet-stream" });
    f.createReadStream().pipe(res);
  } else res.writeHead(200, { "content-type": "application/octet-stream" }).end(v);
  return true;
};
const { base, page, profile, test, finish } = await startBrowserTests({ profilePrefix: "mimi-content-", route });
await page.goto(base + "/");
await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });

function assert(c, msg) { if (!c) throw new Error("assertion failed: " + msg); }
function assertEq(a, b, msg) { if (a !== b) throw new Error(`assertion failed: ${msg}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`); }
const hex = (b) => Buffer.from(b).toString("hex");
const sha256 = (b) => createHash("sha256").update(b).digest();

/** Node's AEAD (OpenSSL): ciphertext || 16-byte tag. */
function seal(alg, key, nonce, pt) {
  const name = { 1: "aes-128-gcm", 2: "aes-256-gcm", 8: "aes-256-gcm", 29: "chacha20-poly1305" }[alg];
  const c = createCipheriv(name, key, nonce, { authTagLength: 16 });
  return Buffer.concat([c.update(pt), c.final(), c.getAuthTag()]);
}

/** An ExternalPart (NestedPart, disposition 6) from the draft's field list, encoded by cborg. */
function foreignPart({ alg = 2, pt, url, hashOfCiphertext = false, size, contentType = "image/jpeg", filename = "IMG_0001.jpg" }) {
  const key = randomBytes(alg === 1 ? 16 : 32), nonce = randomBytes(12);
  const ct = seal(alg, key, nonce, pt);
  const fields = [
    6, "", 2, // disposition attachment, language, cardinality external
    contentType, url, 0, size ?? pt.length, alg,
    new Uint8Array(key), new Uint8Array(nonce), new Uint8Array(0),
    1, new Uint8Array(sha256(hashOfCiphertext ? ct : pt)), "holiday photo", filename,
  ];
  return { cbor: cborg.encode(fields), ct, fields };
}

/** Page side: parse `cbor` with the package, check its fields, fetch `url`, decrypt as a stream. */
async function receiveInPage(cbor, url, wantSha256) {
  return page.evaluate(async ([cbor, url, want]) => {
    const m = window.mimi;
    try {
      const parts = m.ExternalPart.fromCbor(new Uint8Array(cbor));
      if (parts.length !== 1) return { error: "parts: " + parts.length };
      const p = parts[0];
      const res = await fetch(url);
      const blob = await p.decrypt(res.body);
      const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
      const got = Array.from(digest, (x) => x.toString(16).padStart(2, "0")).join("");
      return { ok: got === want, size: blob.size, type: blob.type, filename: p.filename, encAlg: p.encAlg, url: p.url, isReference: p.isReference };
    } catch (e) {
      return { error: e.message, code: e.code, kind: e.kind, name: e.name };
    }
  }, [Array.from(cbor), url, wantSha256]);
}

let n = 0;
const place = (bytes) => { const path = `/storage/${++n}`; served.set(path, bytes); return base + path; };

await test("foreign_aes256gcm_part_from_cborg_is_received", async () => {
  const pt = randomBytes(3 * (1 << 20) + 12345);
  const url = `${base}/storage/x${++n}.jpg`;
  const { cbor, ct } = foreignPart({ pt, url });
  served.set(new URL(url).pathname, ct);
  const r = await receiveInPage(cbor, url, hex(sha256(pt)));
  assert(r.ok, JSON.stringify(r));
  assertEq(r.size, pt.length, "plaintext size");
  assertEq(r.type, "image/jpeg", "Blob type from contentType");
  assertEq(r.filename, "IMG_0001.jpg", "filename");
  assertEq(r.isReference, false, "a foreign part is not one of our references");
  return { bytes: pt.length };
});

await test("foreign_parts_every_enc_alg_and_both_hash_semantics", async () => {
  const out = {};
  for (const alg of [1, 2, 29]) {
    for (const hashOfCiphertext of [false, true]) {
      const pt = randomBytes(100_000 + alg);
      const url = place(null);
      const { cbor, ct } = foreignPart({ alg, pt, url, hashOfCiphertext });
      served.set(new URL(url).pathname, ct);
      const r = await receiveInPage(cbor, url, hex(sha256(pt)));
      assert(r.ok && r.encAlg === alg, `alg ${alg} hashOfCiphertext ${hashOfCiphertext}: ${JSON.stringify(r)}`);
      out[`${alg}${hashOfCiphertext ? "c" : "p"}`] = "ok";
    }
  }
  return out;
});

await test("enc_alg_8_quirk_only_where_the_length_proves_a_16_byte_tag", async () => {
  const pt = randomBytes(50_000);
  const url = place(null);
  const a = foreignPart({ alg: 8, pt, url });
  served.set(new URL(url).pathname, a.ct);
  const ok = await receiveInPage(a.cbor, url, hex(sha256(pt)));
  assert(ok.ok, "id 8 with size = plaintext size: " + JSON.stringify(ok));
  const fields = a.fields.slice();
  fields[6] = 0; // size unknown: the length proves nothing
  const r = await receiveInPage(cborg.encode(fields), url, hex(sha256(pt)));
  assertEq(`${r.code}/${r.kind}`, "BadMimiContent/AmbiguousTag", "size 0");
  fields[6] = pt.length + 4; // what a genuine 12-byte tag would give
  const r2 = await receiveInPage(cborg.encode(fields), url, hex(sha256(pt)));
  assertEq(`${r2.code}/${r2.kind}`, "BadMimiContent/AmbiguousTag", "12-byte-tag length");
});

await test("tampered_or_wrong_foreign_parts_release_nothing", async () => {
  const pt = randomBytes(200_000);
  const url = place(null);
  const { cbor, ct, fields } = foreignPart({ pt, url });
  const bad = Buffer.from(ct);
  bad[150_000] ^= 1;
  served.set(new URL(url).pathname, bad);
  const r = await receiveInPage(cbor, url, "");
  assertEq(r.code, "DecryptFailed", "flipped ciphertext bit");
  served.set(new URL(url).pathname, ct);
  const f2 = fields.slice();
  f2[12] = new Uint8Array(32); // wrong hash
  assertEq((await receiveInPage(cborg.encode(f2), url, "")).code, "HashMismatch", "wrong contentHash");
  const kinds = {};
  const cases = {
    WrongArrayLength: fields.slice(0, 14),
    LengthMismatch: Object.assign(fields.slice(), { 8: new Uint8Array(16) }),
    UnknownEncAlg: Object.assign(fields.slice(), { 7: 3 }),
    UnknownHashAlg: Object.assign(fields.slice(), { 11: 2 }),
    WrongType: Object.assign(fields.slice(), { 4: 42 }),
  };
  for (const [want, f] of Object.entries(cases)) {
    const r = await receiveInPage(cborg.encode(f), url, "");
    assertEq(`${r.name}/${r.code}/${r.kind}`, `MimiAttachmentsError/BadMimiContent/${want}`, want);
    kinds[want] = "ok";
  }
  return kinds;
});

await test("whole_mimi_message_from_cborg", async () => {
  const pt = randomBytes(70_000);
  const url = place(null);
  const { ct, fields } = foreignPart({ pt, url });
  served.set(new URL(url).pathname, ct);
  const msg = [new Uint8Array(randomBytes(16)), null, new Uint8Array(0), null, null,
    new Map([[1, "mimi://example.com/u/alice"], [2, "mimi://example.com/r/holidays"]]),
    [0, "", 3, 2, [[1, "en", 1, "text/plain", new Uint8Array(Buffer.from("look!"))], fields]]];
  const r = await receiveInPage(cborg.encode(msg), url, hex(sha256(pt)));
  assert(r.ok, JSON.stringify(r));
});

await test("our_parts_read_by_cborg_and_one_shot_for_draft_only_receivers", async () => {
  // Alice sends one-shot (no chunk-size) and publishes the reference as an ExternalPart; a
  // draft-only client (cborg + Node crypto here) decrypts it with key/nonce/aad from the part;
  // Bob binds it to the group with receiveExternalPart.
  const r = await page.evaluate(async () => {
    const m = window.mimi;
    const a = await m.MlsClient.create("alice", { storeName: null });
    const b = await m.MlsClient.create("bob", { storeName: null });
    const ag = await a.createGroup(new TextEncoder().encode("g"));
    const up = await ag.addMembers([await b.keyPackage()]);
    const bg = await b.joinGroup(up.welcome);
    const file = new Uint8Array(300_000);
    for (let i = 0; i < file.length; i += 65536) crypto.getRandomValues(file.subarray(i, i + 65536));
    const out = await ag.encryptAttachment(new Blob([file]), { oneShot: true });
    const ct = new Uint8Array(await new Response(out.ciphertext()).arrayBuffer());
    const ref = out.complete(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
    const part = ref.toExternalPart("https://ds.example/v1/attachments/", "application/pdf", "report.pdf", "Q3", 0);
    const cbor = part.toCbor();
    const msg = await ag.encryptMessage(cbor);
    const ev = await bg.processMessage(msg);
    const [got] = m.ExternalPart.fromCbor(ev.data);
    const bref = bg.receiveExternalPart(got, ev.senderLeafIndex, ev.epoch);
    const back = new Uint8Array(await bref.decryptToBlob(new Blob([ct])).then((x) => x.arrayBuffer()));
    const same = back.length === file.length && back.every((x, i) => x === file[i]);
    // Bob under another sender index: the keys differ from the part's.
    let wrongSender;
    try { bg.receiveExternalPart(got, 1, ev.epoch); wrongSender = "no error"; } catch (e) { wrongSender = `${e.code}/${e.kind ?? ""}`; }
    return { cbor: Array.from(cbor), ct: Array.from(ct), file: Array.from(file), same, isReference: got.isReference, url: got.url, wrongSender };
  });
  assert(r.same, "Bob decrypts through receiveExternalPart + decryptToBlob (one-shot path)");
  assert(r.isReference, "our part is a reference");
  assert(r.wrongSender !== "no error", "another sender index is refused: " + r.wrongSender);
  const ours = new Uint8Array(r.cbor);
  const d = cborg.decode(ours);
  assertEq(d.length, 15, "NestedPart of 15");
  assertEq(d[0], 6, "disposition attachment");
  assertEq(d[2], 2, "cardinality external");
  assert(d[3].startsWith("application/pdf; mimi-nonce="), "contentType " + d[3]);
  assert(!d[3].includes("mimi-chunk-size"), "one-shot: no chunk size");
  assertEq(d[4], "https://ds.example/v1/attachments/AQIDBAUGBwg", "url = prefix + base64url(token)");
  assertEq(d[6], 300_000, "size = plaintext size");
  assertEq(d[7], 1, "encAlg AES-128-GCM (suite 1)");
  assertEq(d[10].length, 0, "aad empty");
  assertEq(d[11], 1, "hashAlg sha-256");
  assertEq(hex(d[12]), hex(sha256(Buffer.from(r.file))), "contentHash = plaintext SHA-256");
  assertEq(hex(cborg.encode(d)), hex(ours), "cborg re-encodes our bytes identically (deterministic)");
  // The draft-only receiver: AEAD-open with the part's key and nonce, aad "".
  const { createDecipheriv } = await import("node:crypto");
  const ct = Buffer.from(r.ct);
  const dec = createDecipheriv("aes-128-gcm", d[8], d[9], { authTagLength: 16 });
  dec.setAuthTag(ct.subarray(ct.length - 16));
  const pt = Buffer.concat([dec.update(ct.subarray(0, ct.length - 16)), dec.final()]);
  assertEq(hex(sha256(pt)), hex(sha256(Buffer.from(r.file))), "draft-only receiver decrypts");
  return { part: ours.length, wrongSender: r.wrongSender };
});

const rss = () => browserRss(profile);

if (big) {
  await test("one_shot_256_mib_bounded_memory", async () => {
    // Chromium uses small Blob limits for a few seconds after launch (TOOLCHAIN.md).
    await new Promise((r) => setTimeout(r, 4000));
    const SIZE = 256 << 20;
    const dir = await mkdtemp(join(tmpdir(), "mimi-256-"));
    const path = join(dir, "ct");
    const key = randomBytes(32), nonce = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", key, nonce, { authTagLength: 16 });
    const h = createHash("sha256");
    const f = await openFile(path, "w");
    const block = 4 << 20;
    for (let i = 0; i < SIZE; i += block) {
      const pt = Buffer.alloc(block);
      for (let j = 0; j < block; j += 4) pt.writeUInt32BE((i + j) >>> 0, j); // position pattern
      h.update(pt);
      await f.write(c.update(pt));
    }
    await f.write(Buffer.concat([c.final(), c.getAuthTag()]));
    await f.close();
    const url = `${base}/storage/big`;
    served.set("/storage/big", path);
    const cbor = cborg.encode([6, "", 2, "video/mp4", url, 0, SIZE, 2, new Uint8Array(key), new Uint8Array(nonce), new Uint8Array(0), 1, new Uint8Array(h.digest()), "", "big.mp4"]);
    const before = rss();
    let peak = { ...before };
    const timer = setInterval(() => { const r = rss(); peak.renderer = Math.max(peak.renderer, r.renderer); peak.browser = Math.max(peak.browser, r.browser); }, 100);
    const t0 = Date.now();
    const r = await page.evaluate(async ([cbor, url]) => {
      const [p] = window.mimi.ExternalPart.fromCbor(new Uint8Array(cbor));
      const blob = await p.decrypt((await fetch(url)).body);
      window.bigBlob = blob;
      // Spot checks of the position pattern at a few offsets (the library checked the hash).
      const checks = [];
      for (const off of [0, 1 << 20, (200 << 20) + 64, blob.size - 4]) {
        const v = new DataView(await blob.slice(off, off + 4).arrayBuffer()).getUint32(0);
        checks.push(v === off);
      }
      return { size: blob.size, checks, wasm: performance.memory ? undefined : undefined };
    }, [Array.from(cbor), url]);
    const ms = Date.now() - t0;
    clearInterval(timer);
    await page.evaluate(() => { window.bigBlob = null; });
    await rm(dir, { recursive: true });
    assertEq(r.size, SIZE, "plaintext size");
    assert(r.checks.every(Boolean), "position pattern " + JSON.stringify(r.checks));
    const mib = (kb) => Math.round(kb / 1024);
    return {
      MiB_per_s: Math.round(256 / (ms / 1000)),
      renderer_rss_before_MiB: mib(before.renderer), renderer_rss_peak_MiB: mib(peak.renderer),
      renderer_delta_MiB: mib(peak.renderer - before.renderer),
      browser_rss_before_MiB: mib(before.browser), browser_rss_peak_MiB: mib(peak.browser),
    };
  });
}

await finish();
