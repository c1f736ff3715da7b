// The streaming Service Worker (js/sw.js + js/serve.js, shipped as mimi-attachments/sw.js and
// mimi-attachments/serve) in headless Chromium against the real DS:
// * a file picked from disk, sent (resumable upload), then downloaded by the browser to disk as it
//   decrypts: byte-exact by SHA-256 (SW_DOWNLOAD_MIB, default 64; the benchmark runs 4096 with
//   `SW_DOWNLOAD_MIB=4096 node tests/browser/sw.mjs --only sw_file_from_disk_to_disk_is_byte_exact`),
//   with the renderer's peak RSS and the time of each half;
// * the same download of an attachment whose last ciphertext byte was flipped at the DS: the
//   browser's download fails and leaves no file;
// * an <audio> element seeks to the middle of a WAV attachment through the worker: it plays from
//   a Range, and fewer bytes than the whole file are fetched and decrypted.
//
//   node tests/browser/sw.mjs --ds target/debug/mimi-ds
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { mkdtemp, readFile, readdir, rm, stat, open } from "node:fs/promises";
import { createReadStream, createWriteStream } from "node:fs";
import { createHash, randomFillSync } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PKG, startBrowserTests } from "./harness.mjs";

const args = process.argv.slice(2);
const dsBin = args.includes("--ds") ? args[args.indexOf("--ds") + 1] : "target/debug/mimi-ds";
const DOWNLOAD_MIB = Number(process.env.SW_DOWNLOAD_MIB ?? 64);
const MiB = 1 << 20;
const { base, page, test, finish } = await startBrowserTests({
  profilePrefix: "mimi-sw-",
  // The worker at the origin's root so that its scope covers the test page.
  route: async (url, res) => {
    if (url !== "/mimi-sw.js") return false;
    res.writeHead(200, { "content-type": "text/javascript", "service-worker-allowed": "/", "cache-control": "no-store" }).end(await readFile(join(PKG, "sw.js")));
    return true;
  },
});

const port = await new Promise((r) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => r(p)); }); });
const data = await mkdtemp(join(tmpdir(), "mimi-sw-ds-"));
const ds = spawn(dsBin, ["--listen", `127.0.0.1:${port}`, "--dev-identity", "--data-dir", data, "--max-file-bytes", "5GiB", "--group-quota-bytes", "12GiB"], { stdio: "ignore" });
const url = `http://127.0.0.1:${port}`;
for (let i = 0; i < 200; i++) { try { if ((await fetch(url + "/v1/health")).ok) break; } catch {} await new Promise((r) => setTimeout(r, 50)); }

await page.goto(`${base}/tests/browser/sw.html`);
await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
await page.evaluate(() => window.tests.setup());
const call = (name, arg) => page.evaluate(([n, a]) => window.tests[n](a), [name, arg]);
const sha = (b) => createHash("sha256").update(b).digest("hex");

/** SHA-256 of a file on disk, streamed. */
const shaFile = (path) => new Promise((res, rej) => { const h = createHash("sha256"); createReadStream(path).on("data", (d) => h.update(d)).on("end", () => res(h.digest("hex"))).on("error", rej); });

