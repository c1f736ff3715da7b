// The demo chat: Alice and Bob in one page (or one member per tab with ?member=NAME), talking
// through the Delivery Service that serves this page. Attachments are encrypted in the browser,
// uploaded, referenced in an MLS application message, and downloaded and decrypted on demand.
import init, { MlsClient, DsClient, AttachmentRef } from "/pkg/mimi_attachments.js";

const wasm = await init();
const MiB = 1 << 20;
// Media types rendered inline from decrypted blobs. Never HTML, SVG, XML or anything scriptable.
const PREVIEW = new Map([
  ["image/png", "img"], ["image/jpeg", "img"], ["image/gif", "img"], ["image/webp", "img"], ["image/avif", "img"],
  ["video/mp4", "video"], ["video/webm", "video"], ["audio/mpeg", "audio"], ["audio/ogg", "audio"], ["audio/wav", "audio"], ["audio/webm", "audio"],
]);
const AUTO_PREVIEW_MAX = 16 * MiB;
const GROUP_NAME = "demo-" + crypto.getRandomValues(new Uint32Array(1))[0].toString(16);
const status = (t) => { document.getElementById("status").textContent = t; };
const fmt = (n) => n >= 1024 * MiB ? `${+(n / 1024 / MiB).toFixed(1)} GiB` : n >= MiB ? `${+(n / MiB).toFixed(1)} MiB` : n >= 1024 ? `${+(n / 1024).toFixed(1)} KiB` : `${n} B`;
const el = (tag, props = {}, ...kids) => { const e = Object.assign(document.createElement(tag), props); e.append(...kids); return e; };

class Pane {
  constructor(name) {
    this.name = name;
    this.refs = new Map(); // message id -> AttachmentRef (kept in memory; an app would store ref.toBytes())
    const node = document.getElementById("pane-template").content.firstElementChild.cloneNode(true);
    node.setAttribute("aria-label", `${name}'s chat`);
    node.dataset.member = name;
    node.querySelector(".who").textContent = name[0].toUpperCase() + name.slice(1);
    const input = node.querySelector(".text");
    input.id = `text-${name}`;
    node.querySelector("label[for='']").htmlFor = input.id;
    this.node = node;
    this.list = node.querySelector(".messages");
    document.getElementById("panes").append(node);
  }

  async start() {
    this.client = await MlsClient.create(this.name, { storeName: null });
    // The DS runs with --dev-identity (scripts/demo.sh): log in under this name.
    this.ds = new DsClient("", this.client, { devLogin: true });
    this.wire();
  }

