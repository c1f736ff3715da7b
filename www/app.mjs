// The demo chat: Alice and Bob in one page (or one member per tab with ?member=NAME), talking
// through the Delivery Service that serves this page. Attachments are encrypted in the browser,
// uploaded, referenced in an MLS application message, and downloaded and decrypted on demand.
//
// Everything survives a reload: each member's MLS client (and its groups) is kept by the package
// in IndexedDB (MlsClient.open), and this page keeps each member's conversation — the message log
// with the attachment references (secret material, stored like the messages) and the position in
// the Delivery Service's message queue — in its own IndexedDB database "mimi-demo".
import init, { MlsClient, DsClient, AttachmentRef } from "/pkg/mimi_attachments.js";
import { AttachmentServer } from "/pkg/serve.js";

const wasm = await init();
const MiB = 1 << 20;
// Media types rendered inline from decrypted blobs. Never HTML, SVG, XML or anything scriptable.
const PREVIEW = new Map([
  ["image/png", "img"], ["image/jpeg", "img"], ["image/gif", "img"], ["image/webp", "img"], ["image/avif", "img"],
  ["video/mp4", "video"], ["video/webm", "video"], ["audio/mpeg", "audio"], ["audio/ogg", "audio"], ["audio/wav", "audio"], ["audio/webm", "audio"],
]);
const AUTO_PREVIEW_MAX = 16 * MiB;
// Video and audio play through the package's streaming Service Worker (www/mimi-sw.js): they
// start and seek at once, fetching and verifying only the chunks they need. Without a worker
// (e.g. a private window that refuses it) they are downloaded whole first, as before.
const streaming = AttachmentServer.register("/mimi-sw.js", { scope: "/" }).catch((e) => {
  console.warn("no streaming Service Worker; media download whole before playing:", e);
  return null;
});
const status = (t) => { document.getElementById("status").textContent = t; };
const fmt = (n) => n >= 1024 * MiB ? `${+(n / 1024 / MiB).toFixed(1)} GiB` : n >= MiB ? `${+(n / MiB).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} B`;
const el = (tag, props = {}, ...kids) => { const e = Object.assign(document.createElement(tag), props); e.append(...kids); return e; };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const title = (name) => name[0].toUpperCase() + name.slice(1);

/** An error in plain words, for the person using the page (the code stays in the tooltip). */
function plain(err, what = "") {
  switch (err?.code) {
    case "Forbidden": return "You are not a member of this group any more.";
    case "NotFound": return what === "add" ? "Nobody by that name is waiting to join. Open their tab first (\"Open a third member\"), then add them."
      : what === "download" ? "The file is no longer on the server (it expired or was deleted)." : "The server does not know this item.";
    case "QuotaExceeded": return "The group's storage on the server is full, or the file is larger than the server accepts.";
    case "Network": return "The server cannot be reached. Is the demo still running?";
    case "Aborted": return "Cancelled.";
    case "WrongEpoch": return "The group changed while the file was uploading. Please send it again.";
    case "DecryptFailed": case "HashMismatch": case "Truncated": return "The file did not decrypt: it was altered, or it is not for this group.";
    case "NotMember": return "That person is not in the group.";
    case "Conflict": return "Someone else changed the group at the same moment. Please try again.";
    case "Unauthorized": return "The server did not accept this member's signature.";
    default: return err?.message ? String(err.message).replace(/^[A-Za-z ]+: /, "") : String(err);
  }
}

// ---- the page's own storage: message logs and queue positions -------------------------------
const db = await new Promise((resolve, reject) => {
  const r = indexedDB.open("mimi-demo", 1);
  r.onupgradeneeded = () => {
    const log = r.result.createObjectStore("log", { keyPath: "id", autoIncrement: true });
    log.createIndex("member", "member");
    r.result.createObjectStore("kv");
  };
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
});
const tx = (store, mode, f) => new Promise((resolve, reject) => {
  const t = db.transaction(store, mode);
  const req = f(t.objectStore(store));
  t.oncomplete = () => resolve(req?.result);
  t.onerror = () => reject(t.error);
});
const store = {
  add: (entry) => tx("log", "readwrite", (s) => s.add(entry)),
  put: (entry) => tx("log", "readwrite", (s) => s.put(entry)),
  log: (member) => tx("log", "readonly", (s) => s.index("member").getAll(member)),
  get: (k) => tx("kv", "readonly", (s) => s.get(k)),
  set: (k, v) => tx("kv", "readwrite", (s) => s.put(v, k)),
  clear: () => Promise.all([tx("log", "readwrite", (s) => s.clear()), tx("kv", "readwrite", (s) => s.clear())]),
};

