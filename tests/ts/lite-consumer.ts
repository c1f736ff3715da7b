// An app with its own MLS stack, consuming the light build (`mimi-attachments/lite`), type-checked
// with `tsc --strict` against its generated declarations (pkg/lite/mimi_attachments_lite.d.ts).
// It is compiled, not run (tests/interop runs the same calls against ts-mls in Chromium).
import init, {
  ExternalGroup, DsClient, AttachmentRef, OutgoingAttachment, attachmentExporterInput,
  type AttachmentExporterInput, type ExternalGroupInit, type MimiAttachmentsError, type MimiErrorCode,
} from "../../pkg/lite/mimi_attachments_lite.js";

/** What the app's MLS stack offers (the shape of ts-mls's state and its crypto, simplified). */
interface OwnStack {
  groupId: Uint8Array;
  epoch: bigint;
  leafIndex: number;
  exporter(label: string, context: Uint8Array, length: number): Promise<Uint8Array>;
  signWithLeafKey(content: Uint8Array): Promise<Uint8Array>;
  sendApplicationMessage(text: string): Promise<void>;
}

export async function sendFile(stack: OwnStack, file: File, signal: AbortSignal): Promise<string> {
  await init();
  const init_: ExternalGroupInit = {
    groupId: stack.groupId, epoch: stack.epoch, ownLeafIndex: stack.leafIndex, cipherSuite: 1,
    exportSecret: (label, context, length) => stack.exporter(label, context, length),
    sign: (content) => stack.signWithLeafKey(content),
  };
  const group = new ExternalGroup(init_);
  const ds = new DsClient("https://ds.example", { authToken: "token-from-your-login" });
  try {
    const ref: AttachmentRef = await ds.sendAttachment(group, file, { signal, chunkSize: 256 * 1024 });
    await stack.sendApplicationMessage(ref.contentType());
    return ref.contentType();
  } catch (e) {
    if (e instanceof Error && e.name === "MimiAttachmentsError") {
      const code: MimiErrorCode = (e as MimiAttachmentsError).code;
      if (code === "WrongEpoch") throw new Error("the group moved on: make a new ExternalGroup and send again");
    }
    throw e;
  }
}

export async function receiveFile(group: ExternalGroup, contentType: string, sender: number, epoch: number): Promise<Blob> {
  const ref: AttachmentRef = await group.receiveAttachment(contentType, sender, epoch);
  const ds = new DsClient("https://ds.example");
  const head: Uint8Array = await ds.downloadRange(group, ref, 0, 1024);
  console.log(head.length);
  return ds.downloadToBlob(group, ref, { type: "video/mp4" });
}

export function exporterInputOnly(hash: Uint8Array): AttachmentExporterInput {
  return attachmentExporterInput(1, hash, 0);
}

export async function encryptOnly(group: ExternalGroup, file: Blob): Promise<Blob> {
  const out: OutgoingAttachment = await group.encryptAttachment(file, { oneShot: false });
  return out.ciphertextToBlob();
}

export async function registerOwnGroup(ds: DsClient, groupInfo: Uint8Array, commit: Uint8Array, welcome?: Uint8Array): Promise<void> {
  await ds.registerGroup(groupInfo);
  await ds.postHandshake(new Uint8Array(16), welcome ? { commit, groupInfo, welcome } : { commit, groupInfo });
}
