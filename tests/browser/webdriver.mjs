// A small W3C WebDriver client (plain fetch) for WebKit, the engine of Safari: Debian's
// WebKitGTK `WebKitWebDriver` (package webkit2gtk-driver) driving its MiniBrowser in automation
// mode, under `xvfb-run` (package xvfb); and for Firefox ESR through geckodriver (headless), where
// Playwright's own Firefox build is not available (startFirefox, with a download directory). playwright-core cannot drive WebKitWebDriver, so this
// offers the few `page` methods the runners use (goto, reload, evaluate, waitForFunction,
// setInputFiles) with the same meaning as Playwright's, over the W3C protocol.
//
// Every request is bounded by a timeout; close() deletes the session and kills the process group
// of xvfb-run (the driver, Xvfb and the browser it started) by its id.
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { randomUUID } from "node:crypto";

const WEBKIT_DRIVER = process.env.WEBKIT_DRIVER ?? "/usr/bin/WebKitWebDriver";
const GECKODRIVER = process.env.GECKODRIVER ?? "geckodriver";
const FIREFOX = process.env.FIREFOX ?? "/usr/bin/firefox-esr";
const MINIBROWSER = process.env.WEBKIT_BROWSER ?? "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Arguments go to the page as JSON text with `undefined` (top level and inside arrays and
// objects) kept, as Playwright keeps it: `(x = default)` parameters must see undefined, not null.
const UNDEFINED = "\u0000undefined";
const encode = (arg) => JSON.stringify(arg === undefined ? UNDEFINED : arg, (k, v) => (v === undefined ? UNDEFINED : v));
const REVIVE = `JSON.parse(a, (k, v) => (v === ${JSON.stringify(UNDEFINED)} ? undefined : v))`;

const freePort = () => new Promise((resolve, reject) => {
  const s = createServer();
  s.on("error", reject);
  s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => resolve(p)); });
});