class Pane {
  constructor(name, { creator = false } = {}) {
    this.name = name;
    this.creator = creator;
    this.names = new Map(); // leaf index -> identity, as last seen (names of members who left)
    this.refs = new Map(); // log entry id -> AttachmentRef
    const node = document.getElementById("pane-template").content.firstElementChild.cloneNode(true);
    node.setAttribute("aria-label", `${title(name)}'s chat`);
    node.dataset.member = name;
    node.querySelector(".who").textContent = title(name);
    const input = node.querySelector(".text");
    input.id = `text-${name}`;
    node.querySelector("label[for='']").htmlFor = input.id;
    this.node = node;
    this.list = node.querySelector(".messages");
    document.getElementById("panes").append(node);
    this.q = (sel) => node.querySelector(sel);
    // Follow new messages while the reader is at the end of the list (not after scrolling up).
    this.atEnd = true;
    this.list.addEventListener("scroll", () => { this.atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 120; });
  }

  toEnd(force = false) { if (force || this.atEnd) { this.list.scrollTop = this.list.scrollHeight; this.atEnd = true; } }

  async start() {
    this.setState("Starting…");
    this.client = await MlsClient.open(this.name); // the stored client after a reload, else a new one
    // The identity step: the DS runs with --dev-identity (scripts/demo.sh), so the client signs in
    // by name through its development login (a real app passes { authToken } from its own login).
    this.setState("Signing in to the Delivery Service (development login)…");
    this.ds = new DsClient("", this.client, { devLogin: true });
    this.wire();
    const ids = this.client.groupIds();
    if (ids.length) this.group = this.client.loadGroup(ids[ids.length - 1]);
    const removed = (this.group && !this.group.isActive) || (await store.get(`${this.name}:removed`));
    if (removed) this.locked = true; // before rendering: no automatic previews for a removed member
    for (const entry of await store.log(this.name)) this.render(entry);
    if (removed) { this.locked = false; return this.lock(false); }
    if (this.group) this.published = Promise.resolve();
    if (!this.group) {
      if (this.creator) {
        this.group = await this.ds.createGroup();
        await this.note("You created the group.");
      } else {
        this.setState("Waiting to be added…");
        this.published = this.ds.publishKeyPackage();
        await this.published;
        while (!(this.group = await this.ds.joinFromWelcome())) await sleep(500);
        await this.note(`You joined the group (${this.rosterNames().map(title).join(", ")}).`);
      }
    }
    this.refresh();
    this.poll();
  }

