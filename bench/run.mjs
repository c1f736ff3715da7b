// The benchmark: ours vs the browser's ceilings vs the peer, in headless Chromium, on this
// machine. Prints numbers and writes docs/BENCHMARKS.md, docs/benchmarks.json and
// docs/benchmarks.png. It asserts nothing about time.
//
//   node bench/run.mjs [--sizes 16,64,256,1024] [--reps 3] [--ds target/ds/mimi-ds] [--only-app]
//
// --big-reps N: repetitions at 1 GiB and above (default 2). --only-app: only the as-apps-call-it rows (main thread, Blob sinks, File and in-memory Blob)
// and the peer, without the ceiling and drain rows. Without --ds (or with a missing binary) the
// Delivery Service rows are skipped.
import { createServer } from "node:http";
import { createServer as netServer } from "node:net";
import { spawn, execFileSync } from "node:child_process";
import { readFile, readdir, mkdtemp, rm, writeFile, stat, access, open } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import { tmpdir, cpus } from "node:os";
import { join, extname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const args = process.argv.slice(2);
const arg = (k, d) => (args.includes(k) ? args[args.indexOf(k) + 1] : d);
const SIZES = arg("--sizes", "16,64,256,1024").split(",").map(Number);
const REPS = Number(arg("--reps", "3"));
const DS = arg("--ds", join(ROOT, "target/ds/mimi-ds"));
// --input file (default): each size is a random file on disk picked through <input type=file>, as
// a user sends one; --input blob: an in-memory Blob of 4 MiB random parts (Chromium then holds
// the parts in the renderer: reading a 1 GiB one raises its RSS by ~1 GiB whatever reads it).
const INPUT = arg("--input", "file");
const ONLY_APP = args.includes("--only-app");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm" };

const http = createServer(async (req, res) => {
  const p = join(ROOT, decodeURIComponent(new URL(req.url, "http://x").pathname));
  const ok = ["/pkg/", "/bench/", "/node_modules/matrix-encrypt-attachment/"].some((d) => p.startsWith(ROOT + d));
  try { if (!ok) throw 0; res.writeHead(200, { "content-type": TYPES[extname(p)] ?? "application/octet-stream" }).end(await readFile(p)); }
  catch { res.writeHead(404).end(); }
});
await new Promise((r) => http.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${http.address().port}`;

const haveDs = await access(DS).then(() => true, () => false);
const dsPort = await new Promise((r) => { const s = netServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const dsData = await mkdtemp(join(tmpdir(), "mimi-bench-ds-"));
const ds = haveDs ? spawn(DS, ["--listen", `127.0.0.1:${dsPort}`, "--dev-identity", "--data-dir", dsData, "--max-file-bytes", "8GiB"], { stdio: "ignore" }) : null;
const dsUrl = `http://127.0.0.1:${dsPort}`;
if (!haveDs) console.log(`no Delivery Service binary at ${DS}: DS rows skipped`);
for (let i = 0; haveDs && i < 200; i++) { try { if ((await fetch(dsUrl + "/v1/health")).ok) break; } catch {} await new Promise((r) => setTimeout(r, 50)); }

async function rendererRssKiB() {
  let peak = 0;
  for (const pid of await readdir("/proc").catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      if (!(await readFile(`/proc/${pid}/cmdline`, "utf8")).includes("--type=renderer")) continue;
      const m = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, "utf8"));
      if (m) peak = Math.max(peak, Number(m[1]));
    } catch {}
  }
  return peak;
}