/** One WebDriver command; rejects with the driver's error (or a timeout) as an Error. */
async function command(base, method, path, body, timeoutMs = 60_000) {
  const r = await fetch(base + path, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = await r.json().catch(() => ({ value: { error: "bad response", message: `HTTP ${r.status}` } }));
  if (!r.ok || (json.value && json.value.error)) {
    const v = json.value ?? {};
    throw new Error(`WebDriver ${method} ${path}: ${v.error ?? r.status}: ${v.message ?? ""}`);
  }
  return json.value;
}

/**
 * Starts Xvfb + WebKitWebDriver + a MiniBrowser session. Returns `{ page, close, version }`.
 * `page` runs functions in the page: they are sent as source text (like Playwright's), so they
 * must not close over node variables; pass those as the argument.
 */
export async function startWebKit({ startTimeoutMs = 60_000 } = {}) {
  const port = await freePort();
  return startSession({
    port, startTimeoutMs, name: "WebKitWebDriver",
    argv: ["xvfb-run", "-a", "-s", "-screen 0 1280x1024x24 -nolisten tcp", WEBKIT_DRIVER, `--port=${port}`, "--host=local"],
    capabilities: { "webkitgtk:browserOptions": { binary: MINIBROWSER, args: ["--automation"] } },
  });
}

/**
 * Starts geckodriver + headless Firefox ESR; downloads go to `downloadDir` without asking
 * (Firefox writes `<name>.part`, then renames it when the download completes).
 */
export async function startFirefox({ downloadDir, startTimeoutMs = 60_000, extraPrefs = {} } = {}) {
  const port = await freePort();
  const prefs = { ...extraPrefs, ...(downloadDir ? {
    "browser.download.folderList": 2, "browser.download.dir": downloadDir, "browser.download.useDownloadDir": true,
    "browser.download.always_ask_before_handling_new_types": false, "browser.download.manager.showWhenStarting": false,
    "browser.helperApps.neverAsk.saveToDisk": "application/octet-stream", "browser.download.start_downloads_in_tmp_dir": false,
  } : {}) };
  return startSession({
    port, startTimeoutMs, name: "geckodriver",
    argv: [GECKODRIVER, `--port=${port}`, "--host=127.0.0.1"],
    capabilities: { browserName: "firefox", "moz:firefoxOptions": { binary: FIREFOX, args: ["-headless"], prefs } },
  });
}

async function startSession({ port, startTimeoutMs, name, argv, capabilities }) {
  // Its own process group (detached): close() kills the driver and everything it started.
  const proc = spawn(argv[0], argv.slice(1), {
    detached: true, stdio: ["ignore", "ignore", process.env.VERBOSE ? "inherit" : "ignore"],
  });
  let exited = false;
  proc.on("exit", () => { exited = true; });
  const killAll = () => { if (!exited) { try { process.kill(-proc.pid, "SIGKILL"); } catch {} } };
  process.on("exit", killAll); // also on process.exit() from a failed run

  const base = `http://127.0.0.1:${port}`;
  let session = null;
  try {
    const t0 = Date.now();
    for (;;) {
      if (exited) throw new Error(`${name} exited at start (is it installed? scripts/setup.sh)`);
      try { if ((await command(base, "GET", "/status", undefined, 2000)).ready) break; } catch {}
      if (Date.now() - t0 > startTimeoutMs) throw new Error(`${name} did not become ready`);
      await sleep(100);
    }
    const caps = await command(base, "POST", "/session", { capabilities: { alwaysMatch: capabilities } }, startTimeoutMs);
    session = `/session/${caps.sessionId}`;
    // The driver's own limits stay above ours: each call below has its own bound.
    await command(base, "POST", `${session}/timeouts`, { script: 600_000, pageLoad: 120_000, implicit: 0 });
    const version = `${caps.capabilities.browserName} ${caps.capabilities.browserVersion}`;

    const wd = (method, path, body, ms) => command(base, method, session + path, body, ms);
    const sync = (script, args, ms) => wd("POST", "/execute/sync", { script, args }, ms);

    const page = {
      async goto(url) { await wd("POST", "/url", { url }, 120_000); },
      async reload() { await wd("POST", "/refresh", {}, 120_000); },
      /** Playwright's page.evaluate(fn, arg): awaits fn(arg) in the page; its JSON value or its error. */
      async evaluate(fn, arg, { timeout = 600_000 } = {}) {
        const key = randomUUID();
        await sync(`const [src, a, key] = arguments;
          const arg = ${REVIVE};
          const w = (window.__wd ??= {});
          w[key] = { done: false };
          Promise.resolve().then(() => (0, eval)("(" + src + ")")(arg)).then(
            (value) => { w[key] = { done: true, ok: true, value: value === undefined ? null : value }; },
            (e) => { w[key] = { done: true, ok: false, message: String(e && e.message || e), stack: String(e && e.stack || "") }; });
          return true;`, [fn.toString(), encode(arg), key]);
        const t0 = Date.now();
        for (let wait = 5; ; wait = Math.min(wait * 2, 200)) {
          const r = await sync(`const w = window.__wd && window.__wd[arguments[0]];
            if (!w || !w.done) return w ? null : { done: true, ok: false, message: "the page navigated away" };
            delete window.__wd[arguments[0]]; return w;`, [key]);
          if (r) {
            if (r.ok) return r.value;
            const e = new Error(r.message);
            e.stack = `Error: ${r.message}\n    in WebKit: ${r.stack.split("\n").join("\n    in WebKit: ")}`;
            throw e;
          }
          if (Date.now() - t0 > timeout) throw new Error(`evaluate: no result after ${timeout} ms`);
          await sleep(wait);
        }
      },
      /** Playwright's page.waitForFunction(fn, arg, { timeout, polling }). */
      async waitForFunction(fn, arg, { timeout = 30_000, polling = 50 } = {}) {
        const t0 = Date.now();
        for (;;) {
          let ok = false;
          try { ok = await sync(`const a = arguments[1]; return !!((0, eval)("(" + arguments[0] + ")"))(${REVIVE});`, [fn.toString(), encode(arg)]); } catch {}
          if (ok) return;
          if (Date.now() - t0 > timeout) throw new Error(`waitForFunction: not true after ${timeout} ms: ${fn}`);
          await sleep(polling);
        }
      },
      /** Playwright's page.setInputFiles(selector, path) for one file: Element Send Keys. */
      async setInputFiles(selector, path) {
        const el = await wd("POST", "/element", { using: "css selector", value: selector });
        const id = el["element-6066-11e4-a52e-4f735466cecf"];
        await wd("POST", `/element/${id}/value`, { text: path });
      },
    };
    const close = async () => {
      try { await command(base, "DELETE", session, undefined, 20_000); } catch {}
      killAll();
      for (let i = 0; i < 50 && !exited; i++) await sleep(100);
    };
    return { page, close, version };
  } catch (e) {
    if (session) { try { await command(base, "DELETE", session, undefined, 10_000); } catch {} }
    killAll();
    throw e;
  }
}
