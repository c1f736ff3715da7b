#!/usr/bin/env bash
# The package as a web chat app consumes it: pkg-bundler/ (wasm-pack --target bundler output) is
# finished by scripts/package.mjs and packed with `npm pack` into target/npm/; tests/vite-app
# installs Vite from its lockfile and then the package from that tarball (a real copy, as from the
# registry, not a link to the folder), is built with Vite 8 (no wasm plugin), and the built app runs
# in headless Chromium, served by `vite preview` on 127.0.0.1.
#
#   bash tests/vite-app/check.sh
#
# pkg-bundler/ is built first if it is missing (set MIMI_VITE_REBUILD=1 to rebuild it anyway).
# Env: CARGO_TARGET_DIR (for that build), CHROMIUM (default /usr/bin/chromium), PLAYWRIGHT_CORE.
# Prints cargo-style "test <name> ... ok|FAILED" lines and a "test result:" summary; exit 1 on
# any failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

passed=0
failed=0
result() { # name status
  if [ "$2" = ok ]; then
    passed=$((passed + 1)); echo "test $1 ... ok"
  else
    failed=$((failed + 1)); echo "test $1 ... FAILED"
  fi
}
summary() {
  if [ "$failed" -eq 0 ]; then
    echo "test result: ok. $passed passed; $failed failed"
    exit 0
  fi
  echo "test result: FAILED. $passed passed; $failed failed"
  exit 1
}

preview_pid=""
cleanup() {
  if [ -n "$preview_pid" ] && kill -0 "$preview_pid" 2>/dev/null; then
    kill "$preview_pid" 2>/dev/null
    wait "$preview_pid" 2>/dev/null
  fi
}
trap cleanup EXIT

# 1. The package output.
if [ "${MIMI_VITE_REBUILD:-0}" = 1 ] || [ ! -f "$root/pkg-bundler/package.json" ]; then
  echo "building pkg-bundler/ (wasm-pack --target bundler) ..."
  if ! (cd "$root" && PATH="$root/node_modules/.bin:$PATH" timeout 1800 \
        wasm-pack build --release --target bundler --out-dir pkg-bundler); then
    echo "wasm-pack build failed"
    result npm_pack_tarball_is_a_complete_package FAILED
    result vite_app_builds_with_the_bundler_package FAILED
    result vite_app_round_trips_an_attachment_in_chromium FAILED
    summary
  fi
fi

# The light build (no openmls), packaged as mimi-attachments/lite.
if [ "${MIMI_VITE_REBUILD:-0}" = 1 ] || [ ! -f "$root/pkg-bundler-lite/package.json" ]; then
  echo "building pkg-bundler-lite/ (wasm-pack --target bundler --no-default-features) ..."
  if ! (cd "$root" && PATH="$root/node_modules/.bin:$PATH" timeout 1800 \
        wasm-pack build --release --target bundler --out-dir pkg-bundler-lite --out-name mimi_attachments_lite -- --no-default-features); then
    echo "wasm-pack build (light) failed"
    result npm_pack_tarball_is_a_complete_package FAILED
    result vite_app_builds_with_the_bundler_package FAILED
    result vite_app_round_trips_an_attachment_in_chromium FAILED
    summary
  fi
fi

# 2. Pack the package and check the tarball: the files a consumer gets, the manifest's fields.
tarball=""
pack_ok=0
mkdir -p "$root/target/npm"
rm -f "$root"/target/npm/mimi-attachments-*.tgz
if node "$root/scripts/package.mjs" "$root/pkg-bundler" "$root/pkg-bundler-lite" \
   && name=$(cd "$root" && npm pack ./pkg-bundler --pack-destination target/npm --silent) \
   && tarball="$root/target/npm/$(basename "$name")" && [ -f "$tarball" ]; then
  problems=()
  listing=$(tar tzf "$tarball" | sort)
  for f in package/package.json package/README.md package/LICENSE package/mimi_attachments.js \
           package/mimi_attachments_bg.wasm package/mimi_attachments.d.ts \
           package/sw.js package/serve.js package/serve.d.ts \
           package/lite/mimi_attachments_lite.js package/lite/mimi_attachments_lite_bg.wasm package/lite/mimi_attachments_lite.d.ts; do
    grep -qx "$f" <<<"$listing" || problems+=("$f not in the tarball")
  done
  extra=$(grep -v -E '^package/(package\.json|README\.md|LICENSE|mimi_attachments(_bg)?\.(js|wasm|d\.ts)|mimi_attachments_bg\.wasm\.d\.ts|snippets/.*|sw\.js|serve\.(js|d\.ts)|lite/(mimi_attachments_lite(_bg)?\.(js|wasm|d\.ts)|mimi_attachments_lite_bg\.wasm\.d\.ts|snippets/.*))$' <<<"$listing" || true)
  [ -z "$extra" ] || problems+=("unexpected files in the tarball: $extra")
  # Every module the packed JS imports by a relative path is in the tarball.
  for js in $(grep -E '^package/.*\.js$' <<<"$listing"); do
    for dep in $(tar xzf "$tarball" -O "$js" | grep -oE "from ['\"]\./[^'\"]+['\"]" | sed -E "s/from ['\"]\.\/(.*)['\"]/\1/"); do
      grep -qx "$(dirname "$js")/$dep" <<<"$listing" || problems+=("$js imports ./$dep, which is not in the tarball")
    done
  done
  manifest=$(tar xzf "$tarball" -O package/package.json)
  if ! node -e '
    const p = JSON.parse(process.argv[1]); const bad = [];
    if (JSON.stringify(p).match(/example\.invalid/)) bad.push("placeholder URL");
    if (p.exports?.["."]?.types !== "./" + p.types) bad.push("exports[.].types");
    if (!p.exports?.["."]?.default) bad.push("exports[.].default");
    if (p.exports?.["./serve"]?.types !== "./serve.d.ts" || p.exports?.["./serve"]?.default !== "./serve.js") bad.push("exports[./serve]");
    if (p.exports?.["./sw.js"] !== "./sw.js") bad.push("exports[./sw.js]");
    if (p.exports?.["./lite"]?.types !== "./lite/mimi_attachments_lite.d.ts" || p.exports?.["./lite"]?.default !== "./lite/mimi_attachments_lite.js") bad.push("exports[./lite]");
    if (!p.sideEffects?.includes("./lite/mimi_attachments_lite.js")) bad.push("sideEffects of ./lite");
    if (!Array.isArray(p.sideEffects) || !p.sideEffects.includes("./" + p.module)) bad.push("sideEffects");
    if (p.type !== "module") bad.push("type");
    if (bad.length) { console.error("package.json: " + bad.join(", ")); process.exit(1); }' "$manifest"; then
    problems+=("package.json fields")
  fi
  readme=$(tar xzf "$tarball" -O package/README.md)
  grep -q "MlsClient.open" <<<"$readme" || problems+=("the packed README is not the package README")
  if grep -oE '\]\([^)]+\)' <<<"$readme" | grep -vqE '\]\((https?:|#)'; then problems+=("relative links in the packed README"); fi
  if [ "${#problems[@]}" -eq 0 ]; then
    echo "tarball: $(basename "$tarball") ($(du -k "$tarball" | cut -f1) KiB, $(wc -l <<<"$listing") files)"
    pack_ok=1
  else
    printf '  %s\n' "${problems[@]}"
  fi
