// Encrypts a Blob in a Worker while the main thread measures its frame rate.
import init, { MlsClient } from "/pkg/mimi_attachments.js";
self.onmessage = async ({ data: blob }) => {
  try {
    await init();
    const c = await MlsClient.create("w", { storeName: null });
    const g = await c.createGroup();
    const t0 = performance.now();
    const out = await g.encryptAttachment(blob);
    const r = out.ciphertext().getReader();
    let n = 0;
    for (;;) { const { done, value } = await r.read(); if (done) break; n += value.length; }
    self.postMessage({ ok: true, bytes: n, ms: performance.now() - t0 });
  } catch (e) { self.postMessage({ ok: false, error: `${e.code ?? e.name}: ${e.message}` }); }
};
