// Finishes a wasm-pack output directory as an npm package a bundler and TypeScript read right:
// `exports` (types first), `module`/`main`/`types`, `sideEffects`, `files` (the README and
// LICENSE are always packed by npm), no placeholder repository URL, and checks that every file
// the manifest names exists and that the README has no links relative to the repository.
//
//   node scripts/package.mjs pkg-bundler [pkg-bundler-lite]     (or pkg [pkg-lite])
//
// With a second directory (the light build: wasm-pack --no-default-features --out-name
// mimi_attachments_lite), its module, glue, types and snippets go into PKG_DIR/lite/ and the
// package exports them as `mimi-attachments/lite`.
import { readFileSync, writeFileSync, existsSync, copyFileSync, cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";

const dir = process.argv[2];
const liteDir = process.argv[3];
if (!dir || dir === "--help") { console.error("usage: node scripts/package.mjs PKG_DIR"); process.exit(2); }
const file = join(dir, "package.json");
if (!existsSync(file)) { console.error(`package: ${file} does not exist (run wasm-pack build first)`); process.exit(1); }
const p = JSON.parse(readFileSync(file, "utf8"));
const main = p.module ?? p.main;
const problems = [];
if (!main || !existsSync(join(dir, main))) problems.push(`entry ${main} missing`);
if (!p.types || !existsSync(join(dir, p.types))) problems.push(`types ${p.types} missing`);
const wasm = (p.files ?? []).find((f) => f.endsWith(".wasm"));
if (!wasm) problems.push("no .wasm in files");
if (p.repository && /example\.(invalid|com|org)|placeholder/i.test(JSON.stringify(p.repository))) delete p.repository;
// The streaming Service Worker (js/sw.js, a classic script an app serves from its origin) and its
// page side (js/serve.js + hand-written types, checked by tsc in tests/ts/consumer.ts).
const EXTRA = ["sw.js", "serve.js", "serve.d.ts"];
for (const f of EXTRA) copyFileSync(new URL(`../js/${f}`, import.meta.url), join(dir, f));
let lite = null;
if (liteDir) {
  const lp = JSON.parse(readFileSync(join(liteDir, "package.json"), "utf8"));
  const lmain = lp.module ?? lp.main;
  if (!lmain || !lp.types) problems.push(`light build in ${liteDir} has no entry or types`);
  const out = join(dir, "lite");
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  for (const f of readdirSync(liteDir)) if (f.startsWith("mimi_attachments_lite")) copyFileSync(join(liteDir, f), join(out, f));
  if (existsSync(join(liteDir, "snippets"))) cpSync(join(liteDir, "snippets"), join(out, "snippets"), { recursive: true });
  const lwasm = (lp.files ?? []).find((f) => f.endsWith(".wasm"));
  lite = { main: `./lite/${lmain}`, types: `./lite/${lp.types}`, wasm: `./lite/${lwasm}` };
  for (const f of [lite.main, lite.types, lite.wasm]) if (!existsSync(join(dir, f))) problems.push(`${f} missing`);
}
p.type = "module";
p.main = main;
p.module = main;
p.exports = {
  ".": { types: `./${p.types}`, default: `./${main}` },
  [`./${wasm}`]: `./${wasm}`,
  ...(lite ? { "./lite": { types: lite.types, default: lite.main }, [lite.wasm]: lite.wasm } : {}),
  "./serve": { types: "./serve.d.ts", default: "./serve.js" },
  "./sw.js": "./sw.js",
  "./package.json": "./package.json",
};
// Only the JS that instantiates the module has side effects (wasm-pack's own list, kept).
p.sideEffects ??= [`./${main}`, "./snippets/*"];
if (lite) p.sideEffects = [...new Set([...p.sideEffects, lite.main, "./lite/snippets/*"])];
p.files = [...new Set([...(p.files ?? []), ...EXTRA, ...(existsSync(join(dir, "snippets")) ? ["snippets"] : []), ...(lite ? ["lite"] : []), "README.md", "LICENSE"])].filter((f) => f === "README.md" || f === "LICENSE" || existsSync(join(dir, f)));
for (const f of p.files) if (!existsSync(join(dir, f))) problems.push(`${f} missing`);
const readme = existsSync(join(dir, "README.md")) ? readFileSync(join(dir, "README.md"), "utf8") : "";
if (!readme) problems.push("README.md missing");
const relative = [...readme.matchAll(/\]\(([^)]+)\)/g)].map((m) => m[1]).filter((u) => !/^(https?:|#|mailto:)/.test(u));
if (relative.length) problems.push(`README.md has links that do not work from the package: ${relative.join(", ")}`);
if (problems.length) { console.error(`package ${dir}: ${problems.join("; ")}`); process.exit(1); }
writeFileSync(file, JSON.stringify(p, null, 2) + "\n");
console.log(`package ${dir}: ${p.name}@${p.version}, exports ${Object.keys(p.exports).join(" ")}, files ${p.files.join(" ")}`);