  wire() {
    const n = this.node;
    n.querySelector(".composer").addEventListener("submit", async (e) => {
      e.preventDefault();
      const input = n.querySelector(".text");
      const text = input.value.trim();
      if (!text || !this.group) return;
      input.value = "";
      await this.send({ kind: "text", text });
    });
    n.querySelector(".file").addEventListener("change", (e) => { for (const f of e.target.files) this.sendFile(f); e.target.value = ""; });
    n.querySelector(".file-button").addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") n.querySelector(".file").click(); });
    n.addEventListener("dragover", (e) => { e.preventDefault(); n.classList.add("dragging"); });
    n.addEventListener("dragleave", () => n.classList.remove("dragging"));
    n.addEventListener("drop", (e) => { e.preventDefault(); n.classList.remove("dragging"); for (const f of e.dataTransfer.files) this.sendFile(f); });
    n.querySelector(".add-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const id = e.target.identity.value.trim();
      if (!id) return;
      try { await this.ds.addMember(this.group, id); e.target.identity.value = ""; this.refresh(); }
      catch (err) { this.system(`Could not add ${id}: ${err.code ?? ""} ${err.message}`, true); }
    });
  }

  refresh() {
    if (!this.group) return;
    const g = this.group;
    this.node.querySelector(".epoch").textContent = g.isActive ? `epoch ${g.epoch}` : "removed from the group";
    const members = g.isActive ? g.members() : [];
    this.node.querySelector(".roster").textContent = members.map((m) => m.identity).join(", ");
    const box = this.node.querySelector(".members");
    box.replaceChildren(...members.filter((m) => m.leafIndex !== g.ownLeafIndex).map((m) =>
      el("button", { type: "button", textContent: `Remove ${m.identity}`, onclick: async () => {
        try { await this.ds.removeMember(g, m.leafIndex); this.refresh(); } catch (err) { this.system(`Remove failed: ${err.code}`, true); }
      } })));
    this.ds.quota(g).then((q) => {
      this.node.querySelector(".quota").textContent =
        `Group storage at the Delivery Service: ${fmt(q.used_bytes)} of ${fmt(q.max_group_bytes)}, ${q.attachments} of ${q.max_group_attachments} attachments; files up to ${fmt(q.max_file_bytes)}, kept ${Math.round(q.expiry_secs / 86400)} days`;
    }).catch(() => {});
  }

  async joinOrCreate(create) {
    if (create) {
      // Readable group ids are namespaced by their creator at the DS ("alice/demo-…").
      this.group = await this.ds.createGroup(new TextEncoder().encode(`${this.name}/${GROUP_NAME}`));
      this.node.querySelector(".admin").hidden = false;
    } else {
      await this.ds.publishKeyPackage();
      while (!(this.group = await this.ds.joinFromWelcome())) await new Promise((r) => setTimeout(r, 500));
    }
    this.refresh();
    this.poll();
  }

  async poll() {
    let next = 0;
    while (this.group.isActive) {
      try {
        const r = await this.ds.fetchMessages(this.group, { after: next, waitSecs: 10 });
        next = r.next;
        for (const ev of r.events) this.onEvent(ev);
        if (r.events.length) this.refresh();
      } catch (err) {
        if (err.code === "Forbidden") {
          this.system("The Delivery Service no longer accepts you in this group: you were removed.", true);
          this.node.querySelector(".epoch").textContent = "removed from the group";
          this.node.querySelector(".composer").querySelectorAll("input, button").forEach((x) => { x.disabled = true; });
          return;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    this.refresh();
  }

  onEvent(ev) {
    if (ev.type === "application") {
      let m;
      try { m = JSON.parse(new TextDecoder().decode(ev.data)); } catch { return this.system("An unreadable message", true); }
      const from = this.group.members().find((x) => x.leafIndex === ev.senderLeafIndex)?.identity ?? `leaf ${ev.senderLeafIndex}`;
      if (m.kind === "text") this.show(from, el("span", { textContent: m.text }), from === this.name);
      if (m.kind === "file") this.receiveFile(from, m, ev);
    } else if (ev.type === "commit") {
      const what = [ev.added.length && `${ev.added.join(", ")} joined`, ev.removed.length && `leaf ${ev.removed.join(", ")} left`].filter(Boolean).join("; ");
      this.system(ev.selfRemoved ? "You were removed from the group" : `New epoch ${ev.epoch}${what ? ": " + what : ""}`);
    }
  }

  show(from, body, mine = false) {
    const li = el("li", { className: "msg" + (mine ? " mine" : "") }, el("span", { className: "from", textContent: from }), body);
    this.list.append(li);
    li.scrollIntoView({ block: "end" });
    return li;
  }

  system(text, error = false) {
    this.list.append(el("li", { className: "msg system" + (error ? " error" : ""), textContent: text }));
  }

  async send(obj) {
    try { await this.ds.sendMessage(this.group, JSON.stringify(obj)); }
    catch (err) { this.system(`Not sent: ${err.code} ${err.message}`, true); }
  }

  async sendFile(file) {
    if (!this.group) return;
    const bar = el("progress", { max: 1, value: 0, ariaLabel: `Uploading ${file.name}` });
    const li = this.show(this.name, el("div", { className: "file-card" }, el("span", { className: "name", textContent: `${file.name} (${fmt(file.size)})` }), bar), true);
    li.dataset.upload = file.name;
    try {
      const ref = await this.ds.sendAttachment(this.group, file, {
        onProgress: (p) => { bar.max = p.total ?? file.size; bar.value = p.phase === "hash" ? p.loaded / 2 : p.loaded; },
      });
      bar.remove();
      li.dataset.uploaded = "true";
      await this.send({ kind: "file", contentType: ref.contentType(), name: file.name, mediaType: file.type, size: file.size });
      this.refresh();
    } catch (err) {
      bar.remove();
      li.append(el("span", { className: "error", textContent: ` — upload failed: ${err.code ?? ""} ${err.message}` }));
    }
  }

  receiveFile(from, m, ev) {
    const card = el("div", { className: "file-card" });
    const li = this.show(from, card, from === this.name);
    li.dataset.file = m.name;
    let ref;
    try {
      // Derive now, in the message's epoch: the reference decrypts later, whatever the epoch.
      ref = this.group.receiveAttachment(m.contentType, ev.senderLeafIndex, ev.epoch);
    } catch (err) {
      card.append(el("span", { className: "error", textContent: `${m.name}: ${err.code} ${err.message}` }));
      return;
    }
    const id = `${ev.seq}`;
    this.refs.set(id, { ref, meta: m });
    li.dataset.ref = id;
    const kind = PREVIEW.get(m.mediaType);
    card.append(el("span", { className: "name", textContent: `${m.name} (${fmt(m.size)})` }));
    const details = el("details", {}, el("summary", { textContent: "Reference (content type)" }), el("code", { textContent: m.contentType }));
    const button = el("button", { type: "button", textContent: kind ? "Show" : "Download", onclick: () => this.open(id, card, button) });
    card.append(button, details);
    if (kind && m.size <= AUTO_PREVIEW_MAX) this.open(id, card, button);
  }

  async open(id, card, button) {
    const { ref, meta } = this.refs.get(id);
    const kind = PREVIEW.get(meta.mediaType);
    button.disabled = true;
    const bar = el("progress", { max: meta.size || 1, value: 0, ariaLabel: `Downloading ${meta.name}` });
    card.insertBefore(bar, button);
    try {
      // An allow-listed media type, or a generic binary download: never text/html or SVG.
      const type = kind ? meta.mediaType : "application/octet-stream";
      const blob = await this.ds.downloadToBlob(this.group, ref, { type, onProgress: (p) => { bar.value = p.loaded; } });
      const url = URL.createObjectURL(blob);
      if (kind) {
        const media = el(kind, { src: url, controls: kind !== "img", alt: kind === "img" ? meta.name : undefined });
        card.insertBefore(media, button);
        button.remove();
      } else {
        el("a", { href: url, download: meta.name.replace(/[\\/]/g, "_") || "attachment" }).click();
        button.disabled = false;
      }
      card.closest("li").dataset.downloaded = "true";
    } catch (err) {
      card.append(el("span", { className: "error", textContent: ` ${err.code}: ${err.message}` }));
      button.disabled = false;
    } finally {
      bar.remove();
    }
  }
}

// Hooks for the end-to-end tests (tests/e2e): drive and observe the page without the UI.
window.demo = { panes: {}, wasmMemory: () => wasm.memory.buffer.byteLength, AttachmentRef, MlsClient, DsClient };

async function main() {
  const only = new URLSearchParams(location.search).get("member");
  document.getElementById("open-carol").onclick = () => window.open("?member=carol", "_blank", "noopener");
  if (only) {
    document.getElementById("open-carol").hidden = true;
    const p = new Pane(only);
    window.demo.panes[only] = p;
    await p.start();
    status(`${only}: waiting to be added (type "${only}" in Alice's "Add member" box)`);
    await p.joinOrCreate(false);
    status(`${only} joined the group`);
  } else {
    const alice = new Pane("alice"), bob = new Pane("bob");
    Object.assign(window.demo.panes, { alice, bob });
    await Promise.all([alice.start(), bob.start()]);
    await alice.joinOrCreate(true);
    const bobJoined = bob.joinOrCreate(false);
    while (true) {
      try { await alice.ds.addMember(alice.group, "bob"); break; } catch { await new Promise((r) => setTimeout(r, 300)); }
    }
    await bobJoined;
    alice.refresh();
    status("Alice and Bob share an MLS group. Drop a file in a pane to send it end-to-end encrypted.");
  }
  window.demo.ready = true;
}
main().catch((e) => { status(`Failed to start: ${e.code ?? ""} ${e.message}`); console.error(e); });
