// The streaming Service Worker (js/sw.js + js/serve.js, shipped as mimi-attachments/sw.js and
// mimi-attachments/serve) in headless Chromium against the real DS:
// * a file picked from disk, sent (resumable upload), then downloaded by the browser to disk as it
//   decrypts: byte-exact by SHA-256 (SW_DOWNLOAD_MIB, default 64; the benchmark runs 4096 with
//   `SW_DOWNLOAD_MIB=4096 node tests/browser/sw.mjs --only sw_file_from_disk_to_disk_is_byte_exact`),
//   with the renderer's peak RSS and the time of each half;
// * the same file downloaded with `DsClient.downloadTo` into an OPFS file (no worker), posted back
//   to this script and hashed: byte-exact (SW_DOWNLOAD_MIB too);
// * a response that streams for 12 s outlives the worker's idle timeout (Firefox's shortened to
//   3 s here): the page's keep-alive pings;
// * the worker's download response read by the page (every engine): byte-exact, with its
//   Content-Disposition (RFC 5987 filename) and type;
// * the same download of an attachment whose last ciphertext byte was flipped at the DS: the
//   browser's download fails and leaves no file;
// * an <audio> element seeks to the middle of a WAV attachment through the worker: it plays from
//   a Range, and fewer bytes than the whole file are fetched and decrypted;
// * a <video> seeks to the middle of a 60 s VP8/WebM attachment (made by ffmpeg at run time): a
//   Range request near the middle, the frame at 30 s presented, under half the file fetched
//   (measured ~15% in Chromium, ~20% in Firefox).
//
//   node tests/browser/sw.mjs --ds target/debug/mimi-ds [--engine firefox|webkit]
//
// With --engine firefox (Firefox ESR through geckodriver, tests/browser/webdriver.mjs) the
// downloads land in a directory of this run, watched until Firefox renames `<name>.part`. The
// seek tests run there too; Firefox's `buffered` does not list the middle of a WAV, so that one
// check is Chromium's only. With --engine webkit (WebKitGTK under Xvfb) the worker's responses,
// its error path and its lifetime run; the download and OPFS tests are printed as not applicable,
// and so are the two seeks unless --webkit-media is given (they pass, but once crashed WebKit's
// page under CI load).
import { spawn } from "node:child_process";
import { mkdtemp, readFile, readdir, rm, stat, open } from "node:fs/promises";
import { createReadStream, createWriteStream } from "node:fs";
import { createHash, randomFillSync } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PKG, startBrowserTests, startDs } from "./harness.mjs";

const args = process.argv.slice(2);
const dsBin = args.includes("--ds") ? args[args.indexOf("--ds") + 1] : "target/debug/mimi-ds";
const DOWNLOAD_MIB = Number(process.env.SW_DOWNLOAD_MIB ?? 64);
const webkitMedia = args.includes("--webkit-media");
const WEBKIT_MEDIA = "WebKitGTK's page crashed in a seek test under CI load (session deleted because of a page crash, in its GStreamer media stack under Xvfb); both seeks pass in WebKit run on their own: --webkit-media runs them";
const MiB = 1 << 20;
const downloads = await mkdtemp(join(tmpdir(), "mimi-sw-downloads-"));
const { base, page, engine, test, notApplicable, finish } = await startBrowserTests({
  profilePrefix: "mimi-sw-",
  downloadDir: downloads,
  // Firefox ends a Service Worker 30 s after its last event (5 min with a pending waitUntil);
  // shortened here so that sw_outlives_the_browsers_idle_timeout checks the keep-alive in seconds.
  firefoxPrefs: { "dom.serviceWorkers.idle_timeout": 3000, "dom.serviceWorkers.idle_extended_timeout": 6000 },
  // The worker at the origin's root so that its scope covers the test page.
  route: async (url, res, req) => {
    // The page posts a file it saved (to OPFS) here: its SHA-256 and size, computed as it streams.
    if (url === "/sha256" && req.method === "POST") {
      const h = createHash("sha256");
      let size = 0;
      for await (const b of req) { h.update(b); size += b.length; }
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ sha256: h.digest("hex"), size }));
      return true;
    }
    if (url !== "/mimi-sw.js") return false;
    res.writeHead(200, { "content-type": "text/javascript", "service-worker-allowed": "/", "cache-control": "no-store" }).end(await readFile(join(PKG, "sw.js")));
    return true;
  },
});

const ds = await startDs(dsBin, ["--max-file-bytes", "5GiB", "--group-quota-bytes", "12GiB"]);
const url = ds.url;
const data = ds.dataDir; // the DS's files: the test sources live there, and the tampering test edits a stored blob

