// The page side of mimi-attachments' streaming Service Worker (sw.js): registers attachments the
// worker may serve and answers its pulls with plaintext, piece by piece. See sw.js.
//
//   import { AttachmentServer } from "mimi-attachments/serve";
//   const server = await AttachmentServer.register("/mimi-attachments-sw.js");
//   const { url } = server.serveAttachment(ds, group, ref, { name: "talk.mp4", type: "video/mp4" });
//   video.src = url;                 // plays and seeks as chunks arrive (Range → verified chunks)
//   server.download(url);            // saved to disk by the browser as it decrypts

const PREFIX = "__mimi-attachments/";
const PIECE = 1 << 20; // bytes per Range read for seeks (whole chunks are fetched around it)
// While a response streams, the page pings the worker this often: Firefox ends a worker 30 s
// after its last event, and the worker's pulls travel over a MessageChannel, which is no event;
// without the ping a download longer than that was cut short. A stream that has not been pulled
// for KEEPALIVE_IDLE_MS (the browser let go of it) stops counting.
const KEEPALIVE_MS = 10_000;
const KEEPALIVE_IDLE_MS = 120_000;

export class AttachmentServer {
  /** How often (ms) the page pings the worker while a response streams (default 10 s). */
  static keepaliveMs = KEEPALIVE_MS;
  #entries = new Map();
  #scope;
  #streaming = new Map(); // one key per response being streamed -> time of its last pull
  #keepalive = null;

  /** Registers (or reuses) the worker at `swUrl` and waits until it controls this page. */
  static async register(swUrl, options = {}) {
    if (!("serviceWorker" in navigator)) throw Object.assign(new Error("Service Workers are not available here"), { name: "MimiAttachmentsError", code: "Unsupported" });
    const reg = await navigator.serviceWorker.register(swUrl, options);
    await navigator.serviceWorker.ready;
    if (!navigator.serviceWorker.controller) {
      await new Promise((r) => navigator.serviceWorker.addEventListener("controllerchange", r, { once: true }));
    }
    return new AttachmentServer(reg.scope);
  }

  constructor(scope) {
    this.#scope = scope;
    navigator.serviceWorker.addEventListener("message", (e) => this.#onClaim(e));
  }

  /**
   * Serves `size` bytes named `name` (MIME `type`) at a new URL under the worker's scope.
   * `open(start, end)` returns a ReadableStream<Uint8Array> (or a Promise of one) of bytes
   * [start, end). `stats` counts what was served. `revoke()` stops serving it.
   */
  serve({ name, type, size, open }) {
    const id = crypto.randomUUID();
    const stats = { requests: 0, bytes: 0, ranges: [] };
    this.#entries.set(id, { name, type, size, open, stats });
    const url = `${this.#scope}${PREFIX}${id}/${encodeURIComponent(name || "attachment")}`;
    return { url, stats, revoke: () => this.#entries.delete(id) };
  }

  /**
   * Serves a received attachment through `ds` (a DsClient) as a member of `group`: the whole file
   * through `ds.download` (every chunk and the whole-file hash verified; the last piece only
   * after the hash matches), a Range through `ds.downloadRange` (every chunk verified).
   */
  serveAttachment(ds, group, ref, { name, type } = {}) {
    const size = ref.size;
    if (typeof size !== "number") throw Object.assign(new Error("serving needs an attachment with a known size"), { name: "MimiAttachmentsError", code: "InvalidArgument" });
    const open = (start, end) => {
      if (start === 0 && end === size) return ds.download(group, ref);
      let at = start;
      return new ReadableStream({
        async pull(c) {
          if (at >= end) { c.close(); return; }
          const to = Math.min(end, at + PIECE);
          c.enqueue(await ds.downloadRange(group, ref, at, to));
          at = to;
        },
      }, { highWaterMark: 0 });
    };
    return this.serve({ name, type, size, open });
  }

  /**
   * Starts a browser download of a served URL (written to disk by the browser as it arrives),
   * through a hidden iframe: Chromium sends `<a download>` requests past the Service Worker.
   */
  download(url) {
    const f = document.createElement("iframe");
    f.hidden = true;
    f.src = url + "?download";
    document.body.appendChild(f);
    setTimeout(() => f.remove(), 60_000); // the download lives on without its frame
  }

  #touch(key) {
    this.#streaming.set(key, Date.now());
    if (this.#keepalive) return;
    this.#keepalive = setInterval(() => {
      const now = Date.now();
      for (const [k, t] of this.#streaming) if (now - t > KEEPALIVE_IDLE_MS) this.#streaming.delete(k);
      if (!this.#streaming.size) { clearInterval(this.#keepalive); this.#keepalive = null; return; }
      navigator.serviceWorker.controller?.postMessage({ mimiAttachments: "keepalive" });
    }, AttachmentServer.keepaliveMs);
  }

  #done(key) {
    this.#streaming.delete(key);
  }

  async #onClaim(e) {
    const m = e.data;
    if (!m || m.mimiAttachments !== "claim" || !e.ports[0]) return;
    const port = e.ports[0];
    const entry = this.#entries.get(m.id);
    if (!entry) { port.postMessage({ type: "unknown" }); port.close(); return; }
    port.postMessage({ type: "meta", name: entry.name, mime: entry.type, size: entry.size });
    let reader = null; // a Promise of the reader, from "open" (the worker sends it before any "pull")
    const key = {};
    port.onmessage = async (ev) => {
      const q = ev.data;
      try {
        if (q.type !== "cancel") this.#touch(key);
        if (q.type === "open") {
          entry.stats.requests++;
          entry.stats.ranges.push([q.start, q.end]);
          reader = Promise.resolve(entry.open(q.start, q.end)).then((s) => s.getReader());
          await reader; // an error here (e.g. Forbidden) reaches the worker at once
        } else if (q.type === "pull") {
          if (!reader) throw new Error("pull before open");
          const { done, value } = await (await reader).read();
          if (done) { this.#done(key); port.postMessage({ type: "end" }); port.close(); return; }
          entry.stats.bytes += value.byteLength;
          const copy = value.byteOffset === 0 && value.byteLength === value.buffer.byteLength ? value.buffer : value.slice().buffer;
          port.postMessage({ type: "data", chunk: copy }, [copy]);
        } else if (q.type === "cancel") {
          this.#done(key);
          await (await reader)?.cancel();
          port.close();
        }
      } catch (err) {
        this.#done(key);
        port.postMessage({ type: "error", message: String(err?.message ?? err), code: err?.code });
        port.close();
      }
    };
  }
}
