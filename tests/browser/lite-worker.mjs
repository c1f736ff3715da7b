// The light build inside a dedicated (module) Worker: an app's MLS stack that lives in a Worker
// hands the package its exporter there. The page sends the exporter's secret material (a fixed
// test value standing in for the stack) and a Blob; the worker encrypts with an ExternalGroup
// and sends back the ciphertext and the content type, which the page decrypts.
import init, * as lite from "/pkg/lite/mimi_attachments_lite.js";

self.onmessage = async ({ data: { groupId, epoch, leaf, seed, file } }) => {
  try {
    await init();
    // A stand-in exporter: HMAC-SHA-256(seed, label || context), truncated to `length`.
    const exportSecret = async (label, context, length) => {
      const key = await crypto.subtle.importKey("raw", seed, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const input = new Uint8Array([...new TextEncoder().encode(label), ...context]);
      return new Uint8Array(await crypto.subtle.sign("HMAC", key, input)).slice(0, length);
    };
    const g = new lite.ExternalGroup({ groupId, epoch, ownLeafIndex: leaf, cipherSuite: 1, exportSecret });
    const out = await g.encryptAttachment(file, { chunkSize: 65536 });
    const ciphertext = await out.ciphertextToBlob();
    const contentType = out.complete(new Uint8Array(16).fill(9)).contentType();
    self.postMessage({ ok: true, ciphertext, contentType, global: self.constructor.name });
  } catch (e) {
    self.postMessage({ ok: false, error: `${e.name}: ${e.message} (${e.code})` });
  }
};
