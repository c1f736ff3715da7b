// Adversarial cases through the JS API (issue 7): the cases of tests/adversarial.rs, under the
// same names and with the same expected codes, driven through MlsClient / MlsGroup /
// receiveAttachment / AttachmentRef.decrypt / DsClient / the low-level API; plus every invalid
// vector of tests/vectors/{chunked,content-type}.json through the low-level API and the streaming
// pipeline. docs/ADVERSARIAL.md lists every case. Registered in tests.mjs (run by run.mjs).
//
// The world (built once per page, as in the Rust test): group-1 (suite 1): Alice adds Bob
// (epoch 1), sends A and B (4000 bytes, chunk-size 1024: chunks 0..2 full, 3 final) and the
// one-shot O and O2 (1000 bytes); Bob keeps his references of epoch 1. Epoch 2: Carol (leaf 2)
// and Dave (leaf 3) join. Epoch 3: Carol is removed; Alice sends F. group-2 (suite 1): Alice and
// Bob. Mallory's own group with the id "group-1". group-3 (suite 3): Alice3 and Bob3, S3.
import * as mimi from "/pkg/mimi_attachments.js";
import { assert, assertEq, failureOf } from "./common.mjs";

const enc = new TextEncoder();
const dec = new TextDecoder();
const SEALED = 1024 + 16;

// --- Expectations: an error code, DecryptFailed at a chunk, or BadContentType of a kind.
const code = (c) => ({ code: c });
const chunk = (n) => ({ code: "DecryptFailed", chunk: n });
const kind = (k) => ({ code: "BadContentType", kind: k });
const matches = (x, f) => f.code === x.code && (x.chunk === undefined || f.chunk === x.chunk) && (x.kind === undefined || f.kind === x.kind);
const show = (f) => f.code + (f.chunk !== undefined ? ` chunk ${f.chunk}` : "") + (f.kind !== undefined ? ` kind ${f.kind}` : "");

/** Runs every way in `how` (API name -> thunk), noting in `wrong` each that does not fail as
 *  `expect` says; returns how many ran. */
async function tryEach(how, name, expect, wrong) {
  for (const [api, f] of Object.entries(how)) {
    const got = await failureOf(f);
    if (!matches(expect, got)) wrong.push(`${name} (${api}): expected ${show(expect)}, got ${show(got)}`);
  }
  return Object.keys(how).length;
}

function data(len, seed) {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = ((i * 31 + seed) & 0xff) ^ ((i >> 8) & 0xff);
  return b;
}
const cat = (...parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
};
const flip = (b, at) => { const c = b.slice(); c[at] ^= 1; return c; };
const chunkOf = (ct, i) => ct.subarray(i * SEALED, Math.min((i + 1) * SEALED, ct.length));
const find = (hay, needle) => {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  throw new Error("subsequence not found");
};
const b64 = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const hex = (s) => new Uint8Array(s.match(/../g)?.map((h) => parseInt(h, 16)) ?? []);

// --- Content-type editing (canonical form: "; " between parameters).
const param = (ct, name) => {
  const p = ct.split("; ").find((p) => p.startsWith(name + "="));
  if (!p) throw new Error(`${name} in ${ct}`);
  return p.slice(name.length + 1);
};
const withParam = (ct, name, value) => ct.split("; ")
  .flatMap((p) => (p.startsWith(name + "=") ? (value === null ? [] : [`${name}=${value}`]) : [p]))
  .join("; ");
const tweak = (v) => (v[0] === "A" ? "B" : "A") + v.slice(1);

/** A stored reference's bytes with `edit` applied, restored. */
function stored(ref, edit) {
  const b = ref.toBytes();
  edit(b);
  return mimi.AttachmentRef.fromBytes(b);
}
/** Offset of the u32 chunk_size in a stored reference (it follows the hash). */
const chunkSizeAt = (ref) => find(ref.toBytes(), ref.hash) + ref.hash.length;

/** Reads a Blob, or a stream to its end (its error is rethrown as is; `new Response(stream)`
 *  would turn it into "TypeError: Failed to fetch"). */
async function bytesOf(input) {
  if (input instanceof Blob) return new Uint8Array(await input.arrayBuffer());
  const r = input.getReader();
  const parts = [];
  for (;;) {
    const { done, value } = await r.read();
    if (done) return cat(...parts);
    parts.push(value);
  }
}

/** A ReadableStream of `bytes` in pieces of `n`. */
const pieces = (bytes, n) => new ReadableStream({
  start(c) { for (let i = 0; i < bytes.length; i += n) c.enqueue(bytes.slice(i, i + n)); c.close(); },
});

/** Decrypts through the streaming API on every backend the suite has (WebCrypto from a
 *  Uint8Array, wasm from a stream of 333-byte pieces); every run must fail alike. */
