// Opens the built app (served by `vite preview`) in headless Chromium and waits for the page to
// report the round trip: document.title "ok" or "failed". Usage: node run-browser.mjs <url>
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const require = createRequire(import.meta.url);
const { chromium } = require(process.env.PLAYWRIGHT_CORE || path.join(root, "node_modules/playwright-core"));

const url = process.argv[2];
if (!url) {
  console.error("usage: node run-browser.mjs <url>");
  process.exit(2);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  timeout: 60_000,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
  ],
});
let ok = false;
try {
  const page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push("pageerror: " + e.message));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push("console.error: " + m.text());
  });
  page.on("requestfailed", (r) => problems.push("request failed: " + r.url()));
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  const resp = await page.goto(url, { timeout: 60_000 });
  if (!resp || !resp.ok()) throw new Error("page load: " + (resp ? resp.status() : "no response"));
  await page.waitForFunction(() => document.title === "ok" || document.title === "failed", null, {
    timeout: 120_000,
  });
  const title = await page.title();
  const text = await page.textContent("#out");
  console.log(text.trimEnd());
  for (const p of problems) console.error(p);
  ok = title === "ok" && problems.length === 0;
} catch (e) {
  console.error("browser test error: " + (e && e.stack ? e.stack : e));
} finally {
  await browser.close();
}
process.exit(ok ? 0 : 1);
