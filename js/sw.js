// mimi-attachments streaming Service Worker: serves decrypted attachments to the browser as they
// are decrypted, for downloads written straight to disk (`Content-Disposition: attachment`) and
// for <video>/<audio> that start and seek at once (HTTP Range). The decryption stays in the page
// (in mimi-attachments' wasm, with the group's keys): this worker never sees a key. For each
// request under `…/__mimi-attachments/<id>/<name>` it asks the open pages (clients.matchAll) which
// one serves <id> and pulls plaintext from it over a MessageChannel, one piece per pull, so only a
// few pieces are in flight whatever the file's size. Stateless: it survives being restarted.
//
// Use it as the app's Service Worker (copy it to the app's root, `navigator.serviceWorker
// .register("/mimi-attachments-sw.js")`), or from the app's own worker:
// `importScripts("/mimi-attachments-sw.js")` — it answers only its own URLs.
/* eslint-env serviceworker */
"use strict";

const MIMI_PREFIX = "/__mimi-attachments/";
const MIMI_ANSWER_MS = 10000; // how long a page may take to claim a request

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));
self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  const at = url.pathname.indexOf(MIMI_PREFIX);
  if (url.origin !== self.location.origin || at < 0 || event.request.method !== "GET") return;
  const rest = url.pathname.slice(at + MIMI_PREFIX.length);
  const id = decodeURIComponent(rest.split("/")[0] || "");
  // The worker stays alive until the body has been streamed (or failed, or was cancelled):
  // browsers end a worker some time after its last event (Firefox: 30 s), which would cut the
  // response short. The serving page also sends "keepalive" messages while a body streams.
  let finish;
  const finished = new Promise((r) => { finish = r; });
  event.respondWith(mimiServe(id, event.request, url.searchParams.has("download"), finish).catch((e) => { finish(); throw e; }));
  event.waitUntil(finished);
});
self.addEventListener("message", (event) => {
  if (event.data && event.data.mimiAttachments === "keepalive") event.waitUntil(Promise.resolve());
});

/** Parses one `bytes=` range against `size`: [start, end) or null (whole), "bad" for 416. */
function mimiRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec((header || "").trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  let start, end;
  if (m[1] === "") { const n = Number(m[2]); if (!n) return "bad"; start = Math.max(0, size - n); end = size; }
  else { start = Number(m[1]); end = m[2] === "" ? size : Math.min(size, Number(m[2]) + 1); }
  if (start >= size || end <= start) return "bad";
  return [start, end];
}

/** Asks every window client for `id`; resolves with the port of the one that serves it. */
async function mimiClaim(id) {
  const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  return new Promise((resolve) => {
    let left = pages.length;
    const timer = setTimeout(() => resolve(null), MIMI_ANSWER_MS);
    if (!left) { clearTimeout(timer); resolve(null); return; }
    for (const page of pages) {
      const ch = new MessageChannel();
      ch.port1.onmessage = (e) => {
        if (e.data && e.data.type === "meta") { clearTimeout(timer); resolve({ port: ch.port1, meta: e.data }); }
        else if (--left === 0) { clearTimeout(timer); resolve(null); }
      };
      page.postMessage({ mimiAttachments: "claim", id }, [ch.port2]);
    }
  });
}

async function mimiServe(id, request, download, finish) {
  const claimed = await mimiClaim(id);
  if (!claimed) { finish(); return new Response("no open page serves this attachment", { status: 404 }); }
  const { port, meta } = claimed;
  const size = meta.size;
  const range = mimiRange(request.headers.get("range"), size);
  if (range === "bad") {
    port.postMessage({ type: "cancel" });
    finish();
    return new Response(null, { status: 416, headers: { "content-range": `bytes */${size}` } });
  }
  const [start, end] = range || [0, size];
  const headers = new Headers({
    "content-type": meta.mime || "application/octet-stream",
    "content-length": String(end - start),
    "accept-ranges": "bytes",
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
  });
  if (range) headers.set("content-range", `bytes ${start}-${end - 1}/${size}`);
  if (download) headers.set("content-disposition", `attachment; filename*=UTF-8''${encodeURIComponent(meta.name || "attachment")}`);
  // Replies in order; an error may come before any pull (e.g. the page's open() failed).
  const inbox = [];
  let waiting = null;
  port.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else inbox.push(e.data); };
  const next = () => {
    if (inbox.length) return Promise.resolve(inbox.shift());
    port.postMessage({ type: "pull" });
    return new Promise((resolve) => { waiting = resolve; });
  };
  port.postMessage({ type: "open", start, end });
  const body = new ReadableStream({
    async pull(controller) {
      const m = await next();
      if (m.type === "data") controller.enqueue(new Uint8Array(m.chunk));
      else if (m.type === "end") { controller.close(); port.close(); finish(); }
      else { controller.error(new Error(m.message || "the page could not serve the attachment")); port.close(); finish(); }
    },
    cancel() { port.postMessage({ type: "cancel" }); port.close(); finish(); },
  }, { highWaterMark: 1 });
  return new Response(body, { status: range ? 206 : 200, headers });
}
