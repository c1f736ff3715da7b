#!/usr/bin/env bash
# Runs every test: native (core + Delivery Service), the independent vector check, the browser
# suite in headless Chromium, and the package builds. Installs what is missing first.
# Ends with one line "tests: N passed, M failed"; exits non-zero if anything failed or if the
# browser suite ran fewer tests than expected.
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
bash scripts/setup.sh || { echo "setup failed"; exit 1; }

export PATH="$PWD/node_modules/.bin:$PATH"   # npm's wasm-opt, tsc
LOG=$(mktemp -d)
passed=0; failed=0; problems=()
count() { # sums "N passed; M failed" of cargo/wasm-bindgen-test result lines in $1
  local p f
  p=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed' "$1" | awk '{s+=$4} END {print s+0}')
  f=$(grep -Eo '[0-9]+ failed' "$1" | awk '{s+=$1} END {print s+0}')
  echo "$p $f"
}
# The expected number of passing tests per step is a ratchet: scripts/test-counts.json, next to
# this script, holds the real counts of the last full run. A step that passes fewer fails the run
# (a lost suite or a test file that stopped being compiled); raise a count when tests are added.
COUNTS="scripts/test-counts.json"
want() { # want NAME: the expected count of step NAME from $COUNTS (0 if it has none)
  python3 -c 'import json,sys; print(int(json.load(open(sys.argv[1])).get(sys.argv[2], 0)))' "$COUNTS" "$1"
}
step() { # step NAME CMD...: runs CMD, counts its tests, requires at least $(want NAME) passed
  local name=$1 min; min=$(want "$1"); shift 1
  local t0=$(date +%s)
  echo "=== $name: $*"
  "$@" >"$LOG/$name.log" 2>&1; local rc=$?
  read -r p f < <(count "$LOG/$name.log")
  passed=$((passed + p)); failed=$((failed + f))
  echo "    $name: exit $rc, $p passed, $f failed, $(( $(date +%s) - t0 ))s"
  if [ "$p" -gt "$min" ]; then echo "    $name: $p passed, more than the $min in $COUNTS: raise it there"; fi
  if [ $rc -ne 0 ] || [ "$f" -gt 0 ] || [ "$p" -lt "$min" ]; then
    problems+=("$name (exit $rc, $p passed < $min expected?, $f failed)")
    tail -n 60 "$LOG/$name.log"
  fi
}

export CARGO_TERM_COLOR=never
step native cargo test --workspace
# The light build's core (no openmls: `--no-default-features`) on its own.
step native-lite cargo test -p mimi-attachments --no-default-features --lib
# The DS again on its scale-out backend: a throwaway PostgreSQL cluster and an s3s-fs server on
# loopback ports (scripts/ds-engines.sh), the same API/load/security suites, and two replicas.
# The engines stay up for the e2e suite's two-replica run below and stop when this script exits.
engines=0
if eval "$(bash scripts/ds-engines.sh start 2>"$LOG/engines.log")"; then
  engines=1
  trap 'bash scripts/ds-engines.sh stop >/dev/null 2>&1' EXIT
  step ds-pg-s3 env MIMI_DS_TEST_BACKEND=pg-s3 cargo test -p mimi-ds --test api --test load --test security
  step ds-replicas cargo test -p mimi-ds --test replicas -- --include-ignored
else
  failed=$((failed + 1)); problems+=("ds-engines start"); cat "$LOG/engines.log"
fi
echo "=== vectors: independent Python check"
if python3 tests/vectors/check_vectors.py >"$LOG/py.log" 2>&1; then
  n=$(grep -Eo '[0-9]+ passed' "$LOG/py.log" | awk '{print $1}'); passed=$((passed + n)); echo "    vectors: $n passed"
else
  failed=$((failed + 1)); problems+=("check_vectors.py"); cat "$LOG/py.log"
