// Page side of the cross-stack interop test (tests/interop/run.mjs): one MLS group with a ts-mls
// member (an independent TypeScript RFC 9420 implementation) and an openmls member (this package's
// MlsClient), attachments sent both ways.
//
// The ts-mls member works as an app with its own MLS stack does, with the package's light build
// (`mimi-attachments/lite`, no openmls): it asks it only for the exporter input
// (`attachmentExporterInput`), runs ts-mls's own `mlsExporter`, and derives the keys with
// `AttachmentKeys.fromAttachmentExporterSecret`; it encrypts and decrypts with the low-level API
// (`encryptChunked`, `encryptOneShot`, `decryptChunked`, `decryptOneShot`, `ExternalBodyRef`), or,
// against the Delivery Service (`dsScenario`), with `ExternalGroup` (ts-mls's exporter and signing
// key as callbacks) and the light `DsClient`. The openmls member uses the full build's group API
// only (`encryptAttachment`, `processMessage`, `receiveAttachment`, `decryptToBlob`, `DsClient`).
import init, * as mimi from "/pkg/mimi_attachments.js";
import initLite, * as lite from "/pkg/lite/mimi_attachments_lite.js";
import * as ts from "ts-mls";
import { encode } from "ts-mls/codec/tlsEncoder.js";
import { varLenDataEncoder } from "ts-mls/codec/variableLength.js";
import { encodeUint64 } from "ts-mls/codec/number.js";
import { unprotectPrivateMessage } from "ts-mls/messageProtection.js";
import { createGroupInfoWithRatchetTree } from "ts-mls/createCommit.js";

