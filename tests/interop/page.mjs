// Page side of the cross-stack interop test (tests/interop/run.mjs): one MLS group with a ts-mls
// member (an independent TypeScript RFC 9420 implementation) and an openmls member (this package's
// MlsClient), attachments sent both ways.
//
// The ts-mls member works as an app with its own MLS stack does: it asks the package only for the
// exporter input (`attachmentExporterInput`), runs ts-mls's own `mlsExporter`, and derives the keys
// with `AttachmentKeys.fromAttachmentExporterSecret`; it encrypts and decrypts with the low-level
// API (`encryptChunked`, `encryptOneShot`, `decryptChunked`, `decryptOneShot`, `ExternalBodyRef`).
// The openmls member uses the group API only (`encryptAttachment`, `processMessage`,
// `receiveAttachment`, `decryptToBlob`).
import init, * as mimi from "/pkg/mimi_attachments.js";
import * as ts from "ts-mls";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import { encodeUint64 } from "ts-mls/codec/number.js";
import { unprotectPrivateMessage } from "ts-mls/messageProtection.js";

export const ready = init();

const NAMES = {
  1: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
  2: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
  3: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
};
const te = new TextEncoder(), td = new TextDecoder();
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
function assert(c, msg) { if (!c) throw new Error("assertion failed: " + msg); }
function assertBytes(a, b, msg) {
  if (hex(a) !== hex(b)) throw new Error(`assertion failed: ${msg}: ${hex(a).slice(0, 160)} != ${hex(b).slice(0, 160)} (${a.length} vs ${b.length} bytes)`);
}
function random(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}
const sha256 = async (b) => new Uint8Array(await crypto.subtle.digest("SHA-256", b));
const mlsMsg = (bytes) => ts.decodeMlsMessage(bytes, 0)[0];

/** AttachmentContext { opaque attachment_hash<V>; uint64 sender_index; }, encoded by ts-mls's own
 *  TLS codec: an independent check of the bytes the package hands to apps. */
function tsContext(hash, sender) {
  const a = encode(varLenDataEncoder)(hash), b = encodeUint64(BigInt(sender));
  const out = new Uint8Array(a.length + b.length);
  out.set(a); out.set(b, a.length);
  return out;
}

/** A ts-mls member's view of an incoming application message with its sender's leaf index.
 *  ts-mls 1.6.4's processMessage returns only the data (docs/INTEROP.md), so the message is
 *  unprotected with ts-mls's own `unprotectPrivateMessage` (sender data decrypted, signature
 *  verified), as processPrivateMessage does for a current-epoch application message. */
async function tsReceiveApplication(state, bytes, impl) {
  const m = mlsMsg(bytes);
  assert(m.wireformat === "mls_private_message", "an application message is a PrivateMessage");
  const pm = m.privateMessage;
  assert(pm.epoch === state.groupContext.epoch, "message of the current epoch");
  const r = await unprotectPrivateMessage(state.keySchedule.senderDataSecret, pm, state.secretTree, state.ratchetTree,
    state.groupContext, state.clientConfig.keyRetentionConfig, impl);
  assert(r.content.content.contentType === "application", "application content");
  assert(r.content.content.sender.senderType === "member", "sent by a member");
  return { state: { ...state, secretTree: r.tree }, sender: r.content.content.sender.leafIndex, epoch: Number(pm.epoch),
    data: r.content.content.applicationData };
}

async function tsProcessHandshake(state, bytes, impl) {
  const r = await ts.processMessage(mlsMsg(bytes), state, ts.emptyPskIndex, ts.acceptAll, impl);
  assert(r.kind === "newState", "a handshake message gives a new state");
  return r.newState;
}

/** Both members' `MLS-Exporter` for one attachment: the package's input, ts-mls's exporter, and
 *  openmls's (`MlsGroup.exportSecret`), which must agree byte for byte. */
async function bothExporters(suite, tsState, group, impl, hash, sender) {
  const input = mimi.attachmentExporterInput(suite, hash, sender);
  assert(input.label === "MIMI attachment", "exporter label: " + input.label);
  assert(input.length === 32, "KDF.Nh of suites 1-3: " + input.length);
  assertBytes(input.context, tsContext(hash, sender), "AttachmentContext bytes vs ts-mls's TLS codec");
  const fromTs = await ts.mlsExporter(tsState.keySchedule.exporterSecret, input.label, input.context, input.length, impl);
  const fromOpenmls = group.exportSecret(input.label, input.context, input.length);
  assertBytes(fromTs, fromOpenmls, `attachment_exporter_secret (hash ${hex(hash).slice(0, 8)}, sender ${sender}, epoch ${group.epoch})`);
  return fromTs;
}

/** Keys of the ts-mls member, from ts-mls's exporter; cross-checked against the derivation from
 *  the epoch's raw exporter_secret (the package's own MLS-Exporter). */
