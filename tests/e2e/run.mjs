// End-to-end: the demo chat page (www/) served by the real Delivery Service on 127.0.0.1, driven
// in headless Chromium (Debian's /usr/bin/chromium via playwright-core) the way a person uses it:
// Alice and Bob in one tab, Carol in a second tab, every step checked from every pane.
//
//   node tests/e2e/run.mjs [--ds PATH_TO_mimi-ds] [--only NAME] [--big] [--replicas]
//
// --replicas: the same suite against the scaled deployment (docs/DEPLOY.md): two DS processes on
// one PostgreSQL database and one S3 bucket prefix (from MIMI_DS_TEST_META / MIMI_DS_TEST_BLOBS, as
// `eval "$(scripts/ds-engines.sh start)"` sets them), sharing a token secret, behind a round-robin
// proxy in this process: consecutive requests of one page land on different replicas, and the
// restart step SIGKILLs one replica mid-upload while the other serves the resumed upload.
//
// The big-file step sends BIG_MIB (default 48 MiB; `--big` = 1 GiB, the benchmark size) from
// Alice's pane and downloads it in Bob's, watching that the progress bar never runs backwards and
// recording the longest main-thread task (PerformanceObserver "longtask") during the send and the
// download. Needs pkg/ (wasm-pack --target web) and a built mimi-ds. Prints
// "test NAME ... ok|FAILED" and "test result: ok. N passed; M failed"; screenshots of every step
// go to target/e2e-screenshots/ (path printed), numbers to target/e2e-screenshots/report.json.
import { spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import { createHash, randomFillSync } from "node:crypto";
import { mkdtemp, rm, mkdir, writeFile, readdir, readFile } from "node:fs/promises";
import { createWriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { startProxy } from "./rr-proxy.mjs";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const ART = join(ROOT, process.argv.includes("--replicas") ? "target/e2e-screenshots-replicas" : "target/e2e-screenshots");
const args = process.argv.slice(2);
const arg = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const DS = arg("--ds", join(ROOT, "target/debug/mimi-ds"));
const only = arg("--only", null);
const MiB = 1 << 20;
const BIG = args.includes("--big") ? 1024 * MiB : Number(process.env.BIG_MIB ?? 48) * MiB;

const freePort = () => new Promise((r) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const data = await mkdtemp(join(tmpdir(), "mimi-e2e-ds-"));
const files = await mkdtemp(join(tmpdir(), "mimi-e2e-files-"));
await rm(ART, { recursive: true, force: true });
await mkdir(ART, { recursive: true });

const REPLICAS = args.includes("--replicas");
const WWW = ["--www", join(ROOT, "www"), "--www-pkg", join(ROOT, "pkg")];
const dsEnv = { ...process.env, RUST_LOG: "warn", MIMI_DS_LOG: "warn" };
async function waitHealthy(url) {
  for (let i = 0; i < 200; i++) {
    try { if ((await fetch(`${url}/v1/health`)).ok) return; } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`the Delivery Service at ${url} did not start`);
}
function spawnDs(listen, extra) {
  const p = spawn(DS, ["--listen", listen, "--dev-identity", ...extra, ...WWW], { stdio: ["ignore", "ignore", "pipe"], env: dsEnv });
  p.stderr.on("data", (d) => { if (process.env.VERBOSE) process.stderr.write(`    [ds ${listen}] ${d}`); });
  return p;
}

let ds; // the process the restart step kills: the only DS, or replica 0
let replicas = null; // --replicas: [{port, proc, extra}] behind the proxy on `port`
if (REPLICAS) {
  const meta = process.env.MIMI_DS_TEST_META, blobs = process.env.MIMI_DS_TEST_BLOBS;
  if (!meta || !blobs) throw new Error('--replicas needs PostgreSQL and S3: eval "$(bash scripts/ds-engines.sh start)"');
  const db = `mimi_e2e_${process.pid}_${Date.now() % 1e9}`;
  const made = spawnSync("psql", [meta, "-q", "-c", `CREATE DATABASE ${db}`], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`CREATE DATABASE failed: ${made.stderr}`);
  const secret = join(data, "token.key");
  await writeFile(secret, randomFillSync(Buffer.alloc(32)).toString("hex"));
  const shared = ["--meta", meta.replace(/\/[^/]*$/, `/${db}`), "--blobs", `${blobs}${blobs.includes("?") ? "&" : "?"}prefix=${db}`, "--token-secret-file", secret];
  replicas = [];
  for (const i of [0, 1]) {
    const dir = join(data, `replica${i}`);
    await mkdir(dir);
    replicas.push({ port: await freePort(), down: true, extra: [...shared, "--data-dir", dir] });
  }
  await startProxy(port, replicas);
}

async function startDs() {
  if (!replicas) {
    ds = spawnDs(`127.0.0.1:${port}`, ["--data-dir", data]);
    return waitHealthy(base);
  }
  for (const r of replicas) {
    if (!r.down) continue;
    r.proc = spawnDs(`127.0.0.1:${r.port}`, r.extra);
    await waitHealthy(`http://127.0.0.1:${r.port}`);
    r.down = false;
  }
  ds = replicas[0].proc;
}
/** Kills the DS (with --replicas: replica 0 only; the proxy sends everything to replica 1). */
function killDs() {
  if (replicas) replicas[0].down = true;
  return new Promise((r) => { ds.once("exit", r); ds.kill("SIGKILL"); });
}

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
const consoleErrors = [];
function watch(p, label) {
  p.on("pageerror", (e) => { consoleErrors.push(`${label}: ${e.message}`); console.log(`    [${label} pageerror] ${e.message}`); });
  p.on("console", (m) => {
    if (m.type() === "error") { consoleErrors.push(`${label}: ${m.text()}`); console.log(`    [${label} console.error] ${m.text()}`); }
    else if (process.env.VERBOSE) console.log(`    [${label} ${m.type()}] ${m.text()}`);
  });
  return p;
}
const page = watch(context.pages()[0] ?? (await context.newPage()), "main");
let carol = null; // Carol's tab
const ready = (p) => p.waitForFunction(() => window.demo?.ready === true, null, { timeout: 120_000 });
await page.goto(base + "/");
await ready(page);

const report = { screenshots: ART };
const results = [];
let shot = 0;
async function screenshot(p, name) {
  const path = join(ART, `${String(++shot).padStart(2, "0")}-${name}.png`);
  await p.screenshot({ path });
  return path;
}
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
    await screenshot(page, `${name}-FAILED`).catch(() => {});
    if (carol) await screenshot(carol, `${name}-carol-FAILED`).catch(() => {});
  }
}
function assert(cond, what) { if (!cond) throw new Error(what); }

const pane = (m) => `section[data-member="${m}"]`;
/** The chat as a pane shows it: [from, text] for every message (own ones as "You"). */
const transcript = (p, m) => p.$$eval(`${pane(m)} .messages li.msg:not(.system):not(.failed)`, (lis) =>
  lis.map((li) => [li.querySelector(".from").textContent, li.dataset.file ?? li.querySelector(".body")?.textContent, li.classList.contains("mine")]));
const systemNotes = (p, m) => p.$$eval(`${pane(m)} .messages li.system`, (lis) => lis.map((li) => li.textContent));
async function say(p, m, text) {
  await p.fill(`${pane(m)} .text`, text);
  await p.click(`${pane(m)} .send`);
}
const seen = (p, m, text, timeout = 30_000) => p.waitForSelector(`${pane(m)} li.msg .body >> text="${text}"`, { timeout });
/** Puts a long-task observer in the page; returns a function that collects the longest task. */
async function longTasks(p) {
  await p.evaluate(() => {
    window.__long = { max: 0, count: 0, over50: 0 };
    window.__longObs?.disconnect();
    window.__longObs = new PerformanceObserver((l) => { for (const e of l.getEntries()) { window.__long.max = Math.max(window.__long.max, e.duration); window.__long.count++; } });
    window.__longObs.observe({ type: "longtask" });
  });
  return () => p.evaluate(() => { window.__longObs.disconnect(); return { longestTaskMs: Math.round(window.__long.max), longTasks: window.__long.count }; });
}
/** Records every value the progress bars in `sel` take (a MutationObserver on their value). */
async function progressRecorder(p, sel) {
  await p.evaluate((sel) => {
    window.__prog = [];
    window.__progObs?.disconnect();
    window.__progObs = new MutationObserver((muts) => {
      for (const m of muts) if (m.target.matches?.(`${sel} progress`)) window.__prog.push([m.target.closest(".upload")?.querySelector(".phase")?.textContent, m.target.value]);
    });
    window.__progObs.observe(document.body, { attributes: true, attributeFilter: ["value"], subtree: true });
  }, sel);
  return () => p.evaluate(() => { window.__progObs.disconnect(); return window.__prog; });
}
function monotonic(values, what) {
  assert(values.length >= 3, `${what}: only ${values.length} progress updates`);
  for (let i = 1; i < values.length; i++) assert(values[i][1] >= values[i - 1][1], `${what}: progress ran backwards at ${i}: ${JSON.stringify(values.slice(Math.max(0, i - 2), i + 1))}`);
}

await test("page_loads_without_console_errors", async () => {
  await page.waitForSelector(`${pane("bob")} .roster >> text=Alice`, { timeout: 30_000 });
  const roster = await page.$eval(`${pane("alice")} .roster`, (e) => e.textContent);
  assert(/Alice \(you\), Bob/.test(roster), `roster: ${roster}`);
  assert(!/leaf/i.test(roster), "roster shows leaf numbers");
  assert(consoleErrors.length === 0, `console errors: ${consoleErrors.join("; ")}`);
  return { screenshot: await screenshot(page, "loaded") };
});

await test("text_both_ways_visible_in_both_panes", async () => {
  await say(page, "alice", "Hi Bob, the photos are coming.");
  await seen(page, "bob", "Hi Bob, the photos are coming.");
  await say(page, "bob", "Great, send them!");
  await seen(page, "alice", "Great, send them!");
  const a = await transcript(page, "alice"), b = await transcript(page, "bob");
  assert(JSON.stringify(a) === JSON.stringify([["You", "Hi Bob, the photos are coming.", true], ["Bob", "Great, send them!", false]]), `Alice's pane: ${JSON.stringify(a)}`);
  assert(JSON.stringify(b) === JSON.stringify([["Alice", "Hi Bob, the photos are coming.", false], ["You", "Great, send them!", true]]), `Bob's pane: ${JSON.stringify(b)}`);
  return { screenshot: await screenshot(page, "text-both-ways") };
});

await test("png_preview_on_both_sides", async () => {
  // A real PNG drawn in the page, dropped into Alice's pane like a file from the desktop.
  await page.evaluate(async () => {
    const c = new OffscreenCanvas(480, 270), x = c.getContext("2d");
    const g = x.createLinearGradient(0, 0, 0, 270); g.addColorStop(0, "#ff9a3c"); g.addColorStop(1, "#6a2c91");
    x.fillStyle = g; x.fillRect(0, 0, 480, 270); x.fillStyle = "#ffd166"; x.beginPath(); x.arc(240, 200, 70, 0, Math.PI * 2); x.fill();
    x.fillStyle = "#1d2330"; x.fillRect(0, 215, 480, 55);
    const file = new File([await c.convertToBlob({ type: "image/png" })], "sunset.png", { type: "image/png" });
    const dt = new DataTransfer(); dt.items.add(file);
    document.querySelector('section[data-member="alice"]').dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  for (const m of ["alice", "bob"]) {
    const img = `${pane(m)} li[data-file="sunset.png"] img`;
    await page.waitForSelector(img, { timeout: 60_000 });
    const natural = await page.$eval(img, async (i) => { await i.decode(); return [i.naturalWidth, i.naturalHeight]; });
    assert(natural.join("x") === "480x270", `${m}'s preview is ${natural}`);
  }
  assert(await page.$eval(`${pane("alice")} li[data-file="sunset.png"]`, (li) => li.classList.contains("mine")), "Alice's own file is not marked as hers");
  await say(page, "bob", "What a sunset!");
  await seen(page, "alice", "What a sunset!");
  return { screenshot: await screenshot(page, "png-preview-both-sides") };
});

await test("audio_plays_and_seeks_through_the_service_worker", async () => {
  // A 90 s WAV tone (8.6 MB) dropped into Alice's pane: Bob's pane shows an <audio> served by
  // the package's streaming worker; seeking to the middle fetches and verifies only the chunks
  // around it.
  await page.evaluate(async () => {
    const rate = 48000, n = rate * 90, buf = new ArrayBuffer(44 + 2 * n), v = new DataView(buf);
    const s = (o, t) => [...t].forEach((ch, i) => v.setUint8(o + i, ch.charCodeAt(0)));
    s(0, "RIFF"); v.setUint32(4, 36 + 2 * n, true); s(8, "WAVE"); s(12, "fmt "); v.setUint32(16, 16, true);
    v.setUint16(20, 1, true); v.setUint16(22, 1, true); v.setUint32(24, rate, true); v.setUint32(28, rate * 2, true);
    v.setUint16(32, 2, true); v.setUint16(34, 16, true); s(36, "data"); v.setUint32(40, 2 * n, true);
    const pcm = new Int16Array(buf, 44);
    for (let i = 0; i < n; i++) pcm[i] = Math.round(6000 * Math.sin((2 * Math.PI * 330 * i) / rate));
    const dt = new DataTransfer(); dt.items.add(new File([buf], "tone.wav", { type: "audio/wav" }));
    document.querySelector('section[data-member="alice"]').dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  const audio = `${pane("bob")} li[data-file="tone.wav"][data-streamed] audio`;
  await page.waitForSelector(audio, { timeout: 60_000 });
  const r = await page.$eval(audio, async (a) => {
    const once = (ev) => new Promise((res, rej) => { a.addEventListener(ev, res, { once: true }); a.addEventListener("error", () => rej(new Error(`media error ${a.error?.code}`)), { once: true }); });
    if (a.readyState < 1) await once("loadedmetadata");
    a.currentTime = a.duration / 2;
    await once("seeked");
    const stats = window.demo.served.get("tone.wav").stats;
    return { duration: a.duration, at: a.currentTime, bytes: stats.bytes, requests: stats.requests, ranges: stats.ranges };
  });
  const size = 44 + 2 * 48000 * 90;
  assert(Math.abs(r.duration - 90) < 0.5, `duration ${r.duration}`);
  assert(r.ranges.some(([s]) => s >= size * 0.4), `no Range request near the middle: ${JSON.stringify(r.ranges)}`);
  assert(r.bytes < size * 0.8, `fetched ${r.bytes} of ${size} bytes to seek`);
  return { ...r, size, screenshot: await screenshot(page, "audio-streamed") };
});

await test("big_file_monotonic_progress_and_download", async () => {
  const name = "backup.tar";
  const f = await randomFile(name, BIG);
  const stop = rssSampler();
  const progress = await progressRecorder(page, `${pane("alice")} li[data-upload="${name}"]`);
  const tasks = await longTasks(page);
  const t0 = Date.now();
  await page.setInputFiles(`${pane("alice")} input.file`, f.path);
  await page.waitForSelector(`${pane("alice")} li[data-upload="${name}"] .upload .phase >> text=Encrypting + uploading`, { timeout: 600_000 });
  const midShot = await screenshot(page, "big-file-uploading");
  await page.waitForSelector(`${pane("bob")} li[data-file="${name}"][data-ref]`, { timeout: 1_800_000 });
  const upMs = Date.now() - t0;
  const values = await progress();
  monotonic(values, "upload");
  const phases = [...new Set(values.map((v) => v[0]))];
  assert(phases.join() === "Hashing,Encrypting + uploading", `phases: ${phases}`);
  const sendTasks = await tasks();
  // Bob downloads it through his pane's Download button: the library verifies every chunk and
  // the whole-file hash before it completes.
  const dl = await progressRecorder(page, `${pane("bob")} li[data-file="${name}"]`);
  const dlTasks = await longTasks(page);
  const t1 = Date.now();
  await page.click(`${pane("bob")} li[data-file="${name}"] button.open`);
  await page.waitForSelector(`${pane("bob")} li[data-file="${name}"][data-downloaded]`, { timeout: 1_800_000 });
  const downMs = Date.now() - t1;
  monotonic(await dl(), "download");
  const downloadTasks = await dlTasks();
  const peakKiB = stop();
  const size = Number(await page.$eval(`${pane("bob")} li[data-file="${name}"]`, (li) => li.dataset.blobSize));
  assert(size === f.size, `downloaded ${size} bytes of ${f.size}`);
  // The reference's hash is the file's SHA-256 (what the download verified against).
  const refHash = await page.evaluate((name) => {
    const bob = window.demo.panes.bob;
    const id = Number(document.querySelector(`section[data-member="bob"] li[data-file="${name}"]`).dataset.ref);
    return /hash=([\w-]+)/.exec(bob.refs.get(id).contentType())[1];
  }, name);
  assert(refHash === Buffer.from(f.sha256, "hex").toString("base64url"), "the reference's hash is not the file's SHA-256");
  await rm(f.path);
  return {
    mib: BIG / MiB, uploadMBps: Math.round(f.size / 1e3 / upMs), downloadMBps: Math.round(f.size / 1e3 / downMs),
    progressUpdates: values.length, longestTaskDuringSendMs: sendTasks.longestTaskMs, longTasksDuringSend: sendTasks.longTasks,
    longestTaskDuringDownloadMs: downloadTasks.longestTaskMs, longTasksDuringDownload: downloadTasks.longTasks,
    wasmMemoryMiB: (await page.evaluate(() => window.demo.wasmMemory())) / MiB, peakRendererRssMiB: Math.round(peakKiB / 1024),
    screenshots: [midShot, await screenshot(page, "big-file-done")],
  };
});

await test("cancel_aborts_the_upload_at_the_ds", async () => {
  const name = "cancel-me.bin";
  const f = await randomFile(name, 96 * MiB);
  const quota = () => page.evaluate(async () => { const a = window.demo.panes.alice; return (await a.ds.quota(a.group)).used_bytes; });
  const before = await quota();
  await page.setInputFiles(`${pane("alice")} input.file`, f.path);
  const li = `${pane("alice")} li[data-upload="${name}"]`;
  await page.waitForFunction((sel) => { const b = document.querySelector(`${sel} progress`); return b && b.value > 600; }, li, { timeout: 300_000, polling: 20 });
  const during = await quota();
  const midShot = await screenshot(page, "cancel-in-progress");
  await page.click(`${li} button.cancel`);
  await page.waitForSelector(`${li}[data-failed="Aborted"]`, { timeout: 60_000 });
  const text = await page.$eval(`${li} .error`, (e) => e.textContent);
  assert(/Cancelled/.test(text), `cancel notice: ${text}`);
  let after = during;
  for (let i = 0; i < 50 && after !== before; i++) { await new Promise((r) => setTimeout(r, 100)); after = await quota(); }
  assert(during > before, `the upload reserved no quota (${before} -> ${during})`);
  assert(after === before, `the DS still holds the cancelled upload: ${before} -> ${after} bytes`);
  await new Promise((r) => setTimeout(r, 1000));
  assert(!(await page.$(`${pane("bob")} li[data-file="${name}"]`)), "Bob received a cancelled file");
  return { quotaBefore: before, quotaDuring: during, quotaAfter: after, screenshots: [midShot, await screenshot(page, "cancelled")] };
});

await test("third_member_opens_once_and_a_joiner_adds_her", async () => {
  // "Open a third member" twice: one Carol tab (the second click brings it forward), and a
  // Carol opened by hand in yet another tab says she is already open instead of starting twice.
  const [first] = await Promise.all([context.waitForEvent("page"), page.click("#open-carol")]);
  carol = watch(first, "carol");
  await carol.waitForSelector(`${pane("carol")} .epoch >> text=Waiting to be added`, { timeout: 60_000 });
  await page.click("#open-carol");
  await new Promise((r) => setTimeout(r, 1500));
  const tabs = context.pages().filter((p) => p.url().includes("member=carol")).length;
  assert(tabs === 1, `${tabs} Carol tabs after two clicks`);
  assert((await carol.$$(`section.pane`)).length === 1, "Carol's tab shows more than one pane");
  const second = watch(await context.newPage(), "carol-2");
  await second.goto(base + "/?member=carol");
  await second.waitForFunction(() => window.demo?.duplicate === true || window.demo?.ready === true, null, { timeout: 30_000 });
  const dup = await second.evaluate(() => ({ duplicate: window.demo.duplicate === true, panes: document.querySelectorAll("section.pane").length, status: document.getElementById("status").textContent }));
  assert(dup.duplicate && dup.panes === 0 && /already open/.test(dup.status), `second Carol tab: ${JSON.stringify(dup)}`);
  const dupShot = await screenshot(second, "carol-twice");
  await second.close();
  // Bob, who joined from a Welcome himself, adds Carol.
  await page.fill(`${pane("bob")} input[name=identity]`, "carol");
  await page.click(`${pane("bob")} .add-form button`);
  await page.waitForSelector(`${pane("bob")} .admin-ok >> text=Added Carol.`, { timeout: 60_000 });
  await carol.waitForSelector(`${pane("carol")} .roster >> text=Carol (you)`, { timeout: 60_000 });
  await page.waitForSelector(`${pane("alice")} li.system >> text=Bob added Carol.`, { timeout: 30_000 });
  await say(carol, "carol", "Hello from Carol!");
  await seen(page, "alice", "Hello from Carol!");
  await seen(page, "bob", "Hello from Carol!");
  const roster = await carol.$eval(`${pane("carol")} .roster`, (e) => e.textContent);
  assert(roster === "Alice, Bob, Carol (you)", `Carol's roster: ${roster}`);
  // And Carol, a joiner of a joiner, can add someone too: Dave, in his own tab.
  const dave = watch(await context.newPage(), "dave");
  await dave.goto(base + "/?member=dave");
  await dave.waitForSelector(`${pane("dave")} .epoch >> text=Waiting to be added`, { timeout: 60_000 });
  await carol.fill(`${pane("carol")} input[name=identity]`, "dave");
  await carol.click(`${pane("carol")} .add-form button`);
  await dave.waitForSelector(`${pane("dave")} .roster >> text=Dave (you)`, { timeout: 60_000 });
  await say(dave, "dave", "Dave here.");
  await seen(page, "alice", "Dave here.");
  await seen(carol, "carol", "Dave here.");
  const daveShot = await screenshot(dave, "dave-added-by-carol");
  await page.click(`${pane("alice")} .members button >> text=Remove Dave`);
  await dave.waitForSelector(`${pane("dave")}.removed`, { timeout: 30_000 });
  await dave.close();
  return { screenshots: [dupShot, await screenshot(carol, "carol-added-by-bob"), daveShot, await screenshot(page, "alice-bob-with-carol")] };
});

await test("reload_of_each_pane_keeps_the_conversation", async () => {
  const before = { alice: await transcript(page, "alice"), bob: await transcript(page, "bob"), carol: await transcript(carol, "carol") };
  const epoch = await page.$eval(`${pane("alice")} .epoch`, (e) => e.textContent);
  await page.reload();
  await ready(page);
  await page.waitForSelector(`${pane("bob")} li[data-file="sunset.png"] img`, { timeout: 60_000 });
  for (const m of ["alice", "bob"]) {
    const after = await transcript(page, m);
    assert(JSON.stringify(after) === JSON.stringify(before[m]), `${m} after the reload: ${JSON.stringify(after)} != ${JSON.stringify(before[m])}`);
  }
  assert((await page.$eval(`${pane("alice")} .epoch`, (e) => e.textContent)) === epoch, "Alice's group changed on reload");
  const afterShot = await screenshot(page, "after-reload");
  // Carol's open tab survived Alice's reload: both ways still work.
  await say(carol, "carol", "Still here after your reload.");
  await seen(page, "alice", "Still here after your reload.");
  await say(page, "alice", "Welcome back, everyone.");
  await seen(carol, "carol", "Welcome back, everyone.");
  await seen(page, "bob", "Welcome back, everyone.");
  const carolBefore = await transcript(carol, "carol");
  await carol.reload();
  await ready(carol);
  assert(JSON.stringify(await transcript(carol, "carol")) === JSON.stringify(carolBefore), "Carol's conversation changed on reload");
  await say(carol, "carol", "And I reloaded too.");
  await seen(page, "bob", "And I reloaded too.");
  await seen(page, "alice", "And I reloaded too.");
  // Nobody sees a message twice, nobody lost one.
  const counts = { alice: (await transcript(page, "alice")).length, bob: (await transcript(page, "bob")).length };
  assert(counts.alice === before.alice.length + 3 && counts.bob === before.bob.length + 3, `counts ${JSON.stringify(counts)} vs ${before.alice.length}/${before.bob.length} + 3`);
  return { screenshots: [afterShot, await screenshot(carol, "carol-after-reload")] };
});

await test("removed_member_pane_locks_at_once", async () => {
  await page.click(`${pane("alice")} .members button >> text=Remove Carol`);
  await page.waitForSelector(`${pane("alice")} .admin-ok >> text=Removed Carol.`, { timeout: 30_000 });
  await carol.waitForSelector(`${pane("carol")}.removed`, { timeout: 30_000 });
  const state = await carol.evaluate(() => {
    const p = document.querySelector('section[data-member="carol"]');
    return {
      header: p.querySelector(".epoch").textContent, notice: !p.querySelector(".notice").hidden,
      text: p.querySelector(".text").disabled, send: p.querySelector(".send").disabled, file: p.querySelector("input.file").disabled,
      clip: p.querySelector(".file-button").getAttribute("aria-disabled"), admin: p.querySelector(".admin").hidden,
      last: [...p.querySelectorAll("li.system")].pop()?.textContent,
    };
  });
  assert(state.header === "Removed from the group" && state.notice && state.text && state.send && state.file && state.clip === "true" && state.admin && state.last === "You were removed from the group.", JSON.stringify(state));
  // A drop on the locked pane sends nothing.
  await carol.evaluate(() => {
    const dt = new DataTransfer(); dt.items.add(new File(["x"], "late.txt"));
    document.querySelector('section[data-member="carol"]').dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
  });
  assert(!(await carol.$(`li[data-upload="late.txt"]`)), "a locked pane started an upload");
  for (const m of ["alice", "bob"]) {
    await page.waitForFunction((m) => !document.querySelector(`section[data-member="${m}"] .roster`).textContent.includes("Carol"), m, { timeout: 30_000 });
  }
  await page.waitForSelector(`${pane("bob")} li.system >> text=Alice removed Carol.`, { timeout: 30_000 });
  const lockedShot = await screenshot(carol, "carol-removed");
  await carol.reload();
  await carol.waitForSelector(`${pane("carol")}.removed`, { timeout: 60_000 });
  return { screenshots: [lockedShot, await screenshot(page, "alice-bob-after-removal")] };
});

await test("errors_in_plain_words_next_to_the_action", async () => {
  await page.fill(`${pane("alice")} input[name=identity]`, "nobody");
  await page.click(`${pane("alice")} .add-form button`);
  const err = `${pane("alice")} .admin-error`;
  await page.waitForSelector(`${err}:not([hidden])`, { timeout: 30_000 });
  const text = await page.$eval(err, (e) => e.textContent);
  assert(/^Could not add Nobody: Nobody by that name is waiting to join/.test(text), `error: ${text}`);
  assert(!/NotFound|404/.test(text), `error is not in plain words: ${text}`);
  const box = await page.$eval(err, (e) => { const r = e.getBoundingClientRect(); return [r.top, r.bottom]; });
  assert(box[0] >= 0 && box[1] <= 860, `error not visible without scrolling: ${box}`);
  return { text, screenshot: await screenshot(page, "add-error") };
});

await test("create_never_overwrites_a_stored_client", async () => {
  const r = await page.evaluate(async () => {
    const { MlsClient, panes: { alice } } = window.demo;
    const key = (c) => Array.from(c.signaturePublicKey).join();
    let code = "no error";
    try { await MlsClient.create("alice"); } catch (e) { code = `${e.name}/${e.code}`; }
    const opened = await MlsClient.open("alice");
    const loaded = await MlsClient.load("mimi-attachments:alice");
    const fresh = await MlsClient.open("zoe-" + Math.random().toString(36).slice(2));
    const again = await MlsClient.open(fresh.identity);
    const replaced = await MlsClient.create(fresh.identity, { replace: true });
    return {
      code, sameKey: key(opened) === key(alice.client) && key(loaded) === key(alice.client),
      groups: opened.groupIds().length, openTwiceSame: key(again) === key(fresh), replacedNew: key(replaced) !== key(fresh),
    };
  });
  assert(r.code === "MimiAttachmentsError/AlreadyExists" && r.sameKey && r.groups === 1 && r.openTwiceSame && r.replacedNew, JSON.stringify(r));
  return r;
});

await test("removed_member_gets_forbidden_through_the_api", async () => {
  const r = await page.evaluate(async () => {
    const { MlsClient, DsClient, panes: { alice } } = window.demo;
    const erin = await MlsClient.create("erin", { storeName: null });
    const eds = new DsClient("", erin, { devLogin: true });
    await eds.publishKeyPackage();
    await alice.ds.addMember(alice.group, "erin");
    const eg = await eds.joinFromWelcome();
    const ref = await alice.ds.sendAttachment(alice.group, new Blob([new Uint8Array(300_000).fill(7)]));
    const mine = eg.receiveAttachment(ref.contentType(), alice.group.ownLeafIndex, eg.epoch);
    const before = (await (await eds.downloadToBlob(eg, mine)).arrayBuffer()).byteLength;
    await alice.ds.removeMember(alice.group, eg.ownLeafIndex);
    let code = "no error";
    try { await eds.downloadToBlob(eg, mine); } catch (e) { code = e.code; }
    let fetchCode = "no error";
    try { await eds.fetchMessages(eg, {}); } catch (e) { fetchCode = e.code; }
    const stillOk = (await (await alice.ds.downloadToBlob(alice.group, ref)).arrayBuffer()).byteLength;
    return { before, code, fetchCode, stillOk };
  });
  assert(r.before === 300_000 && r.code === "Forbidden" && r.fetchCode === "Forbidden" && r.stillOk === 300_000, JSON.stringify(r));
  return r;
});

await test("upload_resumes_after_the_ds_restarts", async () => {
  const f = await randomFile("holiday.mp4", 96 * MiB);
  await page.setInputFiles(`${pane("alice")} input.file`, f.path);
  const li = `${pane("alice")} li[data-upload="holiday.mp4"]`;
  await page.waitForFunction((sel) => { const b = document.querySelector(`${sel} progress`); return b && b.value > 650 && b.value < 900; }, li, { timeout: 300_000, polling: 20 });
  await killDs();
  await new Promise((r) => setTimeout(r, 500));
  await startDs();
  await page.waitForSelector(`${li}[data-uploaded]`, { timeout: 300_000 });
  await page.waitForSelector(`${pane("bob")} li[data-file="holiday.mp4"][data-ref]`, { timeout: 60_000 });
  const r = await page.evaluate(async () => {
    const bob = window.demo.panes.bob;
    const id = Number(document.querySelector('section[data-member="bob"] li[data-file="holiday.mp4"]').dataset.ref);
    const blob = await bob.ds.downloadToBlob(bob.group, bob.refs.get(id));
    const h = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
    return [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
  });
  assert(r === f.sha256, "SHA-256 mismatch after the resumed upload");
  return { size: f.size };
});

if (replicas) {
  await test("requests_spread_over_both_replicas", async () => {
    const served = replicas.map((r) => r.served ?? 0), all = served[0] + served[1];
    assert(all > 100 && Math.min(...served) > all / 5, `one replica served almost everything: ${served}`);
    return { served };
  });
}

if (consoleErrors.length) console.log(`    console errors during the run (not only on load): ${consoleErrors.length}`);
await context.close();
for (const p of replicas ? replicas.map((r) => r.proc) : [ds]) p?.kill("SIGTERM");
await writeFile(join(ART, "report.json"), JSON.stringify(report, null, 2) + "\n");
for (const d of [data, files, profile]) await rm(d, { recursive: true, force: true });
console.log(`screenshots: ${ART}`);
const passed = results.filter(Boolean).length, failed = results.length - passed;
console.log(`test result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed`);
process.exit(failed || results.length === 0 ? 1 : 0);
