#!/usr/bin/env bash
# The project's main job: build the npm package (pkg/) and the Delivery Service, then run the DS,
# which also serves the demo chat page. Open the printed URL; Ctrl-C stops it.
#   bash scripts/demo.sh            (PORT=8080 by default; DATA_DIR=./mimi-ds-data)
#
# Installs only what the demo needs (scripts/setup.sh --demo). The release wasm module is rebuilt
# (and re-optimised by wasm-opt, the slow part) only when its inputs changed: pkg/.inputs.sha256
# records a hash of src/, Cargo.toml, Cargo.lock and build.rs as of the last build. Prints the
# time from the start of this script to the first page served.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s.%N)
bash scripts/setup.sh --demo
export PATH="$PWD/node_modules/.bin:$PATH"   # npm's wasm-opt

inputs=$( { find src js -type f -print0 | sort -z | xargs -0 sha256sum; sha256sum Cargo.toml Cargo.lock $(ls build.rs 2>/dev/null); } | sha256sum | cut -d' ' -f1)
if [ -f pkg/mimi_attachments_bg.wasm ] && [ "$(cat pkg/.inputs.sha256 2>/dev/null)" = "$inputs" ]; then
  echo "[demo] pkg/ is up to date (inputs unchanged): not rebuilding the wasm module"
else
  wasm-pack build --release --target web --out-dir pkg
  node scripts/package.mjs pkg   # exports, types, sideEffects, the package README
  echo "$inputs" > pkg/.inputs.sha256
fi
cargo build --profile ds -p mimi-ds

PORT=${PORT:-8080}
target/ds/mimi-ds --listen "127.0.0.1:$PORT" --data-dir "${DATA_DIR:-./mimi-ds-data}" --www www --www-pkg pkg --dev-identity &
ds=$!
trap 'kill "$ds" 2>/dev/null; wait "$ds" 2>/dev/null' INT TERM EXIT
for _ in $(seq 1 200); do
  if curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && curl -sf -o /dev/null "http://127.0.0.1:$PORT/pkg/mimi_attachments_bg.wasm"; then break; fi
  kill -0 "$ds" 2>/dev/null || { echo "[demo] the Delivery Service exited (is port $PORT taken? PORT=... to change it)" >&2; exit 1; }
  sleep 0.05
done
echo
echo "  Demo: http://127.0.0.1:$PORT/   (Alice and Bob side by side; \"Open a third member\" adds a tab)"
echo "  First page served $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s after start. Ctrl-C stops it."
echo
wait "$ds"