await page.goto(`${base}/tests/browser/sw.html`);
await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
// The page pings the worker every second (the default is 10 s, against Firefox's 30 s).
await page.evaluate(() => window.tests.setup({ keepaliveMs: 1000 }));
const call = (name, arg) => page.evaluate(([n, a]) => window.tests[n](a), [name, arg]);

/**
 * The next browser download: `{ path }` when it completed, `{ failure }` when it did not.
 * Chromium: Playwright's download event. Firefox: the download directory, until a file appears
 * whose `.part` is gone (complete) or until Firefox removes the `.part` without a file (failed).
 */
async function nextDownload(timeout) {
  if (engine !== "firefox") {
    const dl = await page.waitForEvent("download", { timeout });
    const failure = await dl.failure();
    return failure ? { failure, path: await dl.path().catch(() => null) } : { path: await dl.path() };
  }
  const before = new Set(await readdir(downloads));
  let sawPart = false, lastSize = -1, stillSince = Date.now();
  for (const t0 = Date.now(); Date.now() - t0 < timeout; await new Promise((r) => setTimeout(r, 100))) {
    const now = (await readdir(downloads)).filter((f) => !before.has(f));
    const part = now.find((f) => f.endsWith(".part"));
    const done = now.find((f) => !f.endsWith(".part"));
    sawPart ||= !!part;
    if (part) {
      const n = (await stat(join(downloads, part)).catch(() => ({ size: -1 }))).size;
      if (n !== lastSize) { lastSize = n; stillSince = Date.now(); }
      // A failed download in Firefox keeps its .part; nothing more arrives.
      else if (Date.now() - stillSince > 5000) return { failure: `stopped: ${part} kept at ${n} bytes` };
    }
    if (done && !part) {
      // Firefox creates the final name (empty) next to the .part; a completed one outlives it.
      await new Promise((r) => setTimeout(r, 300));
      const still = (await readdir(downloads)).includes(done);
      if (still) return { path: join(downloads, done) };
      return { failure: "removed by the browser" };
    }
    if (sawPart && !part && !done) return { failure: "removed by the browser" };
  }
  return { failure: `no download finished within ${timeout} ms` };
}
const sha = (b) => createHash("sha256").update(b).digest("hex");

/** SHA-256 of a file on disk, streamed. */
const shaFile = (path) => new Promise((res, rej) => { const h = createHash("sha256"); createReadStream(path).on("data", (d) => h.update(d)).on("end", () => res(h.digest("hex"))).on("error", rej); });

/** Peak VmRSS (MiB) of Chromium's renderer processes until stop(). */
/** Writes `size` random bytes to `path` in 8 MiB pieces; their SHA-256 (hex). */
async function randomFile(path, size) {
  const h = createHash("sha256"), out = createWriteStream(path), buf = Buffer.alloc(8 * MiB);
  for (let left = size; left > 0; left -= buf.length) {
    const b = left >= buf.length ? buf : buf.subarray(0, left);
    randomFillSync(b); h.update(b);
    if (!out.write(b)) await new Promise((r) => out.once("drain", r));
  }
  await new Promise((r) => out.end(r));
  return h.digest("hex");
}

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

if (engine === "webkit") notApplicable("sw_file_from_disk_to_disk_is_byte_exact", "WebKitWebDriver cannot observe a browser download (no download directory or event); the worker's streaming, errors and Range are checked by the other tests");
else await test("sw_file_from_disk_to_disk_is_byte_exact", async () => {
  const src = join(data, "source.bin");
  const want = await randomFile(src, DOWNLOAD_MIB * MiB);
  await page.setInputFiles("#file", src);
  const idle = rssPeak(); await new Promise((r) => setTimeout(r, 500)); const idleMiB = idle();
  const peak = rssPeak();
  const t0 = Date.now();
  const [dl, sent] = await Promise.all([nextDownload(1_800_000), call("sendPicked", { url })]);
  const downloadMs = Date.now() - t0 - sent.sentMs;
  const peakMiB = peak();
  await rm(src, { force: true });
  if (dl.failure) throw new Error(`download failed: ${dl.failure}`);
  const path = dl.path;
  const got = await shaFile(path);
  const size = (await stat(path)).size;
  await rm(path, { force: true });
  if (size !== sent.size || got !== want) throw new Error(`saved file differs: ${size} bytes, ${got} vs ${want}`);
  const mb = (ms) => Math.round((sent.size / 1e6) / (ms / 1000));
  const memory = engine === "chromium" ? { rendererIdleMiB: idleMiB, rendererPeakMiB: peakMiB } : {}; // Chromium's process names only
  return { mib: DOWNLOAD_MIB, sendMBps: mb(sent.sentMs), downloadToDiskMBps: mb(downloadMs), ...memory };
});