function tsKeys(suite, tsState, aes, hash, sender, nonce) {
  const keys = mimi.AttachmentKeys.fromAttachmentExporterSecret(suite, aes, nonce);
  const viaRaw = mimi.AttachmentKeys.fromExporterSecret(suite, tsState.keySchedule.exporterSecret, hash, sender, nonce);
  assertBytes(keys.key(), viaRaw.key(), "attachment_key: ts-mls exporter vs raw exporter_secret");
  assertBytes(keys.nonce(), viaRaw.nonce(), "attachment_nonce: ts-mls exporter vs raw exporter_secret");
  viaRaw.free();
  return keys;
}

/**
 * One group, `creator` ("ts" or "openmls") creates it and adds the other through its key package
 * and a Welcome; a commit from each side; then attachments both ways, chunked and one-shot.
 */
export async function scenario(suite, creator) {
  const impl = await ts.getCiphersuiteImpl(ts.getCiphersuiteFromName(NAMES[suite]));
  const tsKp = await ts.generateKeyPackage({ credentialType: "basic", identity: te.encode("alice@ts-mls") },
    ts.defaultCapabilities(), ts.defaultLifetime, [], impl);
  const client = await mimi.MlsClient.create("bob@openmls", { cipherSuite: suite, storeName: null });
  let tsState, group;
  if (creator === "ts") {
    tsState = await ts.createGroup(te.encode(`interop-${suite}-ts`), tsKp.publicPackage, tsKp.privatePackage, [], impl);
    const kp = mlsMsg(await client.keyPackage());
    assert(kp.wireformat === "mls_key_package", "our key package is an MLSMessage(KeyPackage)");
    const c = await ts.createCommit({ state: tsState, cipherSuite: impl }, {
      extraProposals: [{ proposalType: "add", add: { keyPackage: kp.keyPackage } }],
      ratchetTreeExtension: true, wireAsPublicMessage: true,
    });
    tsState = c.newState;
    group = await client.joinGroup(ts.encodeMlsMessage({ welcome: c.welcome, wireformat: "mls_welcome", version: "mls10" }));
  } else {
    group = await client.createGroup(te.encode(`interop-${suite}-openmls`));
    const kp = ts.encodeMlsMessage({ keyPackage: tsKp.publicPackage, wireformat: "mls_key_package", version: "mls10" });
    const upd = await group.addMembers([kp]);
    const w = mlsMsg(upd.welcome);
    assert(w.wireformat === "mls_welcome", "our Welcome is an MLSMessage(Welcome)");
    tsState = await ts.joinGroup(w.welcome, tsKp.publicPackage, tsKp.privatePackage, ts.emptyPskIndex, impl);
  }
  const tsLeaf = tsState.privatePath.leafIndex, ourLeaf = group.ownLeafIndex;
  assert(Number(tsState.groupContext.epoch) === group.epoch, `same epoch after the join: ${tsState.groupContext.epoch} vs ${group.epoch}`);
  assertBytes(tsState.groupContext.groupId, group.groupId, "group id");
  assert(group.cipherSuite === suite, "our group's suite");
  assert(group.members().length === 2 && tsLeaf !== ourLeaf, "two members at different leaves");

  // A commit from each side (path updates): both follow, the exporters still agree.
  const upd = await group.selfUpdate();
  tsState = await tsProcessHandshake(tsState, upd.commit, impl);
  const c2 = await ts.createCommit({ state: tsState, cipherSuite: impl }, { wireAsPublicMessage: true });
  tsState = c2.newState;
  const ev = await group.processMessage(ts.encodeMlsMessage(c2.commit));
  assert(ev.type === "commit" && ev.senderLeafIndex === tsLeaf, "ts-mls's commit: " + JSON.stringify(ev));
  assert(Number(tsState.groupContext.epoch) === group.epoch && group.epoch >= 3, `epochs after two commits: ${tsState.groupContext.epoch} vs ${group.epoch}`);

  const out = { epoch: group.epoch, tsLeaf, ourLeaf, sent: [] };
  const token = te.encode("interop-token");

  // ts-mls → openmls: the ts-mls member sends chunked and one-shot attachments.
  for (const oneShot of [false, true]) {
    const pt = random(oneShot ? 100_000 + suite : 3 * 65536 + 777 * suite);
    const hash = await sha256(pt); // suites 1-3 hash with SHA-256
    assertBytes(mimi.attachmentHash(suite, pt), hash, "attachmentHash");
    const aes = await bothExporters(suite, tsState, group, impl, hash, tsLeaf);
    const nonce = mimi.randomNonce(suite);
    const keys = tsKeys(suite, tsState, aes, hash, tsLeaf, nonce);
    const ct = oneShot ? mimi.encryptOneShot(keys, pt) : mimi.encryptChunked(keys, pt, 65536);
    keys.free();
    const ref = new mimi.ExternalBodyRef(token, nonce, hash, oneShot ? undefined : 65536, pt.length);
    const app = await ts.createApplicationMessage(tsState, te.encode(ref.toContentType()), impl);
    tsState = app.newState;
    const msg = ts.encodeMlsMessage({ privateMessage: app.privateMessage, wireformat: "mls_private_message", version: "mls10" });
    // The openmls member: the normal receive path.
    const e = await group.processMessage(msg);
    assert(e.type === "application" && e.senderLeafIndex === tsLeaf && e.epoch === group.epoch, "application event: " + JSON.stringify({ ...e, data: undefined }));
    const received = group.receiveAttachment(td.decode(e.data), e.senderLeafIndex, e.epoch);
    const plain = new Uint8Array(await (await received.decryptToBlob(ct)).arrayBuffer());
    assertBytes(await sha256(plain), hash, `openmls member decrypts ts-mls's ${oneShot ? "one-shot" : "chunked"} attachment`);
    assert(plain.length === pt.length, "plaintext size");
    // A sender index off by one (a wrong context) yields other keys: the receive path refuses.
    const wrong = mimi.AttachmentKeys.fromExporterSecret(suite, tsState.keySchedule.exporterSecret, hash, ourLeaf, nonce);
    let code;
    try { oneShot ? mimi.decryptOneShot(wrong, ct, hash) : mimi.decryptChunked(wrong, ct, hash, 65536, pt.length); } catch (err) { code = err.code; }
    assert(code === "DecryptFailed", "keys of the wrong sender index must not decrypt: " + code);
    out.sent.push(`ts->openmls ${oneShot ? "one-shot" : "chunked"} ${pt.length}`);
  }

  // openmls → ts-mls: the openmls member sends through the group API.
  for (const oneShot of [false, true]) {
    const pt = random(oneShot ? 70_000 + suite : 2 * 65536 + 999 * suite);
    const outgoing = await group.encryptAttachment(new Blob([pt]), oneShot ? { oneShot: true } : { chunkSize: 65536 });
    const ct = new Uint8Array(await new Response(outgoing.ciphertext()).arrayBuffer());
    const ref = outgoing.complete(token);
    const msg = await group.encryptMessage(ref.contentType());
    // The ts-mls member: its own MLS stack for the message and the exporter.
    const r = await tsReceiveApplication(tsState, msg, impl);
    tsState = r.state;
    assert(r.sender === ourLeaf && r.epoch === group.epoch, `sender ${r.sender}, epoch ${r.epoch}`);
    const parsed = mimi.ExternalBodyRef.parse(td.decode(r.data), suite);
    const aes = await bothExporters(suite, tsState, group, impl, parsed.hash, r.sender);
    const keys = tsKeys(suite, tsState, aes, parsed.hash, r.sender, parsed.nonce);
    const plain = parsed.chunkSize === undefined
      ? mimi.decryptOneShot(keys, ct, parsed.hash)
      : mimi.decryptChunked(keys, ct, parsed.hash, parsed.chunkSize, parsed.size);
    keys.free();
    assert(oneShot === (parsed.chunkSize === undefined), "format of the reference");
    assertBytes(plain, pt, `ts-mls member decrypts openmls's ${oneShot ? "one-shot" : "chunked"} attachment`);
    out.sent.push(`openmls->ts ${oneShot ? "one-shot" : "chunked"} ${pt.length}`);
  }

  // Plain application messages cross too (the chat around the attachments).
  const hello = await ts.createApplicationMessage(tsState, te.encode("hello from ts-mls"), impl);
  tsState = hello.newState;
  const he = await group.processMessage(ts.encodeMlsMessage({ privateMessage: hello.privateMessage, wireformat: "mls_private_message", version: "mls10" }));
  assert(td.decode(he.data) === "hello from ts-mls", "text ts-mls → openmls");
  const back = await tsReceiveApplication(tsState, await group.encryptMessage("hello from openmls"), impl);
  assert(td.decode(back.data) === "hello from openmls", "text openmls → ts-mls");
  return out;
}