const profile = await mkdtemp(join(tmpdir(), "mimi-bench-chromium-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium", headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic", "--js-flags=--expose-gc"],
});
const page = context.pages()[0] ?? (await context.newPage());
page.on("pageerror", (e) => console.log(`  [pageerror] ${e.message}`));
await page.goto(`${base}/bench/bench.html`);
await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
for (let i = 0; i < 100; i++) { try { await access(join(profile, "Default", "blob_storage")); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }
await new Promise((r) => setTimeout(r, 3000)); // Chromium's small start-up Blob limits (TOOLCHAIN.md)

/** Runs one measurement after a full GC, sampling the renderer's RSS while it runs; `rssKiB` is
 *  the peak above the RSS the measurement started from. */
async function measure(name, arg = {}) {
  await page.evaluate(() => { window.gc?.(); });
  await new Promise((r) => setTimeout(r, 300));
  const start = await rendererRssKiB();
  let peak = start, on = true;
  const sampler = (async () => { while (on) { peak = Math.max(peak, await rendererRssKiB()); await new Promise((r) => setTimeout(r, 100)); } })();
  try {
    const v = await page.evaluate(([n, a]) => window.measure(n, a), [name, arg]);
    return { ...v, rssKiB: Math.max(peak, await rendererRssKiB()) - start };
  } finally { on = false; await sampler; }
}
const stats = (xs) => { const s = xs.filter((x) => typeof x === "number").sort((a, b) => a - b); return s.length ? { median: s[Math.floor((s.length - 1) / 2)], min: s[0], max: s.at(-1) } : null; };

await measure("warmup");
await page.evaluate(() => { window.gc?.(); });
const idleKiB = await rendererRssKiB();
const results = { machine: {}, sizes: {}, ceilings: {}, idleRssMiB: idleKiB / 1024, loadavg: [] };
const load = async () => (await readFile("/proc/loadavg", "utf8")).split(" ").slice(0, 3).map(Number);
results.input = INPUT;
results.machine = {
  cpu: cpus()[0]?.model, cores: cpus().length,
  chromium: execFileSync("/usr/bin/chromium", ["--version"]).toString().trim(),
  date: new Date().toISOString(),
  loadAtStart: await load(),
};
console.log(`machine: ${results.machine.cpu} × ${results.machine.cores}, ${results.machine.chromium}`);

// Ceilings (in-memory, independent of file size).
for (const [name, key] of ONLY_APP ? [] : [["sha256Wasm", "sha256_wasm"], ["aesGcmWebCrypto", "aesgcm_webcrypto_256k"], ["chachaWasm", "chacha20poly1305_wasm"]]) {
  const runs = [];
  for (let i = 0; i < REPS; i++) runs.push((await measure(name)).mbps);
  results.ceilings[key] = stats(runs);
  console.log(`ceiling ${key}: ${results.ceilings[key].median.toFixed(0)} MB/s`);
}

for (const mib of SIZES) {
  let file = null;
  if (INPUT === "file") {
    file = join(dsData, `input-${mib}.bin`);
    const fh = await open(file, "w");
    for (let i = 0; i < mib; i += 4) await fh.write(randomBytes(Math.min(4, mib - i) << 20));
    await fh.close();
    await page.setInputFiles("#file", file);
    await measure("useFile", { mib });
  } else {
    await measure("makeBlob", { mib });
  }
  await measure("makeBlob", { mib, key: `${mib}b` }); // the in-memory Blob of the app rows
  const reps = mib >= 1024 ? Math.min(REPS, Number(arg("--big-reps", "2"))) : REPS;
  const r = (results.sizes[mib] = {});
  const run = async (label, name, a, field = "mbps") => {
    const xs = [], rss = [], extra = [];
    for (let i = 0; i < reps; i++) {
      const v = await measure(name, { mib, ...a });
      if (v.failed) { r[label] = { failed: v.failed }; console.log(`  ${mib} MiB ${label}: FAILED ${v.failed}`); return; }
      xs.push(v[field]); rss.push(v.rssKiB); extra.push(v);
    }
    r[label] = { ...stats(xs), peakRssMiB: Math.max(...rss) / 1024, longestTaskMs: Math.max(...extra.map((v) => v.longestTaskMs ?? 0)), runs: extra.map(({ rssKiB, ...o }) => o) };
    console.log(`  ${mib} MiB ${label}: median ${r[label].median.toFixed(0)} MB/s (min ${r[label].min.toFixed(0)}, max ${r[label].max.toFixed(0)}), peak renderer RSS ${r[label].peakRssMiB.toFixed(0)} MiB, longest main-thread task ${r[label].longestTaskMs.toFixed(0)} ms`);
  };
  // As apps call it (main thread, Blob sinks), interleaved with the peer the same way.
  for (const input of ["file", "blob"]) {
    if (input === "file" && !file) continue;
    await run(`app_encrypt_response_${input}`, "appEncrypt", { input, sink: "response" });
    await run(`app_encrypt_helper_${input}`, "appEncrypt", { input, sink: "helper" });
    await run(`app_decrypt_blob_${input}`, "appDecrypt", { input });
  }
  await run("sink_response_blob", "sinkResponse", {});
  await run("sink_blob_of_buffer", "sinkBuffer", {});
  await run("matrix_app_encrypt", "matrixAppEncrypt", {});
  await run("matrix_app_decrypt", "matrixAppDecrypt", {});
  r.loadavg = await load();
  if (ONLY_APP) { await measure("dropBlob", { mib }); if (file) { await page.setInputFiles("#file", []); await rm(file, { force: true }); } continue; }
  await run("read_blob_stream", "readStream", {});
  await run("js_blob_aesgcm", "jsBlobAesGcm", {});
  await run("ours_encrypt_suite1_webcrypto", "oursEncrypt", { suite: 1, backend: "auto" });
  await measure("prepareCiphertext", { mib, suite: 1, backend: "auto" });
  await run("ours_decrypt_suite1_webcrypto", "oursDecrypt", { suite: 1, backend: "auto" });
  await run("ours_encrypt_suite3_wasm", "oursEncrypt", { suite: 3, backend: "auto" });
  await measure("prepareCiphertext", { mib, suite: 3, backend: "auto" });
  await run("ours_decrypt_suite3_wasm", "oursDecrypt", { suite: 3, backend: "auto" });
  await run("matrix_encrypt", "matrixEncrypt", {});
  await run("matrix_decrypt", "matrixDecrypt", {});
  if (haveDs) {
    await run("ds_upload_suite1", "viaDs", { url: dsUrl }, "uploadMbps");
    r.ds_download_suite1 = { ...stats(r.ds_upload_suite1?.runs?.map((x) => x.downloadMbps) ?? []) };
    console.log(`  ${mib} MiB ds_download_suite1: median ${r.ds_download_suite1.median?.toFixed(0)} MB/s`);
  }
  {
    const f = await measure("fpsWithWorker", { mib });
    r.fps_worker_encrypt = f;
    console.log(`  ${mib} MiB main-thread fps while a Worker encrypts: ${f.fps.toFixed(1)} (worker ${f.workerMbps?.toFixed(0)} MB/s), longest main-thread task ${f.longestTaskMs.toFixed(0)} ms`);
  }
  r.wasmMemoryMiB = (await measure("wasmMemory")).bytes / (1 << 20);
  await writeFile(join(ROOT, "docs/benchmarks.partial.json"), JSON.stringify(results, null, 2) + "\n"); // a run cut short
  await measure("dropBlob", { mib });
  if (file) { await page.setInputFiles("#file", []); await rm(file, { force: true }); }
}

const wasm = await readFile(join(ROOT, "pkg/mimi_attachments_bg.wasm"));
const glue = await readFile(join(ROOT, "pkg/mimi_attachments.js"));
results.size = { wasmBytes: wasm.length, wasmGzipBytes: gzipSync(wasm, { level: 9 }).length, jsGlueBytes: glue.length, jsGlueGzipBytes: gzipSync(glue, { level: 9 }).length };
console.log(`size: wasm ${results.size.wasmBytes} B (gzip ${results.size.wasmGzipBytes} B), JS glue ${results.size.jsGlueBytes} B`);

await context.close();
ds?.kill("SIGTERM");
http.close();
await rm(profile, { recursive: true, force: true });
await rm(dsData, { recursive: true, force: true });
await writeFile(join(ROOT, "docs/benchmarks.json"), JSON.stringify(results, null, 2) + "\n");
execFileSync("python3", [join(ROOT, "bench/report.py")], { stdio: "inherit" });
