// End-to-end: the demo page (www/) served by the real Delivery Service on 127.0.0.1, driven in
// headless Chromium (Debian's /usr/bin/chromium via playwright-core).
//
//   node tests/e2e/run.mjs [--ds PATH_TO_mimi-ds] [--only NAME] [--no-1gib]
//
// Needs pkg/ (wasm-pack --target web) and a built mimi-ds. Prints "test NAME ... ok|FAILED" and
// "test result: ok. N passed; M failed"; writes tests/e2e/artifacts/demo.png and report.json.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { createHash, randomFillSync } from "node:crypto";
import { mkdtemp, rm, mkdir, writeFile, readdir, readFile } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const ART = join(ROOT, "tests/e2e/artifacts");
const args = process.argv.slice(2);
const arg = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const DS = arg("--ds", join(ROOT, "target/debug/mimi-ds"));
const only = arg("--only", null);
const MiB = 1 << 20;

const freePort = () => new Promise((r) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const data = await mkdtemp(join(tmpdir(), "mimi-e2e-ds-"));
const files = await mkdtemp(join(tmpdir(), "mimi-e2e-files-"));
await mkdir(ART, { recursive: true });

let ds;
async function startDs() {
  ds = spawn(DS, ["--listen", `127.0.0.1:${port}`, "--dev-identity", "--data-dir", data, "--www", join(ROOT, "www"), "--www-pkg", join(ROOT, "pkg")],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
  ds.stderr.on("data", (d) => { if (process.env.VERBOSE) process.stderr.write(`    [ds] ${d}`); });
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${base}/v1/health`)).ok) return; } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the Delivery Service did not start");
}
function killDs() { return new Promise((r) => { ds.once("exit", r); ds.kill("SIGKILL"); }); }

/** A random file of `size` bytes on disk; returns its path and SHA-256 (hex). */
async function randomFile(name, size) {
  const path = join(files, name);
  const h = createHash("sha256");
  const out = createWriteStream(path);
  const buf = Buffer.alloc(8 * MiB);
  for (let left = size; left > 0; left -= buf.length) {
    const b = left >= buf.length ? buf : buf.subarray(0, left);
    randomFillSync(b);
    h.update(b);
    if (!out.write(b)) await new Promise((r) => out.once("drain", r));
  }
  await new Promise((r) => out.end(r));
  return { path, sha256: h.digest("hex"), size };
}

/** Peak RSS (KiB) of Chromium renderer processes, sampled until stop() is called. */
function rssSampler() {
  let peak = 0, on = true;
  (async () => {
    while (on) {
      for (const pid of await readdir("/proc").catch(() => [])) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8");
          if (!cmd.includes("--type=renderer")) continue;
          const m = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
          if (m) peak = Math.max(peak, Number(m[1]));
        } catch {}
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return () => { on = false; return peak; };
}

await startDs();
const profile = await mkdtemp(join(tmpdir(), "mimi-e2e-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true, viewport: { width: 1280, height: 860 },
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
const page = context.pages()[0] ?? (await context.newPage());
page.on("pageerror", (e) => console.log(`    [pageerror] ${e.message}`));
page.on("console", (m) => { if (m.type() === "error" || process.env.VERBOSE) console.log(`    [page ${m.type()}] ${m.text()}`); });
await page.goto(base + "/");
await page.waitForFunction(() => window.demo?.ready === true, null, { timeout: 60_000 });

const report = {};
const results = [];
async function test(name, fn) {
  if (only && only !== name) return;
  const t0 = Date.now();
  try {
    const info = await fn();
    results.push(true);
    if (info) report[name] = info;
    console.log(`test ${name} ... ok (${Date.now() - t0} ms)${info ? " " + JSON.stringify(info) : ""}`);
  } catch (e) {
    results.push(false);
    console.log(`test ${name} ... FAILED (${Date.now() - t0} ms)\n    ${String(e.stack ?? e).split("\n").slice(0, 6).join("\n    ")}`);
  }
}

const alicePane = 'section[data-member="alice"]', bobPane = 'section[data-member="bob"]';
/** Alice sends the file at `path` through her pane's file input; resolves when Bob has the message. */
async function aliceSends(path, name, timeout = 600_000) {
  await page.setInputFiles(`${alicePane} input.file`, path);
  await page.waitForSelector(`${bobPane} li[data-file="${name}"][data-ref]`, { timeout });
  return page.$eval(`${bobPane} li[data-file="${name}"]`, (li) => li.dataset.ref);
}
/** Bob downloads the attachment `id` through the DS and returns SHA-256 (hex) and timing. */
const bobDownloadsHash = (id) => page.evaluate(async (id) => {
  const bob = window.demo.panes.bob;
  const t0 = performance.now();
  const blob = await bob.ds.downloadToBlob(bob.group, bob.refs.get(id).ref);
  const ms = performance.now() - t0;
  const h = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  return { sha256: [...h].map((b) => b.toString(16).padStart(2, "0")).join(""), ms, size: blob.size };
}, id);

await test("demo_sends_20mib_from_alice_to_bob", async () => {
  const f = await randomFile("report.pdf", 20 * MiB);
  const id = await aliceSends(f.path, "report.pdf", 120_000);
  const r = await bobDownloadsHash(id);
  if (r.sha256 !== f.sha256 || r.size !== f.size) throw new Error(`SHA-256 mismatch: ${r.sha256} != ${f.sha256}`);
  return { downloadMBps: Math.round(f.size / 1e3 / r.ms) };
});

await test("image_preview_and_screenshot", async () => {
  // A real PNG drawn in the page, sent through Alice's pane like a dropped file.
  await page.evaluate(async () => {
    const c = new OffscreenCanvas(480, 270), x = c.getContext("2d");
    const g = x.createLinearGradient(0, 0, 0, 270); g.addColorStop(0, "#ff9a3c"); g.addColorStop(1, "#6a2c91");
    x.fillStyle = g; x.fillRect(0, 0, 480, 270); x.fillStyle = "#ffd166"; x.beginPath(); x.arc(240, 200, 70, 0, Math.PI * 2); x.fill();
    x.fillStyle = "#1d2330"; x.fillRect(0, 215, 480, 55);
    const blob = await c.convertToBlob({ type: "image/png" });
    window.demo.panes.alice.sendFile(new File([blob], "sunset.png", { type: "image/png" }));
  });
  await page.waitForSelector(`${bobPane} li[data-file="sunset.png"] img`, { timeout: 60_000 });
  const natural = await page.$eval(`${bobPane} li[data-file="sunset.png"] img`, async (img) => { await img.decode(); return [img.naturalWidth, img.naturalHeight]; });
  if (natural.join("x") !== "480x270") throw new Error(`preview is ${natural}`);
  await page.fill(`${bobPane} .text`, "What a sunset!");
  await page.click(`${bobPane} .send`);
  await page.waitForSelector(`${alicePane} li.msg >> text=What a sunset!`, { timeout: 30_000 });
  const shot = join(ART, "demo.png");
  await page.screenshot({ path: shot, fullPage: true });
  return { screenshot: "tests/e2e/artifacts/demo.png" };
});

await test("removed_member_gets_forbidden", async () => {
  const r = await page.evaluate(async () => {
    const { MlsClient, DsClient, panes: { alice } } = window.demo;
    const carol = await MlsClient.create("carol", { storeName: null });
    const cds = new DsClient("", carol, { devLogin: true });
    await cds.publishKeyPackage();
    await alice.ds.addMember(alice.group, "carol");
    const cg = await cds.joinFromWelcome();
    const ref = await alice.ds.sendAttachment(alice.group, new Blob([new Uint8Array(300_000).fill(7)]));
    const mine = cg.receiveAttachment(ref.contentType(), alice.group.ownLeafIndex, cg.epoch);
    const before = (await (await cds.downloadToBlob(cg, mine)).arrayBuffer()).byteLength;
    await alice.ds.removeMember(alice.group, cg.ownLeafIndex);
    let code = "no error";
    try { await cds.downloadToBlob(cg, mine); } catch (e) { code = e.code; }
    // The relay refuses her too: that Forbidden is how a removed client learns it was removed.
    let fetchCode = "no error";
    try { await cds.fetchMessages(cg, {}); } catch (e) { fetchCode = e.code; }
    // Alice, still a member, downloads fine.
    const stillOk = (await (await alice.ds.downloadToBlob(alice.group, ref)).arrayBuffer()).byteLength;
    return { before, code, fetchCode, stillOk };
  });
  if (r.before !== 300_000 || r.code !== "Forbidden" || r.fetchCode !== "Forbidden" || r.stillOk !== 300_000) throw new Error(JSON.stringify(r));
  return r;
});

await test("upload_resumes_after_the_ds_restarts", async () => {
  const f = await randomFile("holiday.mp4", 160 * MiB);
  await page.setInputFiles(`${alicePane} input.file`, f.path);
  const bar = `${alicePane} li[data-upload="holiday.mp4"] progress`;
  await page.waitForFunction((sel) => { const b = document.querySelector(sel); return b && b.value > b.max * 0.35 && b.value < b.max * 0.8; }, bar, { timeout: 120_000, polling: 20 });
  await killDs();
  await new Promise((r) => setTimeout(r, 500));
  await startDs();
  await page.waitForSelector(`${alicePane} li[data-upload="holiday.mp4"][data-uploaded]`, { timeout: 180_000 });
  await page.waitForSelector(`${bobPane} li[data-file="holiday.mp4"][data-ref]`, { timeout: 60_000 });
  const id = await page.$eval(`${bobPane} li[data-file="holiday.mp4"]`, (li) => li.dataset.ref);
  const r = await bobDownloadsHash(id);
  if (r.sha256 !== f.sha256) throw new Error("SHA-256 mismatch after the resumed upload");
  return { size: f.size };
});

if (!args.includes("--no-1gib")) {
  await test("one_gib_with_bounded_memory", async () => {
    const f = await randomFile("backup.tar", 1024 * MiB);
    const stop = rssSampler();
    const t0 = Date.now();
    const id = await aliceSends(f.path, "backup.tar", 900_000);
    const upMs = Date.now() - t0;
    const d = await page.evaluate(async (id) => {
      const bob = window.demo.panes.bob;
      const t0 = performance.now();
      const s = await bob.ds.download(bob.group, bob.refs.get(id).ref);
      const r = s.getReader();
      let n = 0;
      for (;;) { const { done, value } = await r.read(); if (done) break; n += value.length; }
      return { bytes: n, ms: performance.now() - t0, wasm: window.demo.wasmMemory() };
    }, id);
    const peakKiB = stop();
    const hash = await page.$eval(`${bobPane} li[data-file="backup.tar"] code`, (c) => c.textContent);
    const hashB64 = Buffer.from(f.sha256, "hex").toString("base64url");
    if (!hash.includes(`hash=${hashB64}`)) throw new Error("reference hash is not the file's SHA-256");
    if (d.bytes !== f.size) throw new Error(`downloaded ${d.bytes} bytes`);
    if (d.wasm >= 64 * MiB) throw new Error(`wasm memory ${d.wasm}`);
    return {
      uploadMBps: Math.round(f.size / 1e3 / upMs), downloadMBps: Math.round(f.size / 1e3 / d.ms),
      wasmMemoryMiB: d.wasm / MiB, peakRendererRssMiB: Math.round(peakKiB / 1024),
    };
  });
}

await context.close();
ds.kill("SIGTERM");
await writeFile(join(ART, "report.json"), JSON.stringify(report, null, 2) + "\n");
for (const d of [data, files, profile]) await rm(d, { recursive: true, force: true });
const passed = results.filter(Boolean).length, failed = results.length - passed;
console.log(`test result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed`);
process.exit(failed || results.length === 0 ? 1 : 0);