async function decrypt(ref, ct) {
  const runs = ref.cipherSuite === 3
    ? [() => bytesOf(ref.decrypt(pieces(ct, 333)))]
    : [() => bytesOf(ref.decrypt(ct, { backend: "webcrypto" })), () => bytesOf(ref.decrypt(pieces(ct, 333), { backend: "wasm" }))];
  let first = null;
  for (const run of runs) {
    const f = await failureOf(run);
    if (first && show(f) !== show(first)) throw new Error(`backends disagree: ${show(first)} vs ${show(f)}`);
    first ??= f;
  }
  if (first.code !== "no error") throw Object.assign(new Error(first.message), { name: "MimiAttachmentsError", ...first });
}

// --- The world.
async function send(g, plain, options, token) {
  const out = await g.encryptAttachment(new Blob([plain]), options);
  const ct = await bytesOf(out.ciphertext());
  const ref = out.complete(enc.encode(token));
  return { plain, ct, contentType: ref.contentType() };
}

async function buildWorld() {
  const mk = (name, cipherSuite = 1) => mimi.MlsClient.create(name, { cipherSuite, storeName: null });
  const [alice, bob, carol, dave, mallory] = [await mk("alice"), await mk("bob"), await mk("carol"), await mk("dave"), await mk("mallory")];
  const ag = await alice.createGroup(enc.encode("group-1"));
  let up = await ag.addMembers([await bob.keyPackage()]);
  const bg = await bob.joinGroup(up.welcome);
  // Epoch 1.
  const a = await send(ag, data(4000, 1), { chunkSize: 1024 }, "token-a");
  const b = await send(ag, data(4000, 2), { chunkSize: 1024 }, "token-b");
  const o = await send(ag, data(1000, 3), { oneShot: true }, "token-o");
  const o2 = await send(ag, data(1000, 4), { oneShot: true }, "token-o2");
  const pendingE1 = await ag.encryptAttachment(new Blob([enc.encode("never sent")]));
  const msgA = await ag.encryptMessage(a.contentType);
  const ev = await bg.processMessage(msgA);
  const refA = bg.receiveAttachment(dec.decode(ev.data), ev.senderLeafIndex, ev.epoch);
  const refO = bg.receiveAttachment(o.contentType, 0, 1);
  // Epoch 2: Carol and Dave.
  up = await ag.addMembers([await carol.keyPackage(), await dave.keyPackage()]);
  await bg.processMessage(up.commit);
  const cg = await carol.joinGroup(up.welcome);
  const dg = await dave.joinGroup(up.welcome);
  const msgE2 = await ag.encryptMessage("epoch 2");
  // Epoch 3: Carol removed.
  const carolLeaf = cg.ownLeafIndex, daveLeaf = dg.ownLeafIndex;
  up = await ag.removeMembers([carolLeaf]);
  for (const g of [bg, dg, cg]) await g.processMessage(up.commit);
  assert(!cg.isActive && bg.epoch === 3 && dg.epoch === 3, "world: epochs");
  const f = await send(ag, data(4000, 5), { chunkSize: 1024 }, "token-f");
  const msgE3 = await ag.encryptMessage(f.contentType);
  // group-2, Mallory's "group-1", group-3 (suite 3).
  const ag2 = await alice.createGroup(enc.encode("group-2"));
  up = await ag2.addMembers([await bob.keyPackage()]);
  const bg2 = await bob.joinGroup(up.welcome);
  assertEq(`${bg2.epoch}/${bg2.ownLeafIndex}`, "1/1", "world: group-2");
  const mg = await mallory.createGroup(enc.encode("group-1"));
  const [alice3, bob3] = [await mk("alice3", 3), await mk("bob3", 3)];
  const ag3 = await alice3.createGroup(enc.encode("group-3"));
  up = await ag3.addMembers([await bob3.keyPackage()]);
  const bg3 = await bob3.joinGroup(up.welcome);
  const s3 = await send(ag3, data(4000, 6), { chunkSize: 1024 }, "token-s3");
  const refS3 = bg3.receiveAttachment(s3.contentType, 0, 1);
  // A Delivery Service client that is never reached: the group checks come before any request.
  const ds = new mimi.DsClient("http://127.0.0.1:9", bob);
  const w = { ag, bg, cg, dg, carolLeaf, daveLeaf, a, b, o, o2, refA, refO, pendingE1, msgA, msgE2, msgE3, f, ag2, bg2, mg, bg3, s3, refS3, ds };
  w.bobReceives = (contentType) => bg.receiveAttachment(contentType, 0, 3);
  // Sanity: the unmodified world works.
  const same = async (ref, s) => assert(equalBytes(await bytesOf(ref.decrypt(s.ct)), s.plain), "world: decrypts");
  await same(refA, a); await same(refO, o); await same(refS3, s3); await same(w.bobReceives(f.contentType), f);
  assertEq(a.ct.length, 3 * SEALED + 944, "world: A's ciphertext length");
  return w;
}
const equalBytes = (x, y) => x.length === y.length && x.every((v, i) => v === y[i]);
let world = null;
const getWorld = () => (world ??= buildWorld());

