// Runs the package's JS API tests in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core), against pkg/ (wasm-pack --target web) served from 127.0.0.1.
//
//   node tests/browser/run.mjs [--only NAME,NAME] [--big] [--engine chromium|webkit|firefox]
//     (--big: also the 256 MiB memory, OPFS-save and long-task tests; --engine webkit: WebKit, Safari's engine, through
//     WebKitWebDriver under Xvfb; the tests it cannot run are printed as "not applicable in
//     WebKit: <reason>" and listed in docs/WEBKIT.md with what WebKit lacks)
//
// MIMI_PKG_DIR=DIR serves /pkg/ from DIR (relative to the repository root; default "pkg"), to test
// another build of the package. /tests/vectors/*.json are served too (tests/browser/adversarial.mjs).
//
// Prints "test NAME ... ok|FAILED" per test and a closing "test result: ok. N passed; M failed".
import { mkdtemp, writeFile, rm, access } from "node:fs/promises";
import { createHash, randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join, extname } from "node:path";
import { ROOT, browserRss, startBrowserTests, startDs } from "./harness.mjs";

const args = process.argv.slice(2);
const big = args.includes("--big");
const { base, page, profile, engine, test, notApplicable, finish } = await startBrowserTests({
  profilePrefix: "mimi-browser-",
  allow: (path) => path.startsWith(ROOT + "/tests/vectors/") && extname(path) === ".json",
});
const open = async () => { await page.goto(`${base}/tests/browser/index.html`); await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 }); };
await open();

const run = (name, arg) => page.evaluate(([n, a]) => window.runTest(n, a), [name, arg]);

for (const name of await page.evaluate(() => window.testNames)) {
  if (engine === "webkit" && name === "main_thread_has_no_long_task") notApplicable(name, "WebKit's own `new Response(stream).blob()` and in-memory `Blob.stream()` read are tasks of 54-105 ms at 48 MiB with no code of ours running (measured with the same probe), so the probe cannot tell our tasks from them; docs/WEBKIT.md");
  else await test(name, () => run(name));
}

if (engine === "webkit") {
  // What WebKit has and lacks, detected in the page, must be what docs/WEBKIT.md says.
  await test("webkit_features_as_documented", async () => {
    const { readFile } = await import("node:fs/promises");
    const doc = await readFile(join(ROOT, "docs/WEBKIT.md"), "utf8");
    const want = Object.fromEntries([...doc.matchAll(/^\| [^|]+\| `(\w+)` \| (yes|no) \|/gm)].map((m) => [m[1], m[2] === "yes"]));
    const got = await page.evaluate(async (url) => (await import("/tests/browser/features.mjs")).detect(url), `${base}/probe`);
    const wrong = Object.keys(want).filter((k) => got[k] !== want[k]).map((k) => `${k}: detected ${got[k]}, documented ${want[k]}`);
    const missing = Object.keys(got).filter((k) => k !== "opfsError" && !(k in want));
    if (Object.keys(want).length < 20 || wrong.length || missing.length) throw new Error(`docs/WEBKIT.md is not what WebKit does: ${[...wrong, ...missing.map((k) => `${k} not documented`)].join("; ")}`);
    return { checked: Object.keys(want).length, lacks: Object.keys(want).filter((k) => !want[k]).length };
  });
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

// Saving to disk as it decrypts, into the Origin Private File System (tests/browser/save.mjs).
const SAVE_MIB = 32;
if (engine === "webkit") notApplicable("save_to_opfs", "WebKitGTK 2.50 has no navigator.storage (no OPFS); save_to_writable_stream covers saveTo with a plain WritableStream");
else await test("save_to_opfs", () => run("save_to_opfs", { mib: SAVE_MIB }));

await test("state_survives_a_page_reload", async () => {
  await run("reload_before");
  await page.reload();
  await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
  return run("reload_after");
});

const dsBin = args.includes("--ds") ? args[args.indexOf("--ds") + 1] : null;
if (dsBin) {
  // The transport against the real Delivery Service on another origin (CORS).
  const ds = await startDs(dsBin);
  const url = ds.url;
  await test("ds_transport", () => run("ds_transport", { url }));
  await test("ds_error_codes", () => run("ds_error_codes", { url }));
  await test("ds_identity", () => run("ds_identity", { url }));
  if (engine === "webkit") notApplicable("download_to_opfs", "WebKitGTK 2.50 has no navigator.storage (no OPFS)");
  else await test("download_to_opfs", () => run("download_to_opfs", { url }));
  if (engine === "webkit") {
    notApplicable("upload_resumes_after_a_page_reload", "an ephemeral WebKit session (WebDriver automation, like Safari's Private Browsing) cannot store the File in IndexedDB; upload_without_indexeddb_blobs tests the fallback");
    // The fallback: a persisting client's resumable upload goes on without its IndexedDB record.
    await test("upload_without_indexeddb_blobs", () => page.evaluate(async (url) => {
      const mimi = await import("/pkg/mimi_attachments.js");
      const { detect } = await import("/tests/browser/features.mjs");
      const { randomBytes, equal, bytesOf } = await import("/tests/browser/common.mjs");
      if ((await detect(url)).indexedDbStoresBlobs) throw new Error("this engine stores Blobs in IndexedDB: nothing to fall back from");
      for (const n of ["nb-alice", "nb-bob"]) await mimi.MlsClient.deleteStored(n);
      const a = await mimi.MlsClient.create("nb-alice", { storeName: "nb-alice" });
      const b = await mimi.MlsClient.create("nb-bob", { storeName: "nb-bob" });
      const da = new mimi.DsClient(url, a, { devLogin: true }), db = new mimi.DsClient(url, b, { devLogin: true });
      await db.publishKeyPackage();
      const ag = await da.createGroup();
      await da.addMember(ag, "nb-bob");
      const bg = await db.joinFromWelcome();
      const data = randomBytes(20 * (1 << 20) + 11); // resumable: 8 MiB PATCHes
      const phases = new Set();
      const ref = await da.sendAttachment(ag, new Blob([data]), { onProgress: (p) => phases.add(p.phase) });
      if (!phases.has("upload")) throw new Error("no upload progress");
      if ((await da.pendingUploads()).length !== 0) throw new Error("a pending upload was left");
      const r = bg.receiveAttachment(ref.contentType(), ag.ownLeafIndex, bg.epoch);
      if (!equal(await bytesOf(await db.downloadToBlob(bg, r)), data)) throw new Error("downloaded bytes differ");
      for (const n of ["nb-alice", "nb-bob"]) await mimi.MlsClient.deleteStored(n);
      return { bytes: data.length };
    }, url));
  } else {
    await test("upload_resumes_after_a_page_reload", async () => {
      await run("resume_before", { url });
      await page.waitForFunction(() => window.__uploaded > 0.3, null, { timeout: 120_000, polling: 20 });
      await page.reload();
      await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });
      return run("resume_after");
    });
  }
  await ds.stop();
}