fi
export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner
export CHROMEDRIVER=/usr/bin/chromedriver
export WASM_BINDGEN_TEST_TIMEOUT=300
step browser cargo test -p mimi-attachments --target wasm32-unknown-unknown
step browser-firefox env -u CHROMEDRIVER GECKODRIVER="$(command -v geckodriver)" cargo test -p mimi-attachments --target wasm32-unknown-unknown
# The wasm-bindgen suites that need no MLS client, against the light build.
step browser-lite cargo test -p mimi-attachments --target wasm32-unknown-unknown --no-default-features --lib --test web_api --test web_pipeline
step pkg-web wasm-pack build --release --target web --out-dir pkg
# The light build (issue 15): openmls compiled out, packaged as mimi-attachments/lite (pkg/lite).
step pkg-lite wasm-pack build --release --target web --out-dir pkg-lite --out-name mimi_attachments_lite -- --no-default-features
step pkg-finish node scripts/package.mjs pkg pkg-lite   # exports (. and ./lite), types, sideEffects, the package README
step pkg-bundler wasm-pack build --release --target bundler --out-dir pkg-bundler
step pkg-bundler-lite wasm-pack build --release --target bundler --out-dir pkg-bundler-lite --out-name mimi_attachments_lite -- --no-default-features
echo "=== size budget: tests/size_budget.py (bytes of the release .wasm and glue)"
if python3 tests/size_budget.py pkg >"$LOG/size.log" 2>&1; then passed=$((passed + 1)); sed 's/^/    /' "$LOG/size.log"
else failed=$((failed + 1)); problems+=("size budget"); cat "$LOG/size.log"; fi
step node-smoke node www/demo-cli.mjs --self-test
step browser-js node tests/browser/run.mjs --big --ds target/debug/mimi-ds
step sw node tests/browser/sw.mjs --ds target/debug/mimi-ds   # streaming Service Worker: save to disk, seek
step sw-firefox node tests/browser/sw.mjs --ds target/debug/mimi-ds --engine firefox   # the same in Firefox ESR (geckodriver)
step longtask-firefox node tests/browser/run.mjs --engine firefox --big --only main_thread_watch_sees_a_long_task,main_thread_has_no_long_task,main_thread_has_no_long_task_256mib   # issue 17 in Firefox ESR (timer probe: no Long Tasks API)
step sw-webkit node tests/browser/sw.mjs --ds target/debug/mimi-ds --engine webkit   # WebKit: the worker's responses, errors and seeks (no download/OPFS observable)
# The JS API suite in WebKit (WebKitGTK's WebKitWebDriver under Xvfb; what it lacks: docs/WEBKIT.md)
step browser-webkit node tests/browser/run.mjs --engine webkit --ds target/debug/mimi-ds
step mimi-content node tests/browser/mimi_content.mjs   # ExternalParts built by cborg, decrypted in Chromium
step interop node tests/interop/run.mjs --ds target/debug/mimi-ds   # ts-mls (light build) <-> openmls (full build) in one group, suites 1-3, attachments both ways, also through the DS
step e2e node tests/e2e/run.mjs --ds target/debug/mimi-ds
if [ $engines = 1 ]; then   # the demo against two replicas on PostgreSQL + S3 behind a round-robin proxy
  step e2e-replicas node tests/e2e/run.mjs --ds target/debug/mimi-ds --replicas
fi
step vite-app bash tests/vite-app/check.sh
echo "=== types: tsc --strict on tests/ts/consumer.ts"
if tsc -p tests/ts/tsconfig.json >"$LOG/tsc.log" 2>&1; then passed=$((passed + 1)); echo "    types: ok"
else failed=$((failed + 1)); problems+=("tsc"); cat "$LOG/tsc.log"; fi
step readme-ts node tests/ts/readme.mjs

echo "=== fuzz smoke: scripts/fuzz.sh ${FUZZ_SMOKE_SECS:-20} (every target, bounded)"
t0=$(date +%s)
if bash scripts/fuzz.sh "${FUZZ_SMOKE_SECS:-20}" >"$LOG/fuzz.log" 2>&1; then
  n=$(grep -c '^fuzz.sh: target .* clean$' "$LOG/fuzz.log"); passed=$((passed + n)); echo "    fuzz: $n targets clean, $(( $(date +%s) - t0 ))s"
else failed=$((failed + 1)); problems+=("fuzz smoke"); tail -n 40 "$LOG/fuzz.log"; fi

for wasm in pkg/mimi_attachments_bg.wasm pkg/lite/mimi_attachments_lite_bg.wasm; do
  [ -f $wasm ] && echo "wasm: $wasm $(stat -c %s $wasm) bytes raw, $(gzip -9 -c $wasm | wc -c) bytes gzip"
done
echo "disk: target/ $(du -sh target 2>/dev/null | cut -f1), $(df -h . | awk 'NR==2{print $4}') free"
echo "time: $(( $(date +%s) - start ))s"
for p in "${problems[@]}"; do echo "FAILED: $p"; done
[ ${#problems[@]} -eq 0 ] || failed=$((failed > 0 ? failed : 1))
echo "tests: $passed passed, $failed failed"
[ ${#problems[@]} -eq 0 ]