// --- The cases (names and expectations as in tests/adversarial.rs).
const CASES = [
  // STREAM defects of real attachments.
  ["stream_bit_flip_in_chunk_1", "stream", chunk(1), (w) => decrypt(w.refA, flip(w.a.ct, SEALED + 5))],
  ["stream_bit_flip_in_final_tag", "stream", chunk(3), (w) => decrypt(w.refA, flip(w.a.ct, w.a.ct.length - 1))],
  ["stream_chunk_0_swapped_from_b", "stream", chunk(0), (w) => decrypt(w.refA, cat(chunkOf(w.b.ct, 0), chunkOf(w.a.ct, 1), chunkOf(w.a.ct, 2), chunkOf(w.a.ct, 3)))],
  ["stream_chunk_1_swapped_from_b", "stream", chunk(1), (w) => decrypt(w.refA, cat(chunkOf(w.a.ct, 0), chunkOf(w.b.ct, 1), chunkOf(w.a.ct, 2), chunkOf(w.a.ct, 3)))],
  ["stream_final_chunk_swapped_from_b", "stream", chunk(3), (w) => decrypt(w.refA, cat(chunkOf(w.a.ct, 0), chunkOf(w.a.ct, 1), chunkOf(w.a.ct, 2), chunkOf(w.b.ct, 3)))],
  ["stream_whole_ciphertext_of_b", "stream", chunk(0), (w) => decrypt(w.refA, w.b.ct)],
  ["stream_chunks_0_and_1_reordered", "stream", chunk(0), (w) => decrypt(w.refA, cat(chunkOf(w.a.ct, 1), chunkOf(w.a.ct, 0), chunkOf(w.a.ct, 2), chunkOf(w.a.ct, 3)))],
  ["stream_chunks_1_and_2_reordered", "stream", chunk(1), (w) => decrypt(w.refA, cat(chunkOf(w.a.ct, 0), chunkOf(w.a.ct, 2), chunkOf(w.a.ct, 1), chunkOf(w.a.ct, 3)))],
  ["stream_chunk_0_duplicated", "stream", chunk(1), (w) => decrypt(w.refA, cat(chunkOf(w.a.ct, 0), chunkOf(w.a.ct, 0), chunkOf(w.a.ct, 1), chunkOf(w.a.ct, 2), chunkOf(w.a.ct, 3)))],
  ["stream_middle_chunk_dropped", "stream", chunk(1), (w) => decrypt(w.refA, cat(chunkOf(w.a.ct, 0), chunkOf(w.a.ct, 2), chunkOf(w.a.ct, 3)))],
  ["stream_truncated_at_chunk_boundary", "stream", code("Truncated"), (w) => decrypt(w.refA, w.a.ct.subarray(0, 3 * SEALED))],
  ["stream_truncated_at_chunk_boundary_without_size", "stream", code("Truncated"), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "size", null)), w.f.ct.subarray(0, 3 * SEALED))],
  ["stream_truncated_to_first_chunk", "stream", code("Truncated"), (w) => decrypt(w.refA, w.a.ct.subarray(0, SEALED))],
  ["stream_truncated_inside_final_chunk", "stream", code("Truncated"), (w) => decrypt(w.refA, w.a.ct.subarray(0, w.a.ct.length - 1))],
  ["stream_empty_ciphertext", "stream", code("Truncated"), (w) => decrypt(w.refA, new Uint8Array(0))],
  ["stream_extended_with_repeated_final_chunk", "stream", code("TrailingData"), (w) => decrypt(w.refA, cat(w.a.ct, chunkOf(w.a.ct, 3)))],
  ["stream_extended_with_repeated_final_chunk_without_size", "stream", chunk(3), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "size", null)), cat(w.f.ct, chunkOf(w.f.ct, 3)))],
  ["stream_extended_with_final_chunk_of_b", "stream", code("TrailingData"), (w) => decrypt(w.refA, cat(w.a.ct, chunkOf(w.b.ct, 3)))],
  ["stream_extended_with_full_chunk_of_b", "stream", code("TrailingData"), (w) => decrypt(w.refA, cat(w.a.ct, chunkOf(w.b.ct, 0)))],
  ["stream_trailing_byte", "stream", code("TrailingData"), (w) => decrypt(w.refA, cat(w.a.ct, new Uint8Array(1)))],
  ["oneshot_bit_flip", "stream", chunk(0), (w) => decrypt(w.refO, flip(w.o.ct, 500))],
  ["oneshot_ciphertext_of_other_attachment", "stream", chunk(0), (w) => decrypt(w.refO, w.o2.ct)],
  ["oneshot_truncated_by_one_byte", "stream", code("Truncated"), (w) => decrypt(w.refO, w.o.ct.subarray(0, w.o.ct.length - 1))],
  ["oneshot_trailing_byte", "stream", code("TrailingData"), (w) => decrypt(w.refO, cat(w.o.ct, new Uint8Array(1)))],
  ["oneshot_empty_ciphertext", "stream", code("Truncated"), (w) => decrypt(w.refO, new Uint8Array(0))],

  // Cipher suites.
  ["suite1_reference_in_suite3_group", "suite", chunk(0), (w) => decrypt(w.bg3.receiveAttachment(w.a.contentType, 0, 1), w.a.ct)],
  ["suite3_reference_in_suite1_group", "suite", chunk(0), (w) => decrypt(w.bobReceives(w.s3.contentType), w.s3.ct)],
  ["suite3_ciphertext_under_suite1_reference", "suite", chunk(0), (w) => decrypt(w.refA, w.s3.ct)],
  ["suite7_reference_in_suite1_group", "suite", kind("BadLength"), (w) => w.bobReceives(withParam(withParam(w.f.contentType, "nonce", b64(new Uint8Array(48).fill(7))), "hash", b64(new Uint8Array(48).fill(9))))],
  ["suite1_reference_parsed_for_suite7", "suite", kind("BadLength"), (w) => mimi.ExternalBodyRef.parse(w.a.contentType, 7)],
  ["stored_ref_unknown_suite", "suite", code("UnknownCipherSuite"), (w) => stored(w.refA, (b) => b.set([0, 8], 2))],
  ["stored_ref_suite1_relabelled_suite3", "suite", code("InvalidLength"), (w) => stored(w.refA, (b) => b.set([0, 3], 2))],
  ["stored_ref_suite3_relabelled_suite1", "suite", code("InvalidLength"), (w) => stored(w.refS3, (b) => b.set([0, 1], 2))],
  ["stored_ref_suite1_relabelled_suite7", "suite", code("InvalidLength"), (w) => stored(w.refA, (b) => b.set([0, 7], 2))],

  // Epochs (group-1 is in epoch 3; Dave joined in epoch 2).
  ["epoch_future", "epoch", code("WrongEpoch"), (w) => w.bg.receiveAttachment(w.f.contentType, 0, 4)],
  ["epoch_far_future", "epoch", code("WrongEpoch"), (w) => w.bg.receiveAttachment(w.f.contentType, 0, Number.MAX_SAFE_INTEGER)],
  ["epoch_previous", "epoch", code("WrongEpoch"), (w) => w.bg.receiveAttachment(w.f.contentType, 0, 2)],
  ["epoch_pruned", "epoch", code("WrongEpoch"), (w) => w.bg.receiveAttachment(w.a.contentType, 0, 1)],
  ["epoch_zero", "epoch", code("WrongEpoch"), (w) => w.bg.receiveAttachment(w.f.contentType, 0, 0)],
  ["epoch_before_join", "epoch", code("WrongEpoch"), (w) => w.dg.receiveAttachment(w.a.contentType, 0, 1)],
  ["message_of_epoch_before_join", "epoch", code("WrongEpoch"), (w) => w.dg.processMessage(w.msgA)],
  ["message_of_previous_epoch", "epoch", code("WrongEpoch"), (w) => w.bg.processMessage(w.msgE2)],
  ["message_replayed", "epoch", code("WrongEpoch"), (w) => w.bg.processMessage(w.msgA)],
  ["pending_completed_after_epoch_change", "epoch", code("WrongEpoch"), (w) => w.pendingE1.complete(enc.encode("token"))],
  // JS only: numbers that are no epoch (a u64 in Rust).
  ["epoch_not_a_whole_number", "epoch", code("InvalidArgument"), (w) => w.bg.receiveAttachment(w.f.contentType, 0, 3.5)],
  ["epoch_negative", "epoch", code("InvalidArgument"), (w) => w.bg.receiveAttachment(w.f.contentType, 0, -1)],
  ["epoch_undefined", "epoch", code("InvalidArgument"), (w) => w.bg.receiveAttachment(w.f.contentType, 0, undefined)],

  // Senders (F, sent by Alice at leaf 0 in epoch 3).
  ["sender_other_member", "sender", chunk(0), (w) => decrypt(w.bg.receiveAttachment(w.f.contentType, w.daveLeaf, 3), w.f.ct)],
  ["sender_self", "sender", chunk(0), (w) => decrypt(w.bg.receiveAttachment(w.f.contentType, w.bg.ownLeafIndex, 3), w.f.ct)],
  ["sender_removed_member", "sender", code("NotMember"), (w) => w.bg.receiveAttachment(w.f.contentType, w.carolLeaf, 3)],
  ["sender_out_of_range", "sender", code("NotMember"), (w) => w.bg.receiveAttachment(w.f.contentType, 1000, 3)],
  ["sender_max_leaf_index", "sender", code("NotMember"), (w) => w.bg.receiveAttachment(w.f.contentType, 0xffffffff, 3)],
  ["receiver_removed_from_group", "sender", code("NotMember"), (w) => w.cg.receiveAttachment(w.f.contentType, 0, w.cg.epoch)],
  // JS only: numbers that are no leaf index (a u32 in Rust); `undefined` used to become leaf 0.
  ["sender_not_a_whole_number", "sender", code("InvalidArgument"), (w) => w.bg.receiveAttachment(w.f.contentType, 0.5, 3)],
  ["sender_negative", "sender", code("InvalidArgument"), (w) => w.bg.receiveAttachment(w.f.contentType, -1, 3)],
  ["sender_undefined", "sender", code("InvalidArgument"), (w) => w.bg.receiveAttachment(w.f.contentType, undefined, 3)],
  ["sender_beyond_u32", "sender", code("InvalidArgument"), (w) => w.bg.receiveAttachment(w.f.contentType, 2 ** 32, 3)],

  // Replays into another group.
  ["message_of_group1_processed_in_group2", "replay", code("WrongGroup"), (w) => w.bg2.processMessage(w.msgE3)],
  ["content_type_of_group1_received_in_group2", "replay", chunk(0), (w) => decrypt(w.bg2.receiveAttachment(w.a.contentType, 0, 1), w.a.ct)],
  ["group_with_the_same_id_and_other_members", "replay", chunk(0), (w) => decrypt(w.mg.receiveAttachment(w.a.contentType, 0, 0), w.a.ct)],
  ["reference_of_group1_downloaded_via_group2", "replay", code("WrongGroup"), (w) => w.ds.downloadToBlob(w.bg2, w.refA)],
  ["reference_of_group1_deleted_via_group2", "replay", code("WrongGroup"), (w) => w.ds.deleteAttachment(w.bg2, w.refA)],
  ["reference_of_group1_copied_from_group2", "replay", code("WrongGroup"), (w) => w.ds.copyAttachment(w.refA, w.bg2, w.bg)],
  // The copy (a rebind into group-2, as DsClient.copyAttachment returns it), used with group-1.
  ["copied_reference_used_in_original_group", "replay", code("WrongGroup"), (w) => {
    const copy = stored(w.refA, (b) => b.set(enc.encode("group-2"), find(b, enc.encode("group-1"))));
    assertEq(dec.decode(copy.groupId), "group-2", "the copy is bound to group-2");
    return w.ds.download(w.bg, copy);
  }],

  // Modified references (F's content type received by Bob in epoch 3; stored A and O).
  ["content_type_hash_modified", "reference", chunk(0), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "hash", tweak(param(w.f.contentType, "hash")))), w.f.ct)],
  ["content_type_nonce_modified", "reference", chunk(0), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "nonce", tweak(param(w.f.contentType, "nonce")))), w.f.ct)],
  ["content_type_token_of_other_attachment", "reference", chunk(0), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "token", b64(enc.encode("token-b")))), w.b.ct)],
  ["content_type_size_smaller", "reference", code("TrailingData"), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "size", "3999")), w.f.ct)],
  ["content_type_size_larger", "reference", code("Truncated"), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "size", "4001")), w.f.ct)],
  ["content_type_size_one_chunk", "reference", code("TrailingData"), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "size", "1024")), w.f.ct)],
  ["content_type_size_more_chunks", "reference", code("Truncated"), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "size", "8000")), w.f.ct)],
  ["content_type_size_beyond_2_pow_32_chunks", "reference", code("TooLarge"), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "size", "18446744073709551615")), w.f.ct)],
  ["content_type_chunk_size_modified", "reference", chunk(0), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "chunk-size", "2048")), w.f.ct)],
  ["content_type_chunk_size_removed", "reference", code("TrailingData"), (w) => decrypt(w.bobReceives(withParam(w.f.contentType, "chunk-size", null)), w.f.ct)],
  ["content_type_chunk_size_removed_without_size", "reference", chunk(0), (w) => decrypt(w.bobReceives(withParam(withParam(w.f.contentType, "chunk-size", null), "size", null)), w.f.ct)],
  ["content_type_chunk_size_out_of_range", "reference", kind("BadChunkSize"), (w) => w.bobReceives(withParam(w.f.contentType, "chunk-size", "512"))],
  ["oneshot_read_as_chunked", "reference", chunk(0), (w) => {
    const at = chunkSizeAt(w.refO);
    return decrypt(stored(w.refO, (b) => b.set([0, 0, 4, 0], at)), w.o.ct);
  }],
  ["oneshot_size_smaller", "reference", code("TrailingData"), (w) => {
    const at = chunkSizeAt(w.refO) + 4 + 1 + 6; // chunk_size, has_size, the two low bytes of the u64 size
    return decrypt(stored(w.refO, (b) => b.set([999 >> 8, 999 & 255], at)), w.o.ct);
  }],
  ["oneshot_size_larger", "reference", code("Truncated"), (w) => {
    const at = chunkSizeAt(w.refO) + 4 + 1 + 6;
    return decrypt(stored(w.refO, (b) => b.set([1001 >> 8, 1001 & 255], at)), w.o.ct);
  }],
  ["stored_ref_hash_modified", "reference", code("HashMismatch"), (w) => {
    const at = find(w.refA.toBytes(), w.refA.hash);
    return decrypt(stored(w.refA, (b) => { b[at] ^= 1; }), w.a.ct);
  }],
  ["stored_ref_key_modified", "reference", chunk(0), (w) => decrypt(stored(w.refA, (b) => { b[5] ^= 1; }), w.a.ct)],
  ["stored_ref_chunk_size_out_of_range", "reference", code("BadChunkSize"), (w) => {
    const at = chunkSizeAt(w.refA);
    return stored(w.refA, (b) => b.set([0, 0, 0, 1], at));
  }],
  ["stored_ref_truncated", "reference", code("Codec"), (w) => mimi.AttachmentRef.fromBytes(w.refA.toBytes().slice(0, -1))],
  ["stored_ref_trailing_byte", "reference", code("Codec"), (w) => mimi.AttachmentRef.fromBytes(cat(w.refA.toBytes(), new Uint8Array(1)))],
  ["stored_ref_unknown_version", "reference", code("Codec"), (w) => stored(w.refA, (b) => { b[1] = 2; })],

  // Content types received by Bob (group-1, epoch 3), built from F's.
  ...[
    ["ct_second_token_injected", kind("DuplicateParameter"), (ct) => `${ct}; token=QUFB`],
    ["ct_second_hash_injected_upper_case", kind("DuplicateParameter"), (ct) => `${ct}; HASH=${param(ct, "hash")}`],
    ["ct_second_hash_injected_quoted", kind("DuplicateParameter"), (ct) => `${ct}; hash="${param(ct, "hash")}"`],
    ["ct_second_access_type_injected", kind("DuplicateParameter"), (ct) => `${ct}; access-type=URL`],
    ["ct_second_chunk_size_injected", kind("DuplicateParameter"), (ct) => `${ct}; chunk-size=2048`],
    ["ct_second_size_injected", kind("DuplicateParameter"), (ct) => `${ct}; size=1`],
    ["ct_hash_smuggled_in_quoted_unknown_parameter", kind("MissingParameter"), (ct) => `${withParam(ct, "hash", null)}; x-note="; hash=${param(ct, "hash")}"`],
    ["ct_hash_smuggled_in_comment", kind("MissingParameter"), (ct) => `${withParam(ct, "hash", null)} (; hash=${param(ct, "hash")})`],
    ["ct_parameters_smuggled_in_quoted_token", kind("BadBase64"), (ct) => withParam(ct, "token", `"${param(ct, "token")}; hash=${param(ct, "hash")}"`)],
    ["ct_escaped_quote_breakout", kind("BadBase64"), (ct) => withParam(ct, "token", `"${param(ct, "token")}\\"; size=1"`)],
    ["ct_crlf_header_injection", kind("NonAscii"), (ct) => `${ct}\r\nContent-Disposition: attachment; filename=x.html`],
    ["ct_bare_lf", kind("NonAscii"), (ct) => `${ct}\n`],
    ["ct_folded_header_line", kind("NonAscii"), (ct) => ct.replace("; hash=", ";\r\n hash=")],
    ["ct_nul_in_value", kind("NonAscii"), (ct) => withParam(ct, "token", `${param(ct, "token")}\0`)],
    ["ct_del_character", kind("NonAscii"), (ct) => `${ct}; x=\x7f`],
    ["ct_vertical_tab", kind("NonAscii"), (ct) => ct.replace("; size", ";\x0bsize")],
    ["ct_utf8_in_token_value", kind("NonAscii"), (ct) => withParam(ct, "token", `${param(ct, "token")}\u00e4`)],
    ["ct_utf8_in_quoted_unknown_parameter", kind("NonAscii"), (ct) => `${ct}; x-name="r\u00e9sum\u00e9.pdf"`],
    ["ct_utf8_in_parameter_name", kind("NonAscii"), (ct) => `${ct}; na\u00efve=1`],
    ["ct_fullwidth_semicolon", kind("NonAscii"), (ct) => ct.replace("; hash=", "\uff1b hash=")],
    ["ct_overlong_4097_bytes", kind("TooLong"), (ct) => { const base = `${ct}; x-pad=`; return base + "a".repeat(4097 - base.length); }],
    ["ct_overlong_token_513_bytes", kind("BadTokenLength"), (ct) => withParam(ct, "token", b64(new Uint8Array(513).fill(0x41)))],
    ["ct_overlong_size_digits", kind("BadNumber"), (ct) => withParam(ct, "size", "18446744073709551616")],
    ["ct_overlong_chunk_size_digits", kind("BadNumber"), (ct) => withParam(ct, "chunk-size", "99999999999999999999")],
    ["ct_overlong_nonce_33_bytes", kind("BadLength"), (ct) => withParam(ct, "nonce", b64(new Uint8Array(33).fill(1)))],
    ["ct_overlong_hash_64_bytes", kind("BadLength"), (ct) => withParam(ct, "hash", b64(new Uint8Array(64).fill(1)))],
    ["ct_rfc2231_token_continuation", kind("Rfc2231"), (ct) => { const t = param(ct, "token"); return ct.replace(`token=${t}`, `token*0=${t.slice(0, 4)}; token*1=${t.slice(4)}`); }],
    ["ct_rfc2231_hash_extended_utf8", kind("Rfc2231"), (ct) => ct.replace(`hash=${param(ct, "hash")}`, `hash*=utf-8''${param(ct, "hash")}`)],
    ["ct_rfc2231_nonce_encoded_continuation", kind("Rfc2231"), (ct) => ct.replace(`nonce=${param(ct, "nonce")}`, `nonce*0*=utf-8''${param(ct, "nonce")}`)],
    ["ct_rfc2231_access_type_extended", kind("Rfc2231"), (ct) => ct.replace("access-type=token", "access-type*=us-ascii'en'token")],
    ["ct_rfc2231_upper_case_name", kind("Rfc2231"), (ct) => ct.replace("token=", "TOKEN*0=")],
    ["ct_rfc2231_next_to_plain_parameter", kind("Rfc2231"), (ct) => `${ct}; hash*=utf-8''${param(ct, "hash")}`],
    ["ct_missing_token", kind("MissingParameter"), (ct) => withParam(ct, "token", null)],
    ["ct_missing_nonce", kind("MissingParameter"), (ct) => withParam(ct, "nonce", null)],
    ["ct_missing_hash", kind("MissingParameter"), (ct) => withParam(ct, "hash", null)],
    ["ct_missing_access_type", kind("MissingParameter"), (ct) => withParam(ct, "access-type", null)],
    ["ct_no_parameters", kind("MissingParameter"), () => "message/external-body"],
    ["ct_empty_value", kind("Syntax"), (ct) => withParam(ct, "nonce", "")],
    ["ct_parameter_without_value", kind("Syntax"), (ct) => `${ct}; hash`],
    ["ct_access_type_url", kind("WrongAccessType"), (ct) => withParam(ct, "access-type", "URL")],
    ["ct_media_type_text_plain", kind("WrongMediaType"), (ct) => ct.replace("message/external-body", "text/plain")],
    ["ct_size_negative", kind("BadNumber"), (ct) => withParam(ct, "size", "-1")],
    ["ct_size_plus_sign", kind("BadNumber"), (ct) => withParam(ct, "size", "+4000")],
    ["ct_hash_base64_padded", kind("BadBase64"), (ct) => withParam(ct, "hash", `"${param(ct, "hash")}="`)],
    ["ct_token_standard_base64_alphabet", kind("BadBase64"), (ct) => withParam(ct, "token", "ab+c")],
  ].map(([name, expect, input]) => [name, "content-type", expect, (w) => w.bobReceives(input(w.f.contentType))]),
].map(([name, category, expect, run]) => ({ name, category, expect, run }));