/** Peak VmRSS (MiB) of Chromium's renderer processes until stop(). */
function rssPeak() {
  let peak = 0, on = true;
  (async () => {
    while (on) {
      for (const pid of await readdir("/proc").catch(() => [])) {
        if (!/^\d+$/.test(pid)) continue;
        const cmd = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
        if (!cmd.includes("--type=renderer")) continue;
        const m = /VmRSS:\s+(\d+)/.exec(await readFile(`/proc/${pid}/status`, "utf8").catch(() => ""));
        if (m) peak = Math.max(peak, Number(m[1]) / 1024);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return () => { on = false; return Math.round(peak); };
}

await test("sw_file_from_disk_to_disk_is_byte_exact", async () => {
  const src = join(data, "source.bin");
  const h = createHash("sha256"), out = createWriteStream(src), buf = Buffer.alloc(8 * MiB);
  for (let left = DOWNLOAD_MIB * MiB; left > 0; left -= buf.length) {
    const b = left >= buf.length ? buf : buf.subarray(0, left);
    randomFillSync(b); h.update(b);
    if (!out.write(b)) await new Promise((r) => out.once("drain", r));
  }
  await new Promise((r) => out.end(r));
  const want = h.digest("hex");
  await page.setInputFiles("#file", src);
  const idle = rssPeak(); await new Promise((r) => setTimeout(r, 500)); const idleMiB = idle();
  const peak = rssPeak();
  const t0 = Date.now();
  const [dl, sent] = await Promise.all([page.waitForEvent("download", { timeout: 1_800_000 }), call("sendPicked", { url })]);
  const failure = await dl.failure();
  const downloadMs = Date.now() - t0 - sent.sentMs;
  const peakMiB = peak();
  await rm(src, { force: true });
  if (failure) throw new Error(`download failed: ${failure}`);
  const path = await dl.path();
  const got = await shaFile(path);
  const size = (await stat(path)).size;
  await rm(path, { force: true });
  if (size !== sent.size || got !== want) throw new Error(`saved file differs: ${size} bytes, ${got} vs ${want}`);
  const mb = (ms) => Math.round((sent.size / 1e6) / (ms / 1000));
  return { mib: DOWNLOAD_MIB, sendMBps: mb(sent.sentMs), downloadToDiskMBps: mb(downloadMs), rendererIdleMiB: idleMiB, rendererPeakMiB: peakMiB };
});

await test("sw_download_of_a_tampered_attachment_fails_and_keeps_nothing", async () => {
  // Flip the last byte of every stored blob at the DS before the download starts: the last
  // chunk's tag (and the whole-file hash) no longer verify.
  const before = new Set(await readdir(join(data, "blobs")).catch(() => []));
  const sendAndTamper = async () => {
    const p = call("download", { url, mib: 4 });
    // The new blob appears once the upload completes; tamper with it before Bob's download reads the end.
    for (let i = 0; i < 600; i++) {
      const fresh = (await readdir(join(data, "blobs")).catch(() => [])).filter((f) => !before.has(f));
      if (fresh.length) {
        const f = join(data, "blobs", fresh[0]);
        const h = await open(f, "r+");
        const { size } = await stat(f);
        const b = Buffer.alloc(1);
        await h.read(b, 0, 1, size - 1);
        b[0] ^= 1;
        await h.write(b, 0, 1, size - 1);
        await h.close();
        return p;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("no new blob at the DS");
  };
  const [dl] = await Promise.all([page.waitForEvent("download", { timeout: 120_000 }), sendAndTamper()]);
  const failure = await dl.failure();
  if (!failure) throw new Error("the download of a tampered attachment succeeded");
  const path = await dl.path().catch(() => null);
  if (path) throw new Error(`a file was kept: ${path}`);
  return { failure };
});

await test("sw_response_errors_when_the_page_cannot_open_the_attachment", async () => {
  const r = await call("openFails");
  if (!r.failed) throw new Error("the body of a failed open was read as if complete");
  return r;
});

await test("audio_seeks_to_the_middle_through_the_sw_fetching_less_than_the_file", async () => {
  const r = await call("seek", { url, secs: 180 });
  const startsPastMiddle = r.stats.ranges.some(([s]) => s >= r.size * 0.4);
  if (!startsPastMiddle) throw new Error(`no Range request near the middle: ${JSON.stringify(r.stats.ranges)}`);
  if (!(r.stats.bytes < r.size * 0.8)) throw new Error(`fetched ${r.stats.bytes} of ${r.size} bytes`);
  if (!r.buffered.some(([a, b]) => a <= r.currentTime + 0.01 && b > r.currentTime)) throw new Error(`nothing buffered at the seek target: ${JSON.stringify(r.buffered)}`);
  return { size: r.size, served: r.stats.bytes, requests: r.stats.requests, ranges: r.stats.ranges.slice(0, 6) };
});

ds.kill("SIGKILL");
await rm(data, { recursive: true, force: true });
await finish();
