// Runs the package's JS API tests in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core), against pkg/ (wasm-pack --target web) served from 127.0.0.1.
//
//   node tests/browser/run.mjs [--only NAME] [--big]      (--big: also the 256 MiB memory test)
//
// MIMI_PKG_DIR=DIR serves /pkg/ from DIR (relative to the repository root; default "pkg"), to test
// another build of the package. /tests/vectors/*.json are served too (tests/browser/adversarial.mjs).
//
// Prints "test NAME ... ok|FAILED" per test and a closing "test result: ok. N passed; M failed".
import { createServer } from "node:http";
import { readFile, stat, mkdtemp, writeFile, rm, access } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, extname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const args = process.argv.slice(2);
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : null;
const big = args.includes("--big");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

const PKG = resolve(ROOT, process.env.MIMI_PKG_DIR ?? "pkg");

const server = createServer(async (req, res) => {
  const url = decodeURIComponent(new URL(req.url, "http://x").pathname);
  const path = url.startsWith("/pkg/") ? join(PKG, url.slice("/pkg/".length)) : join(ROOT, url);
  const allowed = path.startsWith(PKG + "/") || path.startsWith(ROOT + "/tests/browser/")
    || (path.startsWith(ROOT + "/tests/vectors/") && extname(path) === ".json");
  if (!allowed) { res.writeHead(404).end(); return; }
  try {
    const body = await readFile(path);
    res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", "cache-control": "no-store" }).end(body);
  } catch { res.writeHead(404).end(); }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}`;

const profile = await mkdtemp(join(tmpdir(), "mimi-browser-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
const page = context.pages()[0] ?? (await context.newPage());
page.on("console", (m) => { if (m.type() === "error" || process.env.VERBOSE) console.log(`    [page ${m.type()}] ${m.text()}`); });
page.on("pageerror", (e) => console.log(`    [pageerror] ${e.message}`));
const open = async () => { await page.goto(`${base}/tests/browser/index.html`); await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 }); };
await open();

const results = [];
async function test(name, fn) {
  if (only && only !== name) return;
  const t0 = Date.now();
  try {
    const info = await fn();
    results.push(true);
    console.log(`test ${name} ... ok (${Date.now() - t0} ms)${info ? " " + JSON.stringify(info) : ""}`);
  } catch (e) {
    results.push(false);
    console.log(`test ${name} ... FAILED (${Date.now() - t0} ms)\n    ${String(e.message ?? e).split("\n").join("\n    ")}`);
  }
}
const run = (name, arg) => page.evaluate(([n, a]) => window.runTest(n, a), [name, arg]);

for (const name of await page.evaluate(() => window.testNames)) {
  await test(name, () => run(name));
}

await test("disk_backed_file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "mimi-file-"));
  const path = join(dir, "holiday.mov");
  const data = randomBytes(24 << 20);
  await writeFile(path, data);
  await page.setInputFiles("#file", path);
  const r = await run("disk_backed_file", { sha256: createHash("sha256").update(data).digest("hex"), size: data.length });
  await rm(dir, { recursive: true });
  return r;
});

await test("state_survives_a_page_reload", async () => {
  await run("reload_before");
  await page.reload();
  await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
  return run("reload_after");
});

const dsBin = args.includes("--ds") ? args[args.indexOf("--ds") + 1] : null;
if (dsBin) {
  // The transport against the real Delivery Service on another origin (CORS).
  const { spawn } = await import("node:child_process");
  const net = await import("node:net");
  const port = await new Promise((r) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
  const data = await mkdtemp(join(tmpdir(), "mimi-ds-"));
  const ds = spawn(dsBin, ["--listen", `127.0.0.1:${port}`, "--dev-identity", "--data-dir", data], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) { try { if ((await fetch(url + "/v1/health")).ok) break; } catch {} await new Promise((r) => setTimeout(r, 50)); }
  await test("ds_transport", () => run("ds_transport", { url }));
  await test("ds_error_codes", () => run("ds_error_codes", { url }));
  await test("upload_resumes_after_a_page_reload", async () => {
    await run("resume_before", { url });
    await page.waitForFunction(() => window.__uploaded > 0.3, null, { timeout: 120_000, polling: 20 });
    await page.reload();
    await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
    return run("resume_after");
  });
  ds.kill("SIGKILL");
  await rm(data, { recursive: true, force: true });
}

if (big) {
  // Chromium starts with small Blob limits until the profile's blob storage exists (TOOLCHAIN.md).
  for (let i = 0; i < 100; i++) { try { await access(join(profile, "Default", "blob_storage")); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }
  await test("bounded_memory_256mib", () => run("bounded_memory", { mib: 256 }));
}

await context.close();
server.close();
await rm(profile, { recursive: true, force: true });
const passed = results.filter(Boolean).length, failed = results.length - passed;
console.log(`test result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed`);
process.exit(failed || results.length === 0 ? 1 : 0);