/** Runs the cases of `category`; throws with every case that did not fail as expected. */
async function runCategory(category) {
  const w = await getWorld();
  const wrong = [];
  const cases = CASES.filter((c) => c.category === category);
  for (const c of cases) {
    const f = await failureOf(() => c.run(w));
    if (!matches(c.expect, f)) wrong.push(`${c.name}: expected ${show(c.expect)}, got ${show(f)}${f.message ? ` (${f.message})` : ""}`);
  }
  if (wrong.length) throw new Error(`${wrong.length} of ${cases.length} ${category} cases failed:\n${wrong.join("\n")}`);
  return { cases: cases.length };
}

// --- The frozen vectors through the JS API.

const MLS_VARINT = (n) => {
  if (n < 64) return [n];
  if (n < 16384) return [0x40 | (n >> 8), n & 0xff];
  throw new Error("too long");
};
const vl = (b) => [...MLS_VARINT(b.length), ...b];
const u16 = (n) => [n >> 8, n & 0xff];
const u32 = (n) => [n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const u64 = (n) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, BigInt(n)); return [...b]; };
/** The stored form of a reference (src/attachment.rs StoredRef) with raw keys: how the vector
 *  keys reach `AttachmentRef.decrypt`, the streaming pipeline. */
const storedRef = ({ suite, key, nonce, hash, chunkSize, size }) => new Uint8Array([
  ...u16(1), ...u16(suite), ...vl(key), ...vl(nonce), ...vl([]), ...vl([]), ...vl(hash),
  ...u32(chunkSize ?? 0), size == null ? 0 : 1, ...u64(size ?? 0), ...vl([]), ...u64(0), ...u32(0),
]);

