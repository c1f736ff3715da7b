// How a web chat app consumes the package: a plain dependency, imported by name; Vite bundles the
// wasm-pack `--target bundler` output (JS glue + .wasm asset) with no plugin.
import { AttachmentRef, MlsClient, supportedCipherSuites } from "mimi-attachments";
// The streaming Service Worker's page side, a subpath export of the same package.
import { AttachmentServer } from "mimi-attachments/serve";
// The light entry point (no openmls), for apps with their own MLS stack.
import * as lite from "mimi-attachments/lite";

const out = document.getElementById("out");
const log = (line) => {
  out.textContent += line + "\n";
};

function assert(cond, what) {
  if (!cond) throw new Error("assertion failed: " + what);
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function roundTrip(group, plaintext, options) {
  const outgoing = await group.encryptAttachment(new Blob([plaintext]), options);
  assert(outgoing.size === plaintext.length, "plaintext size");
  const ciphertext = new Uint8Array(await new Response(outgoing.ciphertext({})).arrayBuffer());
  assert(ciphertext.length === outgoing.ciphertextSize, "ciphertext size");
  assert(!equalBytes(ciphertext.subarray(0, 32), plaintext.subarray(0, 32)), "ciphertext differs");
  // What the Delivery Service would return: a 32-byte token.
  const token = crypto.getRandomValues(new Uint8Array(32));
  const ref = outgoing.complete(token);
  const contentType = ref.contentType();
  assert(contentType.startsWith("message/external-body"), "content type: " + contentType);
  // A reference survives storage (toBytes/fromBytes), as a receiver keeps it.
  const stored = AttachmentRef.fromBytes(ref.toBytes());
  const blob = await stored.decryptToBlob(ciphertext, { type: "application/octet-stream" });
  const back = new Uint8Array(await blob.arrayBuffer());
  assert(equalBytes(back, plaintext), "decrypted bytes equal the original");
  return { contentType, ciphertextSize: ciphertext.length };
}

async function main() {
  log("cipher suites: " + Array.from(supportedCipherSuites()).join(","));
  const client = await MlsClient.create("vite-alice", { storeName: null });
  const group = await client.createGroup();
  log(`group epoch ${group.epoch}, leaf ${group.ownLeafIndex}, suite ${group.cipherSuite}`);

  const small = new TextEncoder().encode("hello from a Vite app");
  const r1 = await roundTrip(group, small, { oneShot: true });
  log(`one-shot: ${small.length} B -> ${r1.ciphertextSize} B`);

  const big = new Uint8Array(300_000);
  for (let i = 0; i < big.length; i += 65536) crypto.getRandomValues(big.subarray(i, i + 65536));
  const r2 = await roundTrip(group, big, { chunkSize: 65536 });
  log(`chunked: ${big.length} B -> ${r2.ciphertextSize} B`);
  log(r2.contentType);
  assert(typeof AttachmentServer.register === "function", "mimi-attachments/serve resolves");

  // The light build sends with keys from "its" MLS stack's exporter (here the full build's group
  // stands in for that stack); the full build receives and decrypts.
  assert(lite.MlsClient === undefined, "no MLS client in mimi-attachments/lite");
  const xg = new lite.ExternalGroup({
    groupId: group.groupId, epoch: group.epoch, ownLeafIndex: group.ownLeafIndex, cipherSuite: group.cipherSuite,
    exportSecret: (label, context, length) => group.exportSecret(label, context, length),
  });
  const lout = await xg.encryptAttachment(new Blob([big]), { chunkSize: 65536 });
  const lct = await lout.ciphertextToBlob();
  const lref = lout.complete(crypto.getRandomValues(new Uint8Array(32)));
  const received = group.receiveAttachment(lref.contentType(), group.ownLeafIndex, group.epoch);
  const lback = new Uint8Array(await (await received.decryptToBlob(lct)).arrayBuffer());
  assert(equalBytes(lback, big), "the full build decrypts the light build's attachment");
  log(`light entry point: ${big.length} B -> ${lct.size} B, decrypted by the full build`);
  log("round trip ok");
  document.title = "ok";
}

main().catch((e) => {
  log("FAILED: " + (e && e.code ? e.code + ": " : "") + (e && e.message ? e.message : String(e)));
  document.title = "failed";
});