fi
if [ "$pack_ok" = 1 ]; then result npm_pack_tarball_is_a_complete_package ok
else result npm_pack_tarball_is_a_complete_package FAILED; fi

# 3. Install Vite from the lockfile (registry only), then the package from the tarball; build.
build_ok=0
rm -rf dist
if [ "$pack_ok" = 1 ] && node -e '
  const lock = require("./package-lock.json");
  const bad = [];
  for (const [name, p] of Object.entries(lock.packages)) {
    if (p.resolved === undefined) continue;
    if (!p.resolved.startsWith("https://registry.npmjs.org/")) bad.push(name + " -> " + p.resolved);
  }
  if (lock.packages["node_modules/mimi-attachments"]) bad.push("mimi-attachments must come from the tarball, not the lockfile");
  if (bad.length) { console.error("package-lock.json: " + bad.join("; ")); process.exit(1); }
' && timeout 600 npm ci --no-audit --no-fund --loglevel=error \
  && timeout 600 npm install --no-save --no-audit --no-fund --loglevel=error "$tarball" \
  && [ -d node_modules/mimi-attachments ] && [ ! -L node_modules/mimi-attachments ] \
  && [ -f node_modules/mimi-attachments/README.md ] \
  && timeout 600 npx --no-install vite build --logLevel warn; then
  wasm=$(find dist -name '*.wasm' -size +100k | head -n 1)
  [ "$(find dist -name '*.wasm' -size +100k | wc -l)" -ge 2 ] || problems_lite="only one .wasm asset: the light entry point was not bundled"
  js=$(find dist/assets -name '*.js' | head -n 1)
  problems=()
  [ -z "${problems_lite:-}" ] || problems+=("$problems_lite")
  [ -n "$wasm" ] || problems+=("no .wasm asset (>100 KiB) in dist/")
  if [ -n "$wasm" ] && [ "$(head -c 4 "$wasm" | od -An -tx1 | tr -d ' \n')" != "0061736d" ]; then
    problems+=("$wasm is not a wasm module")
  fi
  [ -n "$js" ] || problems+=("no JS bundle in dist/assets/")
  if [ -n "$js" ]; then
    grep -q "$(basename "$js")" dist/index.html || problems+=("dist/index.html does not load $js")
    [ -z "$wasm" ] || grep -rqF "$(basename "$wasm")" dist/assets/*.js \
      || problems+=("no JS chunk refers to $(basename "$wasm")")
    grep -rqF "vite-alice" dist/assets/*.js || problems+=("the app code is not in the bundle")
  fi
  if [ "${#problems[@]}" -eq 0 ]; then
    echo "dist: $(du -k "$wasm" | cut -f1) KiB $(basename "$wasm"), JS $(ls dist/assets/*.js | xargs -n1 basename | tr '\n' ' ')"
    build_ok=1
  else
    printf '  %s\n' "${problems[@]}"
  fi
fi
if [ "$build_ok" = 1 ]; then result vite_app_builds_with_the_bundler_package ok
else result vite_app_builds_with_the_bundler_package FAILED; fi

# 4. Run the built app in headless Chromium.
browser_ok=0
if [ "$build_ok" = 1 ]; then
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  node ./node_modules/vite/bin/vite.js preview --host 127.0.0.1 --port "$port" --strictPort \
    > "$here/dist/.preview.log" 2>&1 &
  preview_pid=$!
  url="http://127.0.0.1:$port/"
  for _ in $(seq 1 100); do
    if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$url" 2>/dev/null; then
      break
    fi
    kill -0 "$preview_pid" 2>/dev/null || break
    sleep 0.2
  done
  if timeout 300 node run-browser.mjs "$url"; then
    browser_ok=1
  else
    echo "--- vite preview log"; cat "$here/dist/.preview.log"
  fi
  cleanup
  preview_pid=""
fi
if [ "$browser_ok" = 1 ]; then result vite_app_round_trips_an_attachment_in_chromium ok
else result vite_app_round_trips_an_attachment_in_chromium FAILED; fi

summary
