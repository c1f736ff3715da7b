// The package inside a dedicated (module) Worker: the whole API must work off the main thread.
import init, * as mimi from "/pkg/mimi_attachments.js";
import { smallFlow } from "./common.mjs";

self.onmessage = async () => {
  try {
    await init();
    const r = await smallFlow(mimi);
    // IndexedDB persistence works in workers too.
    const c = await mimi.MlsClient.create("worker-carol", { storeName: "worker-test" });
    const back = await mimi.MlsClient.load("worker-test");
    await mimi.MlsClient.deleteStored("worker-test");
    self.postMessage({ ok: true, ...r, persisted: back !== undefined && back.identity === c.identity, global: self.constructor.name });
  } catch (e) {
    self.postMessage({ ok: false, error: `${e.name}: ${e.message} (${e.code})` });
  }
};