  wire() {
    const n = this.node;
    n.querySelector(".composer").addEventListener("submit", async (e) => {
      e.preventDefault();
      const input = this.q(".text");
      const text = input.value.trim();
      if (!text || !this.canSend()) return;
      input.value = "";
      this.actionError(".composer-error", "");
      try {
        await this.ds.sendMessage(this.group, JSON.stringify({ kind: "text", text }));
        await this.log({ kind: "text", from: this.name, mine: true, text });
      } catch (err) {
        input.value = text;
        this.actionError(".composer-error", `Not sent: ${plain(err)}`, err);
      }
    });
    this.q(".file").addEventListener("change", (e) => { for (const f of e.target.files) this.sendFile(f); e.target.value = ""; });
    this.q(".file-button").addEventListener("keydown", (e) => { if ((e.key === "Enter" || e.key === " ") && this.canSend()) this.q(".file").click(); });
    n.addEventListener("dragover", (e) => { e.preventDefault(); if (this.canSend()) n.classList.add("dragging"); else e.dataTransfer.dropEffect = "none"; });
    n.addEventListener("dragleave", () => n.classList.remove("dragging"));
    n.addEventListener("drop", (e) => { e.preventDefault(); n.classList.remove("dragging"); if (this.canSend()) for (const f of e.dataTransfer.files) this.sendFile(f); });
    this.q(".add-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const form = e.target, button = form.querySelector("button");
      const id = form.identity.value.trim().toLowerCase();
      if (!id || !this.canSend()) return;
      this.actionError(".admin-error", "");
      if (this.rosterNames().includes(id)) return this.actionError(".admin-error", `${title(id)} is already in the group.`);
      button.disabled = true;
      try {
        await this.ds.addMember(this.group, id);
        form.identity.value = "";
        this.refresh();
        await this.note(`You added ${title(id)}.`);
        this.actionOk(`Added ${title(id)}.`);
      } catch (err) {
        this.actionError(".admin-error", `Could not add ${title(id)}: ${plain(err, "add")}`, err);
      } finally { button.disabled = false; }
    });
  }

  canSend() { return !!this.group && !this.locked; }
  rosterNames() { return this.group?.isActive ? this.group.members().map((m) => m.identity) : []; }
  nameOf(leaf) { return this.names.get(leaf) ?? "someone who left"; }

  setState(text) { this.q(".epoch").textContent = text; }

  /** An error shown right at the action that failed (`where` is a slot next to it). */
  actionError(where, text, err) {
    if (text) this.q(".admin-ok").hidden = true;
    const slot = this.q(where);
    slot.textContent = text;
    slot.title = err?.code ? `${err.code}: ${err.message}` : "";
    slot.hidden = !text;
    if (text) slot.scrollIntoView({ block: "nearest" });
  }

  actionOk(text) {
    const slot = this.q(".admin-ok");
    slot.textContent = text;
    slot.hidden = false;
    clearTimeout(this.okTimer);
    this.okTimer = setTimeout(() => { slot.hidden = true; }, 6000);
  }

  refresh() {
    if (!this.group || this.locked) return;
    const g = this.group;
    const members = g.members();
    for (const m of members) this.names.set(m.leafIndex, m.identity);
    this.setState(`${members.length} members · epoch ${g.epoch}`);
    this.q(".roster").replaceChildren(...members.flatMap((m, i) => [i ? ", " : "", el("span", { className: "person" + (m.leafIndex === g.ownLeafIndex ? " me" : "") },
      `${title(m.identity)}${m.leafIndex === g.ownLeafIndex ? " (you)" : ""}`)]));
    this.q(".admin").hidden = false;
    this.q(".members").replaceChildren(...members.filter((m) => m.leafIndex !== g.ownLeafIndex).map((m) =>
      el("button", { type: "button", className: "remove", textContent: `Remove ${title(m.identity)}`, onclick: (e) => this.remove(m, e.target) })));
    this.ds.quota(g).then((q) => {
      this.q(".quota").textContent =
        `Group storage on the server: ${fmt(q.used_bytes)} of ${fmt(q.max_group_bytes)}, ${q.attachments} of ${q.max_group_attachments} files; files up to ${fmt(q.max_file_bytes)}, kept ${Math.round(q.expiry_secs / 86400)} days`;
    }).catch(() => {});
  }

  async remove(m, button) {
    button.disabled = true;
    this.actionError(".admin-error", "");
    try {
      await this.ds.removeMember(this.group, m.leafIndex);
      this.refresh();
      await this.note(`You removed ${title(m.identity)}.`);
      this.actionOk(`Removed ${title(m.identity)}.`);
    } catch (err) {
      button.disabled = false;
      this.actionError(".admin-error", `Could not remove ${title(m.identity)}: ${plain(err)}`, err);
    }
  }

  /** Locks the pane: this member was removed. Everything that sends is disabled. */
  async lock(fresh = true) {
    if (this.locked) return;
    this.locked = true;
    if (fresh) {
      await store.set(`${this.name}:removed`, true);
      await this.note("You were removed from the group.", "removed");
    }
    const n = this.node;
    n.classList.add("removed");
    this.setState("Removed from the group");
    this.q(".roster").textContent = "You can no longer send or read new messages.";
    this.q(".admin").hidden = true;
    this.q(".notice").hidden = false;
    this.q(".quota").hidden = true;
    if (Object.keys(window.demo.panes).length === 1) status(`${title(this.name)} was removed from the group.`);
    for (const x of n.querySelectorAll(".composer input, .composer button")) x.disabled = true;
    this.q(".file-button").setAttribute("aria-disabled", "true");
    this.q(".file-button").tabIndex = -1;
    this.q(".text").placeholder = "You were removed from this group";
    n.querySelectorAll(".upload .cancel").forEach((b) => b.click());
  }

  async poll() {
    let next = (await store.get(`${this.name}:next`)) ?? 0;
    while (this.group.isActive && !this.locked) {
      try {
        const r = await this.ds.fetchMessages(this.group, { after: next, waitSecs: 10 });
        next = r.next;
        await store.set(`${this.name}:next`, next);
        for (const ev of r.events) await this.onEvent(ev);
        if (r.events.length) this.refresh();
        this.q(".conn").hidden = true;
      } catch (err) {
        if (err.code === "Forbidden") return this.lock();
        this.q(".conn").hidden = false;
        await sleep(1000);
      }
    }
    if (!this.group.isActive) this.lock();
  }

  async onEvent(ev) {
    if (ev.type === "application") {
      let m;
      try { m = JSON.parse(new TextDecoder().decode(ev.data)); } catch { return this.note("A message that is not in this demo's format.", "error"); }
      const from = this.group.members().find((x) => x.leafIndex === ev.senderLeafIndex)?.identity ?? this.nameOf(ev.senderLeafIndex);
      if (m.kind === "text") await this.log({ kind: "text", from, mine: false, text: String(m.text) });
      if (m.kind === "file") {
        let ref;
        try {
          // Derive now, in the message's epoch: the reference decrypts later, whatever the epoch.
          ref = this.group.receiveAttachment(m.contentType, ev.senderLeafIndex, ev.epoch);
        } catch (err) {
          return this.log({ kind: "system", error: true, text: `${title(from)} sent ${m.name}, but it cannot be opened: ${plain(err)}` });
        }
        await this.log({ kind: "file", from, mine: false, name: String(m.name), mediaType: String(m.mediaType ?? ""), size: Number(m.size) || 0, ref: ref.toBytes() }, ref);
      }
    } else if (ev.type === "commit") {
      if (ev.selfRemoved) return this.lock();
      const by = ev.senderLeafIndex === undefined ? "Someone" : title(this.nameOf(ev.senderLeafIndex));
      const parts = [];
      if (ev.added.length) parts.push(`${by} added ${ev.added.map(title).join(", ")}.`);
      if (ev.removed.length) parts.push(`${by} removed ${ev.removed.map((l) => title(this.nameOf(l))).join(", ")}.`);
      if (parts.length) await this.note(parts.join(" "));
      for (const m of this.group.members()) this.names.set(m.leafIndex, m.identity);
    }
  }

  note(text, tone = "") { return this.log({ kind: "system", text, tone }); }

  /** Appends an entry to the persisted log and shows it. */
  async log(entry, ref) {
    entry.member = this.name;
    entry.at = Date.now();
    entry.id = await store.add(entry);
    if (ref) this.refs.set(entry.id, ref);
    return this.render(entry);
  }

  render(entry) {
    if (entry.kind === "system") {
      const li = el("li", { className: `msg system ${entry.tone ?? ""}${entry.error ? " error" : ""}`, textContent: entry.text });
      this.list.append(li);
      this.toEnd(entry.mine);
      return li;
    }
    const li = el("li", { className: "msg" + (entry.mine ? " mine" : "") }, el("span", { className: "from", textContent: entry.mine ? "You" : title(entry.from) }));
    li.dataset.from = entry.from;
    li.dataset.entry = entry.id;
    if (entry.kind === "text") li.append(el("span", { className: "body", textContent: entry.text }));
    if (entry.kind === "file") this.fileCard(li, entry);
    this.list.append(li);
    this.toEnd(entry.mine);
    return li;
  }

  fileCard(li, entry) {
    li.dataset.file = entry.name;
    li.dataset.ref = entry.id;
    if (!this.refs.has(entry.id)) {
      try { this.refs.set(entry.id, AttachmentRef.fromBytes(entry.ref)); } catch (err) {
        li.append(el("span", { className: "error", textContent: `${entry.name}: ${plain(err)}` }));
        return;
      }
    }
    const kind = PREVIEW.get(entry.mediaType);
    const card = el("div", { className: "file-card" }, el("span", { className: "name", textContent: `${entry.name} (${fmt(entry.size)})` }));
    const button = el("button", { type: "button", className: "open", textContent: kind ? "Show" : "Download" });
    button.onclick = () => this.open(entry, card, button);
    card.append(button);
    li.append(card);
    if (kind && entry.size <= AUTO_PREVIEW_MAX && !this.locked) this.open(entry, card, button);
  }

  /** One progress line: phase, a bar that only moves forward, percent, speed and Cancel. */
  progress(card, label) {
    const ctl = new AbortController();
    const phase = el("span", { className: "phase", textContent: label });
    const bar = el("progress", { max: 1000, value: 0 });
    bar.setAttribute("aria-label", label);
    const pct = el("span", { className: "pct", textContent: "0%" });
    const speed = el("span", { className: "speed" });
    const cancel = el("button", { type: "button", className: "cancel secondary", textContent: "Cancel", onclick: () => ctl.abort() });
    const box = el("div", { className: "upload" }, el("div", { className: "line" }, phase, pct, speed, cancel), bar);
    card.append(box);
    let shown = 0, t0 = performance.now(), lastPaint = 0;
    return {
      signal: ctl.signal, box,
      /** `fraction` of the whole job in 0..1; never shown smaller than before. */
      set(fraction, phaseLabel, bytes) {
        fraction = Math.min(1, Math.max(shown, fraction));
        shown = fraction;
        const now = performance.now();
        if (now - lastPaint < 100 && fraction < 1) return; // a few paints a second is plenty
        lastPaint = now;
        bar.value = Math.round(fraction * 1000);
        pct.textContent = `${Math.floor(fraction * 100)}%`;
        if (phaseLabel && phase.textContent !== phaseLabel) { phase.textContent = phaseLabel; bar.setAttribute("aria-label", phaseLabel); t0 = now; box.dataset.phaseBytes = bytes; }
        const s = (now - t0) / 1000;
        if (s > 0.3) speed.textContent = `${fmt(Math.max(0, bytes - (Number(box.dataset.phaseBytes) || 0)) / s)}/s`;
      },
      done() { box.remove(); },
    };
  }

  async sendFile(file) {
    if (!this.canSend()) return;
    const li = el("li", { className: "msg mine" }, el("span", { className: "from", textContent: "You" }));
    li.dataset.upload = file.name;
    const card = el("div", { className: "file-card" }, el("span", { className: "name", textContent: `${file.name} (${fmt(file.size)})` }));
    li.append(card);
    this.list.append(li);
    const p = this.progress(card, "Hashing");
    this.toEnd(true);
    const size = file.size || 1;
    try {
      // Two passes over the file: the hash (first half of the bar), then encrypt + upload.
      const ref = await this.ds.sendAttachment(this.group, file, {
        signal: p.signal,
        onProgress: (e) => {
          if (e.phase === "hash") p.set(0.5 * e.loaded / size, "Hashing", e.loaded);
          else if (e.phase === "upload") p.set(0.5 + 0.5 * e.loaded / (e.total || size), "Encrypting + uploading", e.loaded);
        },
      });
      p.set(1);
      const meta = { name: file.name, mediaType: file.type, size: file.size };
      await this.ds.sendMessage(this.group, JSON.stringify({ kind: "file", contentType: ref.contentType(), ...meta }));
      p.done();
      li.remove();
      const own = await this.log({ kind: "file", from: this.name, mine: true, ...meta, ref: ref.toBytes() }, ref);
      own.dataset.upload = file.name;
      own.dataset.uploaded = "true";
      this.refresh();
    } catch (err) {
      p.done();
      li.dataset.failed = err.code ?? "Error";
      li.classList.add("failed");
      card.append(el("span", { className: "error", role: "alert", textContent: err.code === "Aborted" ? "Cancelled: nothing was sent, and the server dropped the partial upload." : `Not sent: ${plain(err)}` }));
      this.toEnd(true);
      this.refresh();
    }
  }

  async open(entry, card, button) {
    const ref = this.refs.get(entry.id);
    const kind = PREVIEW.get(entry.mediaType);
    const server = (kind === "video" || kind === "audio") && typeof ref.size === "number" ? await streaming : null;
    if (server) return this.stream(server, entry, ref, card, button, kind);
    button.disabled = true;
    card.querySelector(".error")?.remove();
    const p = this.progress(card, "Downloading + verifying");
    const size = entry.size || 1;
    try {
      // An allow-listed media type, or a generic binary download: never text/html or SVG.
      const type = kind ? entry.mediaType : "application/octet-stream";
      const blob = await this.ds.downloadToBlob(this.group ?? null, ref, { type, signal: p.signal, onProgress: (e) => p.set(e.loaded / size, "Downloading + verifying", e.loaded) });
      p.set(1);
      const url = URL.createObjectURL(blob);
      if (kind) {
        const media = el(kind, { src: url, controls: kind !== "img", alt: kind === "img" ? entry.name : undefined });
        const follow = this.atEnd;
        media.addEventListener(kind === "img" ? "load" : "loadedmetadata", () => this.toEnd(follow), { once: true });
        card.insertBefore(media, button);
        button.textContent = "Save";
        button.onclick = () => el("a", { href: url, download: entry.name.replace(/[\\/]/g, "_") || "attachment" }).click();
      } else {
        el("a", { href: url, download: entry.name.replace(/[\\/]/g, "_") || "attachment" }).click();
      }
      const li = card.closest("li");
      li.dataset.downloaded = "true";
      li.dataset.blobSize = blob.size;
    } catch (err) {
      card.append(el("span", { className: "error", role: "alert", textContent: plain(err, "download"), title: err.code ? `${err.code}: ${err.message}` : "" }));
    } finally {
      p.done();
      button.disabled = false;
    }
  }

  // A media attachment served by the streaming worker: the element plays and seeks as chunks arrive;
  // "Save" writes it to disk through the worker as it decrypts (the whole-file hash verified).
  stream(server, entry, ref, card, button, kind) {
    const served = server.serveAttachment(this.ds, this.group ?? null, ref, { name: entry.name, type: entry.mediaType });
    const media = el(kind, { src: served.url, controls: true, preload: "metadata" });
    const follow = this.atEnd;
    media.addEventListener("loadedmetadata", () => this.toEnd(follow), { once: true });
    media.addEventListener("error", () => card.append(el("span", { className: "error", role: "alert", textContent: "This media could not be played (its chunks did not verify, or the browser cannot decode it)." })), { once: true });
    card.insertBefore(media, button);
    const li = card.closest("li");
    li.dataset.streamed = "true";
    window.demo.served.set(entry.name, served);
    button.textContent = "Save";
    button.onclick = () => server.download(served.url);
  }
}