if (engine === "webkit") notApplicable("opfs_file_from_disk_to_disk_is_byte_exact", "WebKitGTK 2.50 has no navigator.storage (no OPFS)");
else await test("opfs_file_from_disk_to_disk_is_byte_exact", async () => {
  // The same way without the worker: downloadTo() into an OPFS file (SW_DOWNLOAD_MIB; the
  // benchmark runs 4096), which the page then posts back here to be hashed.
  const src = join(data, "source-opfs.bin");
  const want = await randomFile(src, DOWNLOAD_MIB * MiB);
  await page.setInputFiles("#file", src);
  const idle = rssPeak(); await new Promise((r) => setTimeout(r, 500)); const idleMiB = idle();
  const peak = rssPeak();
  const r = await call("sendPickedToOpfs", { url });
  const peakMiB = peak();
  await rm(src, { force: true });
  if (r.savedSize !== r.size || r.posted.size !== r.size || r.posted.sha256 !== want) throw new Error(`saved file differs: ${JSON.stringify(r)} vs ${want}`);
  const mb = (ms) => Math.round((r.size / 1e6) / (ms / 1000));
  const memory = engine === "chromium" ? { rendererIdleMiB: idleMiB, rendererPeakMiB: peakMiB } : {};
  return { mib: DOWNLOAD_MIB, sendMBps: mb(r.sentMs), downloadToOpfsMBps: mb(r.downloadMs), ...memory };
});

if (engine === "webkit") notApplicable("sw_download_of_a_tampered_attachment_fails_and_keeps_nothing", "WebKitWebDriver cannot observe a browser download");
else await test("sw_download_of_a_tampered_attachment_fails_and_keeps_nothing", async () => {
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
  const [dl] = await Promise.all([nextDownload(120_000), sendAndTamper()]);
  if (!dl.failure) throw new Error(`the download of a tampered attachment succeeded: ${dl.path}`);
  if (engine === "firefox") {
    // Firefox keeps a failed download's `.part` (the verified chunks before the bad one) and an
    // empty file under the final name, and lists the download as failed: the final file never
    // holds unverified bytes. Cleaned up here; an app cannot delete from the Downloads folder.
    const left = (await readdir(downloads)).filter((f) => f.startsWith("report"));
    const sizes = Object.fromEntries(await Promise.all(left.map(async (f) => [f, (await stat(join(downloads, f))).size])));
    const final = Object.entries(sizes).filter(([f]) => !f.endsWith(".part"));
    if (final.some(([, n]) => n > 0)) throw new Error(`a non-empty final file was kept: ${JSON.stringify(sizes)}`);
    for (const f of left) await rm(join(downloads, f), { force: true });
    return { failure: dl.failure, left: sizes };
  }
  if (dl.path) throw new Error(`a file was kept: ${dl.path}`);
  const left = (await readdir(downloads)).filter((f) => f.includes("report"));
  if (left.length) throw new Error(`files left in the download directory: ${left}`);
  return { failure: dl.failure };
});

await test("sw_download_response_is_byte_exact_with_its_headers", async () => {
  // In every engine (WebKit too, where the browser's own download cannot be observed): the
  // response the browser writes to disk, read by the page.
  const r = await call("fetchServed", { url, mib: 8 });
  if (r.status !== 200 || !r.same || r.size !== r.want) throw new Error(`body: ${JSON.stringify(r)}`);
  if (r.disposition !== "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9%201.pdf") throw new Error(`content-disposition: ${r.disposition}`);
  if (!r.type?.startsWith("application/pdf") || (r.length !== null && Number(r.length) !== r.want)) throw new Error(`headers: ${JSON.stringify(r)}`);
  return { size: r.size, disposition: r.disposition, length: r.length };
});

await test("sw_outlives_the_browsers_idle_timeout", async () => {
  // A body that takes 12 s, longer than the worker's idle and extended timeouts set above for
  // Firefox (3 s / 6 s): without the page's keep-alive pings and the fetch event's waitUntil,
  // Firefox ended the worker and the response stopped short (a 4 GiB download was saved at
  // 460 MiB).
  const r = await call("slowServed", { secs: 12 });
  if (r.error || !r.same || r.got !== r.size) throw new Error(`cut short: ${JSON.stringify(r)}`);
  return r;
});

await test("sw_response_errors_when_the_page_cannot_open_the_attachment", async () => {
  const r = await call("openFails");
  if (!r.failed) throw new Error("the body of a failed open was read as if complete");
  return r;
});