/** The helpers an app with its own MLS stack calls refuse bad input with clear errors. */
export function helperErrors() {
  const codes = [];
  const code = (f) => { try { f(); return "no error"; } catch (e) { return `${e.name}/${e.code}`; } };
  codes.push(code(() => mimi.attachmentExporterInput(1, new Uint8Array(31), 0)));
  codes.push(code(() => mimi.attachmentExporterInput(1, new Uint8Array(32), -1)));
  codes.push(code(() => mimi.attachmentExporterInput(1, new Uint8Array(32), 2 ** 32)));
  codes.push(code(() => mimi.attachmentExporterInput(0x7777, new Uint8Array(32), 0)));
  codes.push(code(() => mimi.AttachmentKeys.fromAttachmentExporterSecret(1, new Uint8Array(31), new Uint8Array(32))));
  codes.push(code(() => mimi.AttachmentKeys.fromAttachmentExporterSecret(1, new Uint8Array(32), new Uint8Array(16))));
  // Large sender indices are uint64 in the context: 2^32-1 encodes as 00 00 00 00 ff ff ff ff.
  const ctx = mimi.attachmentExporterInput(1, new Uint8Array(32).fill(7), 2 ** 32 - 1).context;
  return { codes, ctx: hex(ctx), want: hex(tsContext(new Uint8Array(32).fill(7), 2 ** 32 - 1)) };
}
