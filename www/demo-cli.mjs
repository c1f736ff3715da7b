// A command-line walk through the package's JS API, over the `--target web` build in pkg/,
// loaded the way a bundler-less web page loads it (init with the .wasm bytes).
import { readFileSync, existsSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";

const USAGE = `Usage: node www/demo-cli.mjs [FILE | --self-test | --help]

  FILE         encrypt FILE as a sender would (chunked v1, 256 KiB chunks), print the
               message/external-body reference, then decrypt it as a receiver and compare
  (no FILE)    the same with 3 MiB of random bytes
  --self-test  round trips and error codes; prints "test result: ok. N passed; 0 failed"
  --help       this text

Needs the package built into pkg/: wasm-pack build --target web --out-dir pkg`;

const arg = process.argv[2];
const fail = (msg) => { console.error(`demo-cli: ${msg}`); process.exit(2); };
if (arg === "--help" || arg === "-h") { console.log(USAGE); process.exit(0); }
if (arg?.startsWith("-") && arg !== "--self-test") fail(`unknown option ${arg} (see --help)`);
if (process.argv.length > 3) fail("one FILE at most (see --help)");
let input = null;
if (arg && arg !== "--self-test") {
  try { input = readFileSync(arg); } catch (e) {
    fail(e.code === "ENOENT" ? `no such file: ${arg}` : e.code === "EISDIR" ? `${arg} is a directory` : `cannot read ${arg}: ${e.message}`);
  }
}
const wasmPath = fileURLToPath(new URL("../pkg/mimi_attachments_bg.wasm", import.meta.url));
if (!existsSync(wasmPath)) fail("pkg/ is not built: run wasm-pack build --target web --out-dir pkg (or bash scripts/demo.sh)");
const { default: init, ...mimi } = await import("../pkg/mimi_attachments.js");
await init({ module_or_path: readFileSync(wasmPath) });

const SUITE = 1; // MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519
const hex = (b) => Buffer.from(b).toString("hex");

function send(plaintext, exporterSecret, senderIndex) {
  const hash = mimi.attachmentHash(SUITE, plaintext);
  const nonce = mimi.randomNonce(SUITE);
  const keys = mimi.AttachmentKeys.fromExporterSecret(SUITE, exporterSecret, hash, senderIndex, nonce);
  const enc = new mimi.ChunkEncryptor(keys); // default chunk size 256 KiB
  const parts = [];
  for (let off = 0; off < plaintext.length; off += 1 << 20) parts.push(enc.update(plaintext.subarray(off, off + (1 << 20))));
  parts.push(enc.finish());
  keys.free();
  const token = randomBytes(16); // the Delivery Service's token in a real upload
  const ref = new mimi.ExternalBodyRef(token, nonce, hash, 256 * 1024, plaintext.length);
  return { contentType: ref.toContentType(), ciphertext: Buffer.concat(parts) };
}

function receive(contentType, ciphertext, exporterSecret, senderIndex) {
  const ref = mimi.ExternalBodyRef.parse(contentType, SUITE);
  const keys = mimi.AttachmentKeys.fromExporterSecret(SUITE, exporterSecret, ref.hash, senderIndex, ref.nonce);
  const dec = new mimi.ChunkDecryptor(keys, ref.chunkSize, ref.hash, ref.size);
  const parts = [];
  for (let off = 0; off < ciphertext.length; off += 100_000) parts.push(dec.update(ciphertext.subarray(off, off + 100_000)));
  parts.push(dec.finish());
  keys.free();
  return Buffer.concat(parts);
}

const exporterSecret = randomBytes(32); // an MLS epoch's exporter_secret, shared by the group

if (arg === "--self-test") {
  let passed = 0;
  const check = (cond, what) => { if (!cond) { console.error("FAILED:", what); console.log(`test result: FAILED. ${passed} passed; 1 failed`); process.exit(1); } passed++; };
  const codeOf = (f) => { try { f(); return "no error"; } catch (e) { return e instanceof Error && e.name === "MimiAttachmentsError" ? e.code : `not a MimiAttachmentsError: ${e}`; } };
  const data = randomBytes(700_000);
  const { contentType, ciphertext } = send(data, exporterSecret, 3);
  check(/^message\/external-body; access-type=token; token=[\w-]+; nonce=[\w-]{43}; hash=[\w-]{43}; chunk-size=262144; size=700000$/.test(contentType), "content type shape");
  check(ciphertext.length === 700_000 + 3 * 16, "ciphertext length");
  check(receive(contentType, ciphertext, exporterSecret, 3).equals(data), "round trip");
  const bad = Buffer.from(ciphertext); bad[300_000] ^= 1;
  check(codeOf(() => receive(contentType, bad, exporterSecret, 3)) === "DecryptFailed", "flipped bit");
  check(codeOf(() => receive(contentType, ciphertext.subarray(0, 2 * 262160), exporterSecret, 3)) === "Truncated", "dropped last chunk");
  check(codeOf(() => receive(contentType, ciphertext, exporterSecret, 4)) === "DecryptFailed", "wrong sender index");
  check(codeOf(() => mimi.ExternalBodyRef.parse("text/plain", SUITE)) === "BadContentType", "bad content type");
  check(codeOf(() => new mimi.ChunkEncryptor(mimi.AttachmentKeys.fromParts(1, new Uint8Array(16), new Uint8Array(12)), 10)) === "BadChunkSize", "chunk size");
  console.log(`test result: ok. ${passed} passed; 0 failed`);
} else {
  const data = input ?? randomBytes(3 << 20);
  const t0 = performance.now();
  const { contentType, ciphertext } = send(data, exporterSecret, 0);
  const t1 = performance.now();
  const back = receive(contentType, ciphertext, exporterSecret, 0);
  const t2 = performance.now();
  console.log(`plaintext   ${data.length} bytes, sha256 ${createHash("sha256").update(data).digest("hex")}`);
  console.log(`ciphertext  ${ciphertext.length} bytes (chunked v1, 256 KiB chunks), encrypted in ${(t1 - t0).toFixed(0)} ms`);
  console.log(`reference   ${contentType}`);
  console.log(`decrypted   ${back.length} bytes in ${(t2 - t1).toFixed(0)} ms, identical: ${back.equals(data)}`);
  if (!back.equals(data)) process.exit(1);
}