if (engine === "webkit" && !webkitMedia) notApplicable("audio_seeks_to_the_middle_through_the_sw_fetching_less_than_the_file", WEBKIT_MEDIA);
else await test("audio_seeks_to_the_middle_through_the_sw_fetching_less_than_the_file", async () => {
  const r = await call("seek", { url, secs: 180 });
  const startsPastMiddle = r.stats.ranges.some(([s]) => s >= r.size * 0.4);
  if (!startsPastMiddle) throw new Error(`no Range request near the middle: ${JSON.stringify(r.stats.ranges)}`);
  if (!(r.stats.bytes < r.size * 0.8)) throw new Error(`fetched ${r.stats.bytes} of ${r.size} bytes`);
  // Data at the seek target: HAVE_CURRENT_DATA or more there. (Firefox's `buffered` for WAV does
  // not list the range it read from the middle, so it is checked in Chromium only.)
  if (r.readyState < 2 || Math.abs(r.at - r.currentTime) > 0.5) throw new Error(`not ready at the seek target: readyState ${r.readyState}, at ${r.at}`);
  if (engine === "chromium" && !r.buffered.some(([a, b]) => a <= r.currentTime + 0.01 && b > r.currentTime)) throw new Error(`nothing buffered at the seek target: ${JSON.stringify(r.buffered)}; ranges ${JSON.stringify(r.stats.ranges)}, ${r.stats.bytes} bytes`);
  return { size: r.size, served: r.stats.bytes, requests: r.stats.requests, ranges: r.stats.ranges.slice(0, 6) };
});

if (engine === "webkit" && !webkitMedia) notApplicable("video_seeks_to_the_middle_through_the_sw_fetching_less_than_the_file", WEBKIT_MEDIA);
else await test("video_seeks_to_the_middle_through_the_sw_fetching_less_than_the_file", async () => {
  // A real container: 60 s of VP8 in WebM (ffmpeg's testsrc2, a key frame every second, its index (Cues) up front, ~10 MB;
  // installed by scripts/setup.sh), made here so nothing binary is committed.
  const dir = await mkdtemp(join(tmpdir(), "mimi-sw-video-"));
  const path = join(dir, "clip.webm");
  await new Promise((res, rej) => {
    const p = spawn("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=426x240:rate=25", "-t", "60",
      "-c:v", "libvpx", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "4M", "-minrate", "4M", "-maxrate", "4M", "-g", "25", "-an", "-cues_to_front", "1", path], { stdio: "inherit" });
    p.on("error", (e) => rej(new Error(`ffmpeg (scripts/setup.sh installs it): ${e.message}`)));
    p.on("exit", (c) => (c === 0 ? res() : rej(new Error(`ffmpeg exited with ${c}`))));
  });
  try {
    await page.setInputFiles("#file", path);
    const r = await call("seekVideo", { url });
    const summary = { size: r.size, duration: r.duration, at: r.at, frameTime: r.frameTime, served: r.stats.bytes, requests: r.stats.requests, ranges: r.stats.ranges.slice(0, 8) };
    if (!(Math.abs(r.duration - 60) < 1) || r.width !== 426) throw new Error(`not the video: ${JSON.stringify(summary)}`);
    if (!r.stats.ranges.some(([s]) => s >= r.size * 0.3 && s <= r.size * 0.7)) throw new Error(`no Range request near the middle: ${JSON.stringify(summary)}`);
    // Measured: ~15% in Chromium, ~20% in Firefox (the header and index, then a second or so at
    // the middle); WebKit reads ahead further on the first request (27-66% seen), so it gets 0.8.
    if (!(r.stats.bytes < r.size * (engine === "webkit" ? 0.8 : 0.5))) throw new Error(`fetched ${r.stats.bytes} of ${r.size} bytes: ${JSON.stringify(summary)}`);
    if (r.readyState < 2 || Math.abs(r.at - r.target) > 1) throw new Error(`not ready at the seek target: ${JSON.stringify(summary)}, readyState ${r.readyState}`);
    // A decoded frame presented at the target (Chromium and Firefox both have
    // requestVideoFrameCallback; null only where an engine lacks it).
    if (r.frameTime !== null && (typeof r.frameTime !== "number" || Math.abs(r.frameTime - r.target) > 1)) throw new Error(`no frame presented at the target: ${JSON.stringify(summary)}`);
    if (engine === "chromium" && r.frameTime === null) throw new Error("Chromium has requestVideoFrameCallback");
    if (engine === "chromium" && !r.buffered.some(([a, b]) => a <= r.at + 0.01 && b > r.at)) throw new Error(`nothing buffered at the seek target: ${JSON.stringify(r.buffered)}`);
    return summary;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

await ds.stop();
await rm(downloads, { recursive: true, force: true });
await finish();
