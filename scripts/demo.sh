#!/usr/bin/env bash
# The project's main job: build the npm package (pkg/) and the Delivery Service, then run the DS,
# which also serves the demo chat page. Open the printed URL; Ctrl-C stops it.
#   bash scripts/demo.sh            (PORT=8080 by default; DATA_DIR=./mimi-ds-data)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"   # npm's wasm-opt
wasm-pack build --release --target web --out-dir pkg
cargo build --profile ds -p mimi-ds
PORT=${PORT:-8080}
echo
echo "  Demo: http://127.0.0.1:$PORT/   (Alice and Bob side by side; \"Open a third member\" adds a tab)"
echo
exec target/ds/mimi-ds --listen "127.0.0.1:$PORT" --data-dir "${DATA_DIR:-./mimi-ds-data}" --www www --www-pkg pkg --dev-identity