if (big) {
  // Chromium starts with small Blob limits until the profile's blob storage exists (TOOLCHAIN.md).
  if (profile) for (let i = 0; i < 100; i++) { try { await access(join(profile, "Default", "blob_storage")); break; } catch { await new Promise((r) => setTimeout(r, 100)); } }
  await test("bounded_memory_256mib", () => run("bounded_memory", { mib: 256 }));
  // Issues 17/18: no task over 50 ms during a 256 MiB encrypt and decrypt called from the page.
  if (engine !== "webkit") await test("main_thread_has_no_long_task_256mib", () => run("main_thread_has_no_long_task", { sizes: [256 * (1 << 20) + 12345] }));
  // Renderer memory while `saveTo` decrypts 256 MiB into OPFS: what it adds above the moment it
  // started must stay far below the file (a sink that buffered the file would add >= 256 MiB).
  if (engine === "chromium") await test("save_to_opfs_256mib_bounded_memory", async () => {
    const samples = [];
    const sample = () => samples.push({ t: Date.now(), kb: browserRss(profile).renderer });
    const timer = setInterval(sample, 50);
    let r;
    try { r = await run("save_to_opfs", { mib: 256 }); } finally { clearInterval(timer); }
    const before = samples.filter((x) => x.t <= r.saveStart).at(-1);
    const during = samples.filter((x) => x.t >= r.saveStart && x.t <= r.saveEnd);
    if (!before || during.length < 5) throw new Error(`too few RSS samples (${during.length}) around saveTo`);
    const peak = Math.max(...during.map((x) => x.kb));
    const addedMiB = Math.round((peak - before.kb) / 1024);
    const out = { ...r, rendererAtStartMiB: Math.round(before.kb / 1024), rendererPeakMiB: Math.round(peak / 1024), addedMiB, samples: during.length };
    delete out.saveStart; delete out.saveEnd;
    if (addedMiB > 96) throw new Error(`the renderer grew ${addedMiB} MiB during a 256 MiB saveTo: ${JSON.stringify(out)}`);
    return out;
  });
}

await finish();