// Hooks for the end-to-end tests (tests/e2e): observe the page and drive what the UI cannot.
window.demo = { panes: {}, served: new Map(), wasmMemory: () => wasm.memory.buffer.byteLength, AttachmentRef, MlsClient, DsClient };

/** Holds `name` for this tab, so the same member is never open twice (two copies of one MLS
 *  client would corrupt each other's state). Resolves false if another tab has it. */
function claim(name) {
  if (!navigator.locks) return Promise.resolve(true);
  return new Promise((resolve) => {
    navigator.locks.request(`mimi-demo:${name}`, { ifAvailable: true }, (lock) => {
      resolve(!!lock);
      return lock ? new Promise(() => {}) : undefined; // held until the tab closes
    });
  });
}

async function main() {
  const only = new URLSearchParams(location.search).get("member")?.toLowerCase().replace(/[^a-z0-9_-]/g, "");
  const open = document.getElementById("open-carol");
  // One Carol: a second click brings her tab forward instead of opening another.
  open.onclick = () => {
    const w = window.open("", "mimi-demo-carol");
    if (!w) return status("The browser blocked the new tab: allow pop-ups for this page, or open ?member=carol yourself.");
    if (w.location.href === "about:blank") w.location.href = new URL("?member=carol", location.href).href;
    w.focus();
  };
  document.getElementById("reset").onclick = async () => {
    if (!confirm("Forget every member, group and message of this demo in this browser?")) return;
    for (const n of ["alice", "bob", "carol", ...Object.keys(window.demo.panes)]) await MlsClient.deleteStored(`mimi-attachments:${n}`);
    await store.clear();
    location.reload();
  };
  const names = only ? [only] : ["alice", "bob"];
  for (const n of names) {
    if (!(await claim(n))) {
      status(`${title(n)} is already open in another tab of this browser: use that tab.`);
      document.body.dataset.duplicate = n;
      window.demo.duplicate = true;
      return;
    }
  }
  if (only) {
    open.hidden = true;
    document.title = `${title(only)} — mimi-attachments demo`;
    const p = new Pane(only);
    window.demo.panes[only] = p;
    status(`${title(only)}: waiting to be added — type "${only}" in the "Add member" box of any member`);
    await p.start();
    status(p.locked ? `${title(only)} was removed from the group.` : `${title(only)} is in the group.`);
  } else {
    const alice = new Pane("alice", { creator: true }), bob = new Pane("bob");
    Object.assign(window.demo.panes, { alice, bob });
    await alice.start();
    const bobJoined = bob.start();
    if (!(await store.get("bob:added"))) {
      // First visit: Alice adds Bob as soon as his key package is at the server.
      while (!bob.published) await sleep(50);
      await bob.published;
      while (!bob.group) {
        try { await alice.ds.addMember(alice.group, "bob"); await alice.note("You added Bob."); break; } catch { await sleep(300); }
      }
      await store.set("bob:added", true);
      alice.refresh();
    }
    await bobJoined;
    status("Alice and Bob share an MLS group. Write, or drop a file in a pane to send it end-to-end encrypted.");
  }
  window.demo.ready = true;
}
main().catch((e) => { status(`Failed to start: ${plain(e)}`); console.error(e); });