async function vectors(name) {
  const r = await fetch(`/tests/vectors/${name}`);
  assert(r.ok, `fetch /tests/vectors/${name}: ${r.status}`);
  return r.json();
}

export const adversarialTests = {
  adversarial_stream_defects: () => runCategory("stream"),
  adversarial_wrong_suite: () => runCategory("suite"),
  adversarial_wrong_epoch: () => runCategory("epoch"),
  adversarial_wrong_sender: () => runCategory("sender"),
  adversarial_replay_into_another_group: () => runCategory("replay"),
  adversarial_modified_references: () => runCategory("reference"),
  adversarial_content_type_injection: () => runCategory("content-type"),

  /** Injections the grammar neutralises: the smuggled value is ignored, the real one used. */
  async adversarial_smuggled_values_ignored() {
    const w = await getWorld();
    const ct = w.f.contentType, h = param(ct, "hash"), other = tweak(h);
    const real = w.bobReceives(ct).hash;
    const pad = (base) => base + "a".repeat(4096 - base.length);
    const inputs = {
      "hash smuggled in a quoted unknown parameter": `${ct}; x-note="; hash=${other}"`,
      "hash smuggled in a comment": `${ct} (; hash=${other})`,
      "RFC 2231 form of an unknown parameter": `${ct}; filename*=utf-8''r%C3%A9sum%C3%A9.pdf`,
      "RFC 2231 continuation of an unknown parameter": `${ct}; title*0=a; title*1=b`,
      "tabs and comments around tokens": ct.replaceAll("; ", ";\t(c) "),
      "upper-case names": ct.replace("hash=", "HASH=").replace("message/external-body", "Message/External-Body"),
      "exactly 4096 bytes": pad(`${ct}; x-pad=`),
    };
    for (const [what, input] of Object.entries(inputs)) {
      const r = w.bobReceives(input);
      assert(equalBytes(r.hash, real), `${what}: the real hash is used`);
      assert(equalBytes(await bytesOf(r.decrypt(w.f.ct)), w.f.plain), `${what}: decrypts`);
    }
    return { inputs: Object.keys(inputs).length };
  },

  /** Every invalid vector of chunked.json through decryptOneShot / decryptChunked, the
   *  incremental ChunkDecryptor (in pieces) and AttachmentRef.decrypt on each AEAD backend. */
  async adversarial_chunked_vectors() {
    const v = await vectors("chunked.json");
    const wrong = [];
    let runs = 0;
    for (const c of v.valid) {
      // The stored-reference encoding above is right: valid vectors decrypt through it.
      const ref = mimi.AttachmentRef.fromBytes(storedRef({ suite: c.cipher_suite, key: hex(c.key), nonce: hex(c.nonce), hash: hex(c.attachment_hash), chunkSize: c.chunk_size, size: null }));
      if (!equalBytes(await bytesOf(ref.decrypt(hex(c.ciphertext))), hex(c.plaintext))) wrong.push(`${c.name}: valid vector does not decrypt`);
    }
    assert(v.invalid.length >= 90, `${v.invalid.length} invalid vectors`);
    for (const c of v.invalid) {
      const expect = { code: c.expect, ...(c.chunk != null ? { chunk: c.chunk } : {}) };
      const [key, nonce, hash, ct] = [hex(c.key), hex(c.nonce), hex(c.attachment_hash), hex(c.ciphertext)];
      const keys = mimi.AttachmentKeys.fromParts(c.cipher_suite, key, nonce);
      const how = {};
      if (c.chunk_size == null) {
        how.decryptOneShot = () => mimi.decryptOneShot(keys, ct, hash);
      } else {
        how.decryptChunked = () => mimi.decryptChunked(keys, ct, hash, c.chunk_size, c.size ?? undefined);
        for (const piece of [7, 1040]) {
          how[`ChunkDecryptor/${piece}`] = () => {
            const d = new mimi.ChunkDecryptor(keys, c.chunk_size, hash, c.size ?? undefined);
            for (let i = 0; i < ct.length; i += piece) d.update(ct.subarray(i, i + piece));
            d.finish();
          };
        }
      }
      const ref = mimi.AttachmentRef.fromBytes(storedRef({ suite: c.cipher_suite, key, nonce, hash, chunkSize: c.chunk_size, size: c.size }));
      const aesGcm = ![3, 6].includes(c.cipher_suite);
      for (const backend of aesGcm ? ["webcrypto", "wasm"] : ["wasm"]) how[`decrypt/${backend}`] = () => bytesOf(ref.decrypt(pieces(ct, 777), { backend }));
      runs += await tryEach(how, c.name, expect, wrong);
    }
    if (wrong.length) throw new Error(`${wrong.length} failures:\n${wrong.join("\n")}`);
    return { invalid: v.invalid.length, runs };
  },

  /** Every invalid vector of content-type.json through ExternalBodyRef.parse and, for the suites
   *  a group can run in, MlsGroup.receiveAttachment. */
  async adversarial_content_type_vectors() {
    const v = await vectors("content-type.json");
    const groups = {};
    const group = async (suite) => {
      if (![1, 2, 3].includes(suite)) return null;
      if (!groups[suite]) {
        const c = await mimi.MlsClient.create(`ct-vectors-${suite}`, { cipherSuite: suite, storeName: null });
        groups[suite] = await c.createGroup();
      }
      return groups[suite];
    };
    const wrong = [];
    let runs = 0;
    for (const c of v.valid) {
      const got = await failureOf(() => mimi.ExternalBodyRef.parse(c.input, c.cipher_suite));
      if (got.code !== "no error") wrong.push(`${c.name}: valid vector rejected: ${show(got)}`);
    }
    assert(v.invalid.length >= 40, `${v.invalid.length} invalid vectors`);
    for (const c of v.invalid) {
      const expect = kind(c.expect);
      const how = { parse: () => mimi.ExternalBodyRef.parse(c.input, c.cipher_suite) };
      const g = await group(c.cipher_suite);
      if (g) how.receiveAttachment = () => g.receiveAttachment(c.input, g.ownLeafIndex, g.epoch);
      runs += await tryEach(how, c.name, expect, wrong);
    }
    if (wrong.length) throw new Error(`${wrong.length} failures:\n${wrong.join("\n")}`);
    return { invalid: v.invalid.length, runs };
  },
};

/** Names of every group-level case, for docs/ADVERSARIAL.md. */
export const adversarialCaseNames = CASES.map((c) => c.name);
