// A small web-chat-app consumer of the package, type-checked with `tsc --strict` against the
// generated declarations (pkg/mimi_attachments.d.ts). It is compiled, not run.
import init, {
  MlsClient, MlsGroup, AttachmentRef, OutgoingAttachment, ExternalBodyRef, DsClient,
  type GroupEvent, type GroupUpdate, type MimiAttachmentsError, type MimiErrorCode, type Progress,
} from "../../pkg/mimi_attachments.js";

async function upload(ciphertext: ReadableStream<Uint8Array>, size: number): Promise<Uint8Array> {
  const r = await fetch("https://ds.example/upload", { method: "POST", body: await new Response(ciphertext).blob(), headers: { "content-length": String(size) } });
  return new Uint8Array(await r.arrayBuffer());
}

function isMimiError(e: unknown): e is MimiAttachmentsError {
  return e instanceof Error && e.name === "MimiAttachmentsError";
}

export async function chat(file: File, signal: AbortSignal): Promise<string> {
  await init();
  const alice: MlsClient = await MlsClient.create("alice", { cipherSuite: 1 });
  const bob = await MlsClient.create("bob", { storeName: null });
  const group: MlsGroup = await alice.createGroup();
  const update: GroupUpdate = await group.addMembers([await bob.keyPackage()]);
  if (!update.welcome) throw new Error("no welcome");
  const bobs: MlsGroup = await bob.joinGroup(update.welcome);

  const onProgress = (p: Progress): void => console.log(p.phase, p.loaded, p.total ?? "?");
  const out: OutgoingAttachment = await group.encryptAttachment(file, { onProgress, signal, chunkSize: 256 * 1024 });
  const token: Uint8Array = await upload(out.ciphertext({ signal }), out.ciphertextSize);
  const ref: AttachmentRef = out.complete(token);
  const contentType: string = ref.contentType();
  const message: Uint8Array = await group.encryptMessage(contentType);

  const ev: GroupEvent = await bobs.processMessage(message);
  switch (ev.type) {
    case "application": {
      const received = bobs.receiveAttachment(new TextDecoder().decode(ev.data), ev.senderLeafIndex, ev.epoch);
      const stored: Uint8Array = received.toBytes();
      const plain: ReadableStream<Uint8Array> = AttachmentRef.fromBytes(stored).decrypt(await fetch("https://ds.example/x").then((r) => r.blob()), { signal });
      const blob: Blob = await received.decryptToBlob(plain, { type: "image/png" });
      return `${blob.size} ${received.size ?? "?"} ${received.chunkSize ?? "one-shot"}`;
    }
    case "commit":
      return `${ev.epoch} ${ev.added.join()} ${ev.removed.length} ${ev.selfRemoved}`;
    case "proposal":
    case "own":
      return String(ev.epoch);
  }
}

export function codes(e: unknown): MimiErrorCode | undefined {
  if (isMimiError(e)) {
    const c: MimiErrorCode = e.code;
    if (c === "DecryptFailed") return e.chunk !== undefined ? c : undefined;
    if (c === "BadContentType") return e.kind !== undefined ? c : undefined;
    return c;
  }
  return undefined;
}

export function parse(ct: string): number | undefined {
  const r = ExternalBodyRef.parse(ct, 1);
  const n: number | undefined = r.chunkSize;
  return n;
}

// Options are optional where they are at runtime; DS failures carry their own codes and details.
export async function defaults(file: Blob, ds: DsClient, g: MlsGroup, r: AttachmentRef): Promise<string> {
  const c: MlsClient = await MlsClient.create("carol");
  const out: OutgoingAttachment = await g.encryptAttachment(file);
  const s: ReadableStream<Uint8Array> = out.ciphertext();
  const ctBlob: Blob = await out.ciphertextToBlob();
  const ctTail: Blob = await out.ciphertextToBlob({ offset: 10, type: "application/octet-stream", signal: new AbortController().signal });
  const plain: ReadableStream<Uint8Array> = r.decrypt(file);
  const blob: Blob = await r.decryptToBlob(file);
  const got: ReadableStream<Uint8Array> = await ds.download(g, r);
  const part: Uint8Array = await ds.downloadRange(g, r, 0, 10);
  const all: Blob = await ds.downloadToBlob(g, r);
  const sent: AttachmentRef = await ds.sendAttachment(g, file);
  const { next } = await ds.fetchMessages(g);
  await g.removeMembers([1, 2]);
  try {
    await ds.quota(g);
  } catch (e) {
    if (isMimiError(e)) {
      const dsCodes: MimiErrorCode[] = ["Forbidden", "NotFound", "QuotaExceeded", "InsufficientStorage", "TooLarge",
        "Unauthorized", "Conflict", "WrongEpoch", "StaleEpoch", "Replay", "Network", "DsError", "Rng", "Signing"];
      const status: number | undefined = e.status;
      const dsCode: string | undefined = e.dsCode;
      return `${dsCodes.includes(e.code)} ${status} ${dsCode}`;
    }
  }
  return `${c.identity} ${s.locked} ${ctBlob.size} ${ctTail.type} ${plain.locked} ${blob.size} ${got.locked} ${part.length} ${all.size} ${sent.size} ${next}`;
}

// The streaming Service Worker's page side: a received video plays and seeks through the worker,
// and a file is saved to disk as it decrypts.
import { AttachmentServer, type ServedAttachment } from "../../pkg/serve.js";

export async function playAndSave(ds: DsClient, group: MlsGroup, ref: AttachmentRef, video: HTMLVideoElement): Promise<number> {
  const server = await AttachmentServer.register("/mimi-attachments-sw.js", { scope: "/" });
  const served: ServedAttachment = server.serveAttachment(ds, group, ref, { name: "talk.webm", type: "video/webm" });
  video.src = served.url;
  server.download(served.url);
  served.revoke();
  return served.stats.bytes;
}
