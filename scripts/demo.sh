#!/usr/bin/env bash
# The project's main job, end to end: build the npm package (wasm-pack --target web) and run the
# demo over it. Usage: bash scripts/demo.sh [FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/node_modules/.bin:$PATH"   # npm's wasm-opt
wasm-pack build --release --target web --out-dir pkg
node www/demo-cli.mjs "$@"
