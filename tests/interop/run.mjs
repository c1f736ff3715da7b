// Cross-stack interop in headless Chromium: ts-mls (npm, an independent TypeScript RFC 9420
// implementation) and this package's openmls client in one MLS group, each side creating the group
// and adding the other by key package + Welcome, in cipher suites 1, 2 and 3; attachments sent both
// ways (chunked and one-shot), with byte-identical attachment_exporter_secrets asserted. The page
// side is tests/interop/page.mjs.
//
//   wasm-pack build --dev --target web --out-dir pkg
//   node tests/interop/run.mjs [--only NAME] [--ds target/debug/mimi-ds]
//
// Prints "test NAME ... ok|FAILED" and a closing "test result: ok. N passed; M failed".
import { join } from "node:path";
import { startBrowserTests, startDs, ROOT } from "../browser/harness.mjs";

const allow = (path) => path.startsWith(join(ROOT, "node_modules") + "/") || path.startsWith(join(ROOT, "tests/interop") + "/");
const { base, page, test, finish } = await startBrowserTests({ profilePrefix: "mimi-interop-", allow });
await page.goto(base + "/tests/interop/index.html");
await page.waitForFunction(() => window.ready === true, null, { timeout: 60_000 });

// Every suite the package runs groups in: 1 (X25519, AES-128-GCM, Ed25519), 2 (P-256 HPKE and
// ECDSA signatures) and 3 (ChaCha20-Poly1305).
for (const suite of [1, 2, 3]) {
  for (const creator of ["ts", "openmls"]) {
    await test(`suite${suite}_${creator}_creates_group_attachments_both_ways`, () =>
      page.evaluate(([s, c]) => window.interop.scenario(s, c), [suite, creator]));
  }
}

for (const build of ["full", "lite"]) await test(`exporter_helpers_refuse_bad_input_${build}`, async () => {
  const r = await page.evaluate((b) => window.interop.helperErrors(b), build);
  const want = ["MimiAttachmentsError/InvalidLength", "MimiAttachmentsError/InvalidArgument", "MimiAttachmentsError/InvalidArgument",
    "MimiAttachmentsError/UnknownCipherSuite", "MimiAttachmentsError/InvalidLength", "MimiAttachmentsError/InvalidLength"];
  if (JSON.stringify(r.codes) !== JSON.stringify(want)) throw new Error(`codes ${JSON.stringify(r.codes)} != ${JSON.stringify(want)}`);
  if (r.ctx !== r.want || !r.ctx.endsWith("00000000ffffffff")) throw new Error(`context ${r.ctx} != ${r.want}`);
});

// ts-mls's external_pub extension defect (docs/INTEROP.md), for suites 1 (X25519: 32-byte key)
// and 2 (P-256: 65 bytes): the extension holds the bare key, without its length prefix.
await test("ts_mls_external_pub_lacks_its_length_prefix", async () => {
  const r = await page.evaluate(async () => [await window.interop.externalPubDefect(1), await window.interop.externalPubDefect(2)]);
  for (const d of r) if (!(d.bareKey && d.extensionDataLength === d.keyLength)) throw new Error(`the defect is gone (update docs/INTEROP.md): ${JSON.stringify(d)}`);
  return r;
});

// The light build against the Delivery Service: an ExternalGroup (ts-mls's exporter and signing
// key as callbacks) and the light DsClient, with an openmls member on the full build.
const dsBin = process.argv.includes("--ds") ? process.argv[process.argv.indexOf("--ds") + 1] : null;
if (dsBin) {
  const ds = await startDs(dsBin);
  for (const suite of [1, 2, 3]) {
    for (const creator of ["ts", "openmls"]) {
      await test(`ds_suite${suite}_${creator}_registers_group_light_build_both_ways`, () =>
        page.evaluate(([s, c, u]) => window.interop.dsScenario(s, c, u), [suite, creator, ds.url]));
    }
  }
  await ds.stop();
}

await finish();