export const ready = Promise.all([init(), initLite()]);
const fullBuild = mimi;

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
  const input = lite.attachmentExporterInput(suite, hash, sender);
  assertBytes(input.context, mimi.attachmentExporterInput(suite, hash, sender).context, "exporter context: light vs full build");
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
  const keys = lite.AttachmentKeys.fromAttachmentExporterSecret(suite, aes, nonce);
  const viaRaw = lite.AttachmentKeys.fromExporterSecret(suite, tsState.keySchedule.exporterSecret, hash, sender, nonce);
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
    assertBytes(lite.attachmentHash(suite, pt), hash, "attachmentHash");
    const aes = await bothExporters(suite, tsState, group, impl, hash, tsLeaf);
    const nonce = lite.randomNonce(suite);
    const keys = tsKeys(suite, tsState, aes, hash, tsLeaf, nonce);
    const ct = oneShot ? lite.encryptOneShot(keys, pt) : lite.encryptChunked(keys, pt, 65536);
    keys.free();
    const ref = new lite.ExternalBodyRef(token, nonce, hash, oneShot ? undefined : 65536, pt.length);
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
    const wrong = lite.AttachmentKeys.fromExporterSecret(suite, tsState.keySchedule.exporterSecret, hash, ourLeaf, nonce);
    let code;
    try { oneShot ? lite.decryptOneShot(wrong, ct, hash) : lite.decryptChunked(wrong, ct, hash, 65536, pt.length); } catch (err) { code = err.code; }
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
    const parsed = lite.ExternalBodyRef.parse(td.decode(r.data), suite);
    const aes = await bothExporters(suite, tsState, group, impl, parsed.hash, r.sender);
    const keys = tsKeys(suite, tsState, aes, parsed.hash, r.sender, parsed.nonce);
    const plain = parsed.chunkSize === undefined
      ? lite.decryptOneShot(keys, ct, parsed.hash)
      : lite.decryptChunked(keys, ct, parsed.hash, parsed.chunkSize, parsed.size);
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
export function helperErrors(build) {
  const mimi = build === "lite" ? lite : fullBuild;
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

/** `code` of the error `f` rejects with ("no error" if it resolves). */
async function codeOf(f) {
  try { await f(); return "no error"; } catch (e) { return e.code ?? String(e); }
}

const blobBytes = async (b) => new Uint8Array(await b.arrayBuffer());

/**
 * The light build as an app with its own MLS stack uses it against the Delivery Service: a ts-mls
 * member (`ExternalGroup` with ts-mls's `mlsExporter` and signing key as callbacks, the light
 * `DsClient`) and an openmls member (the full build) in one group registered at the DS by
 * `creator` ("ts": the light build's `registerGroup`/`postHandshake` with ts-mls's GroupInfo and
 * commit; "openmls": the full `createGroup`, then `postHandshake` of its `addMembers` commit).
 * Attachments go up and down both ways (one request and resumable), every request of the ts-mls
 * member signed through its callback and checked by the DS against the roster.
 */
export async function dsScenario(suite, creator, url) {
  const impl = await ts.getCiphersuiteImpl(ts.getCiphersuiteFromName(NAMES[suite]));
  const tsName = `alice-${suite}-${creator}@ts-mls`, ourName = `bob-${suite}-${creator}@openmls`;
  const tsKp = await ts.generateKeyPackage({ credentialType: "basic", identity: te.encode(tsName) },
    ts.defaultCapabilities(), ts.defaultLifetime, [], impl);
  const client = await mimi.MlsClient.create(ourName, { cipherSuite: suite, storeName: null });
  const ours = new mimi.DsClient(url, client, { devLogin: true });
  const theirs = new lite.DsClient(url, { devLogin: true, identity: tsName });
  // Not ts-mls's public createGroupInfoWithExternalPubAndRatchetTree: its external_pub extension
  // lacks the key's length prefix (docs/INTEROP.md; `externalPubDefect` below), so openmls at the
  // DS refuses that GroupInfo. The same GroupInfo without external_pub, from ts-mls's own code:
  const groupInfo = async (state) => ts.encodeMlsMessage({
    groupInfo: await createGroupInfoWithRatchetTree(state.groupContext, state.confirmationTag, state, state.ratchetTree, [], impl),
    wireformat: "mls_group_info", version: "mls10" });
  let tsState, group;
  if (creator === "ts") {
    tsState = await ts.createGroup(te.encode(`${tsName}/ds-interop`), tsKp.publicPackage, tsKp.privatePackage, [], impl);
    await theirs.registerGroup(await groupInfo(tsState));
    const kp = mlsMsg(await client.keyPackage());
    const c = await ts.createCommit({ state: tsState, cipherSuite: impl }, {
      extraProposals: [{ proposalType: "add", add: { keyPackage: kp.keyPackage } }],
      ratchetTreeExtension: true, wireAsPublicMessage: true,
    });
    tsState = c.newState;
    const welcome = ts.encodeMlsMessage({ welcome: c.welcome, wireformat: "mls_welcome", version: "mls10" });
    await theirs.postHandshake(tsState.groupContext.groupId, { commit: ts.encodeMlsMessage(c.commit), groupInfo: await groupInfo(tsState), welcome });
    group = await client.joinGroup(welcome);
  } else {
    group = await ours.createGroup(te.encode(`${ourName}/ds-interop`));
    const upd = await group.addMembers([ts.encodeMlsMessage({ keyPackage: tsKp.publicPackage, wireformat: "mls_key_package", version: "mls10" })]);
    await ours.postHandshake(group.groupId, upd);
    tsState = await ts.joinGroup(mlsMsg(upd.welcome).welcome, tsKp.publicPackage, tsKp.privatePackage, ts.emptyPskIndex, impl);
  }
  const tsLeaf = tsState.privatePath.leafIndex;
  const external = (state, over = {}) => new lite.ExternalGroup({
    groupId: state.groupContext.groupId, epoch: state.groupContext.epoch, ownLeafIndex: tsLeaf, cipherSuite: suite,
    exportSecret: (label, context, length) => ts.mlsExporter(state.keySchedule.exporterSecret, label, context, length, impl),
    sign: (content) => impl.signature.sign(tsKp.privatePackage.signaturePrivateKey, content),
    ...over,
  });
  let xg = external(tsState);
  assert(xg.epoch === group.epoch && xg.cipherSuite === suite, `ExternalGroup epoch ${xg.epoch} vs ${group.epoch}`);
  const out = { epoch: group.epoch, sent: [] };

  // ts-mls → openmls: uploaded by the light build (one request, then resumable 8 MiB parts).
  for (const size of [150_000 + suite, 9 * (1 << 20) + 5]) {
    const pt = random(size);
    const ref = await theirs.sendAttachment(xg, new Blob([pt]), { chunkSize: 65536 });
    assert(ref.senderLeafIndex === tsLeaf && ref.epoch === group.epoch, "the light build's reference: sender and epoch");
    const app = await ts.createApplicationMessage(tsState, te.encode(ref.contentType()), impl);
    tsState = app.newState;
    const e = await group.processMessage(ts.encodeMlsMessage({ privateMessage: app.privateMessage, wireformat: "mls_private_message", version: "mls10" }));
    const received = group.receiveAttachment(td.decode(e.data), e.senderLeafIndex, e.epoch);
    assertBytes(received.hash, ref.hash, "the reference the openmls member derived has the sent hash");
    const got = await blobBytes(await ours.downloadToBlob(group, received));
    assertBytes(await sha256(got), await sha256(pt), `openmls member downloads ts-mls's ${size}-byte upload`);
    out.sent.push(`ts->openmls ${size}`);
  }

  // openmls → ts-mls: the light build receives, downloads and reads a Range.
  const pt = random(300_000 + suite);
  const sent = await ours.sendAttachment(group, new Blob([pt]), { chunkSize: 65536 });
  const r = await tsReceiveApplication(tsState, await group.encryptMessage(sent.contentType()), impl);
  tsState = r.state;
  const rx = await xg.receiveAttachment(td.decode(r.data), r.sender, r.epoch);
  assertBytes(await blobBytes(await theirs.downloadToBlob(xg, rx)), pt, "ts-mls member downloads openmls's upload (light build)");
  assertBytes(await theirs.downloadRange(xg, rx, 70_000, 140_001), pt.subarray(70_000, 140_001), "Range through the light build");
  out.sent.push(`openmls->ts ${pt.length}`);

  // What goes wrong, with the package's codes.
  const codes = {};
  codes.wrongEpoch = await codeOf(() => xg.receiveAttachment(td.decode(r.data), r.sender, r.epoch + 1));
  codes.badSignature = await codeOf(() => theirs.downloadToBlob(external(tsState, { sign: () => new Uint8Array(64).fill(1) }), rx));
  codes.noSign = await codeOf(() => theirs.downloadToBlob(external(tsState, { sign: undefined }), rx));
  codes.signThrows = await codeOf(() => theirs.downloadToBlob(external(tsState, { sign: () => { throw new Error("no key"); } }), rx));
  codes.shortExporter = await codeOf(() => external(tsState, { exportSecret: () => new Uint8Array(16) }).encryptAttachment(new Blob([pt])));
  codes.exporterRejects = await codeOf(() => external(tsState, { exportSecret: () => Promise.reject(new Error("gone")) }).encryptAttachment(new Blob([pt])));
  codes.badInit = await codeOf(async () => new lite.ExternalGroup({ groupId: group.groupId, epoch: 1.5, ownLeafIndex: 0, cipherSuite: suite, exportSecret: () => 0 }));
  // A signature that does not verify as a member is 403 Forbidden at the DS, on every route
  // (ds/src/reqauth.rs: a non-member learns nothing, not even that its signature was wrong).
  const want = { wrongEpoch: "WrongEpoch", badSignature: "Forbidden", noSign: "InvalidArgument", signThrows: "Signing",
    shortExporter: "InvalidLength", exporterRejects: "Mls", badInit: "InvalidArgument" };
  assert(JSON.stringify(codes) === JSON.stringify(want), `codes ${JSON.stringify(codes)} != ${JSON.stringify(want)}`);

  // The openmls member commits through the DS; the ts-mls member follows into the new epoch,
  // and its ExternalGroup of that epoch uploads again.
  const upd = await ours.selfUpdate(group);
  tsState = await tsProcessHandshake(tsState, upd.commit, impl);
  xg = external(tsState);
  assert(xg.epoch === group.epoch, "both in the new epoch");
  const pt2 = random(80_000);
  const ref2 = await theirs.sendAttachment(xg, new Blob([pt2]));
  const app2 = await ts.createApplicationMessage(tsState, te.encode(ref2.contentType()), impl);
  tsState = app2.newState;
  const e2 = await group.processMessage(ts.encodeMlsMessage({ privateMessage: app2.privateMessage, wireformat: "mls_private_message", version: "mls10" }));
  const received2 = group.receiveAttachment(td.decode(e2.data), e2.senderLeafIndex, e2.epoch);
  assertBytes(await blobBytes(await ours.downloadToBlob(group, received2)), pt2, "after the commit");
  // The light build deletes its attachment; the openmls member then gets NotFound.
  await theirs.deleteAttachment(xg, ref2);
  const gone = await codeOf(() => ours.downloadToBlob(group, received2));
  assert(gone === "NotFound", "deleted by the light build: " + gone);
  out.epoch2 = group.epoch;
  return out;
}

/** The ts-mls 1.6.4 defect of docs/INTEROP.md: `createGroupInfoWithExternalPub(AndRatchetTree)`
 *  writes the external_pub extension's data as the bare HPKE public key, not RFC 9420's
 *  `struct { HPKEPublicKey external_pub<V>; }` (a varint length first). Returns the extension's
 *  length and the key's, so the test fails (and the doc must change) once ts-mls fixes it. */
export async function externalPubDefect(suite) {
  const impl = await ts.getCiphersuiteImpl(ts.getCiphersuiteFromName(NAMES[suite]));
  const kp = await ts.generateKeyPackage({ credentialType: "basic", identity: te.encode("x") }, ts.defaultCapabilities(), ts.defaultLifetime, [], impl);
  const state = await ts.createGroup(te.encode("x/defect"), kp.publicPackage, kp.privatePackage, [], impl);
  const gi = await ts.createGroupInfoWithExternalPubAndRatchetTree(state, [], impl);
  const ext = gi.extensions.find((e) => e.extensionType === "external_pub");
  const key = await impl.hpke.exportPublicKey((await impl.hpke.deriveKeyPair(state.keySchedule.externalSecret)).publicKey);
  return { extensionDataLength: ext.extensionData.length, keyLength: key.length, bareKey: hex(ext.extensionData) === hex(key) };
}
