// Helpers shared by the page tests and the worker test.
export function assert(cond, msg) {
  if (!cond) throw new Error("assertion failed: " + msg);
}
export function assertEq(a, b, msg) {
  if (a !== b) throw new Error(`assertion failed: ${msg}: ${JSON.stringify(a)} !== ${JSON.stringify(b)}`);
}
/** The `code` of the MimiAttachmentsError that `f` throws or rejects with (or a description). */
export async function codeOf(f) {
  try {
    await f();
    return "no error";
  } catch (e) {
    if (!(e instanceof Error)) return `not an Error: ${e}`;
    if (e.name !== "MimiAttachmentsError") return `${e.name}: ${e.message}`;
    return e.code;
  }
}
/** What `f` throws or rejects with: `{code, kind, chunk, message}` of a MimiAttachmentsError,
 *  `{code: "no error"}`, or `{code: <description>}` for anything else. */
export async function failureOf(f) {
  try {
    await f();
    return { code: "no error" };
  } catch (e) {
    if (!(e instanceof Error)) return { code: `not an Error: ${e}` };
    if (e.name !== "MimiAttachmentsError") return { code: `${e.name}: ${e.message}` };
    return { code: e.code, kind: e.kind, chunk: e.chunk, message: e.message };
  }
}
export function randomBytes(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}
export function equal(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
export async function bytesOf(blobOrStream) {
  return new Uint8Array(await new Response(blobOrStream).arrayBuffer());
}
/** Reads a stream to its end; returns the byte count. */
export async function drain(stream) {
  const r = stream.getReader();
  let n = 0;
  for (;;) {
    const { done, value } = await r.read();
    if (done) return n;
    n += value.length;
  }
}
/** Alice creates a group and adds Bob (in-memory clients unless storeNames are given). */
export async function aliceAndBob(mimi, { suite = 1, alice = null, bob = null, group = "family" } = {}) {
  const a = await mimi.MlsClient.create("alice", { cipherSuite: suite, storeName: alice });
  const b = await mimi.MlsClient.create("bob", { cipherSuite: suite, storeName: bob });
  const ag = await a.createGroup(new TextEncoder().encode(group));
  const up = await ag.addMembers([await b.keyPackage()]);
  const bg = await b.joinGroup(up.welcome);
  return { a, b, ag, bg };
}
/** Alice encrypts `file` in `ag`, "uploads" it (ciphertext kept as a Blob) and returns the
 *  content type she puts in the message. */
export async function send(ag, file, options) {
  const out = await ag.encryptAttachment(file, options);
  const ciphertext = await new Response(out.ciphertext()).blob();
  const token = randomBytes(16); // the Delivery Service's token
  const ref = out.complete(token);
  return { out, ciphertext, contentType: ref.contentType() };
}
/** Bob receives an application message carrying a content type, and derives the reference. */
export async function receive(ag, bg, contentType) {
  const msg = await ag.encryptMessage(contentType);
  const ev = await bg.processMessage(msg);
  assertEq(ev.type, "application", "event type");
  return bg.receiveAttachment(new TextDecoder().decode(ev.data), ev.senderLeafIndex, ev.epoch);
}
/** The flow the worker runs too: a 3 MiB attachment from Alice to Bob. */
export async function smallFlow(mimi, size = 3 << 20) {
  const { ag, bg } = await aliceAndBob(mimi);
  const data = randomBytes(size);
  const { ciphertext, contentType } = await send(ag, new Blob([data]));
  const ref = await receive(ag, bg, contentType);
  const back = await bytesOf(ref.decrypt(ciphertext));
  assert(equal(back, data), "decrypted bytes equal the original");
  return { bytes: back.length, backend: "auto" };
}
