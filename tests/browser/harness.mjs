// The node side shared by the browser test runners (run.mjs, mimi_content.mjs): a static server
// on 127.0.0.1 for /pkg/ (MIMI_PKG_DIR, default "pkg") and tests/browser/, the browser, and the
// "test NAME ... ok|FAILED" / "test result: ok. N passed; M failed" reporting with --only NAME.
// The browser is headless Chromium (Debian's, through playwright-core) in a throwaway profile, or
// with `--engine webkit` WebKit (Debian's WebKitGTK MiniBrowser under Xvfb, through the W3C
// WebDriver client in webdriver.mjs, which offers the same few `page` methods).
import { createServer } from "node:http";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, extname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const PKG = resolve(ROOT, process.env.MIMI_PKG_DIR ?? "pkg");
const TYPES = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };

/**
 * Starts the server and the browser. `route(url, res, req)` may answer a request itself (return true);
 * `allow(path)` widens what is served from the repository beyond /pkg/ and tests/browser/.
 */
export async function startBrowserTests({ profilePrefix, route = () => false, allow = () => false, downloadDir = null, firefoxPrefs = {} }) {
  const args = process.argv.slice(2);
  const only = args.includes("--only") ? args[args.indexOf("--only") + 1].split(",") : null;
  const engine = args.includes("--engine") ? args[args.indexOf("--engine") + 1] : "chromium";
  if (!["chromium", "webkit", "firefox"].includes(engine)) throw new Error(`--engine ${engine}: chromium, webkit or firefox`);
  const server = createServer(async (req, res) => {
    const url = decodeURIComponent(new URL(req.url, "http://x").pathname);
    if (await route(url, res, req)) return;
    const path = url.startsWith("/pkg/") ? join(PKG, url.slice("/pkg/".length)) : join(ROOT, url);
    if (!(path.startsWith(PKG + "/") || path.startsWith(ROOT + "/tests/browser/") || allow(path))) { res.writeHead(404).end(); return; }
    try {
      const body = await readFile(path);
      res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream", "cache-control": "no-store" }).end(body);
    } catch { res.writeHead(404).end(); }
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${server.address().port}`;

  let page, profile = null, close;
  if (engine === "webkit" || engine === "firefox") {
    const { startWebKit, startFirefox } = await import("./webdriver.mjs");
    const wd = engine === "webkit" ? await startWebKit() : await startFirefox({ downloadDir, extraPrefs: firefoxPrefs });
    console.log(`engine: ${engine === "webkit" ? "WebKit" : "Firefox"} (${wd.version})`);
    page = wd.page;
    close = wd.close;
  } else {
    profile = await mkdtemp(join(tmpdir(), profilePrefix));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("console", (m) => { if (m.type() === "error" || process.env.VERBOSE) console.log(`    [page ${m.type()}] ${m.text()}`); });
    page.on("pageerror", (e) => console.log(`    [pageerror] ${e.message}`));
    close = async () => { await context.close(); await rm(profile, { recursive: true, force: true }); };
  }

  const results = [];
  async function test(name, fn) {
    if (only && !only.includes(name)) return;
    const t0 = Date.now();
    try {
      const info = await fn();
      results.push(true);
      console.log(`test ${name} ... ok (${Date.now() - t0} ms)${info ? " " + JSON.stringify(info) : ""}`);
    } catch (e) {
      results.push(false);
      console.log(`test ${name} ... FAILED (${Date.now() - t0} ms)\n    ${String(e.stack ?? e.message ?? e).split("\n").join("\n    ")}`);
    }
  }
  /** A test that cannot run in this engine: named with the reason, never silently left out
   *  (docs/WEBKIT.md lists them). Counted neither as passed nor as failed. */
  function notApplicable(name, reason) {
    if (only && !only.includes(name)) return;
    console.log(`test ${name} ... not applicable in ${{ webkit: "WebKit", firefox: "Firefox" }[engine] ?? engine}: ${reason}`);
  }
  /** Closes everything, prints the closing line and exits (1 if a test failed or none ran). */
  async function finish() {
    await close();
    server.close();
    const passed = results.filter(Boolean).length, failed = results.length - passed;
    console.log(`test result: ${failed ? "FAILED" : "ok"}. ${passed} passed; ${failed} failed`);
    process.exit(failed || results.length === 0 ? 1 : 0);
  }
  return { base, page, profile, engine, test, notApplicable, finish };
}

/** RSS (KiB) of the renderer processes and of the main (browser) process of the browser whose
 *  profile directory is `profile` (read from /proc: Linux, Chromium). */
export function browserRss(profile) {
  let renderer = 0, browser = 0;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let cmd;
    try { cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8"); } catch { continue; }
    if (!cmd.includes(profile)) continue;
    let kb = 0;
    try { kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0); } catch { continue; }
    if (cmd.includes("--type=renderer")) renderer += kb; else if (!cmd.includes("--type=")) browser += kb;
  }
  return { renderer, browser };
}

/** Starts the Delivery Service binary `bin` (`--dev-identity`, then `extra` flags) on a free loopback port with a
 *  throwaway data directory (`dataDir`); resolves once `/v1/health` answers. `stop()` kills it
 *  and removes the directory. */
export async function startDs(bin, extra = []) {
  const { spawn } = await import("node:child_process");
  const net = await import("node:net");
  const port = await new Promise((r) => { const s = net.createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
  const data = await mkdtemp(join(tmpdir(), "mimi-ds-"));
  const ds = spawn(bin, ["--listen", `127.0.0.1:${port}`, "--dev-identity", "--data-dir", data, ...extra], { stdio: "ignore" });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) { try { if ((await fetch(url + "/v1/health")).ok) break; } catch {} await new Promise((r) => setTimeout(r, 50)); }
  return { url, dataDir: data, stop: async () => { ds.kill("SIGKILL"); await rm(data, { recursive: true, force: true }); } };
}
