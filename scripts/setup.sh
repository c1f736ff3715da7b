#!/usr/bin/env bash
# Installs what the build, the demo and the tests need on a fresh Debian machine.
# Idempotent: each step is skipped when what it installs is already there.
#
#   bash scripts/setup.sh          everything (the test command calls this)
#   bash scripts/setup.sh --demo   only what scripts/demo.sh needs: the wasm32 target, wasm-pack,
#                                  wasm-bindgen-cli and the npm dev dependencies (wasm-opt);
#                                  no browsers, drivers, nightly, cargo-fuzz or Python packages
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=full
case "${1:-}" in
  "") ;;
  --demo) MODE=demo ;;
  --full) MODE=full ;;
  *) echo "usage: bash scripts/setup.sh [--demo | --full]" >&2; exit 2 ;;
esac
full() { [ "$MODE" = full ]; }

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"

# 1. Chromium + ChromeDriver (browser tests, demo screenshots). Never Debian's binaryen: its
#    wasm-opt breaks the module (TOOLCHAIN.md).
if full && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
  say "installing chromium and chromium-driver (apt)"
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq chromium chromium-driver >/dev/null
fi

# 1b. Firefox ESR + geckodriver: the second browser engine for the wasm-bindgen browser suite.
if full && ! command -v firefox-esr >/dev/null; then
  say "installing firefox-esr (apt)"
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq firefox-esr >/dev/null
fi
# 1c. WebKit (Safari's engine): WebKitGTK's WebKitWebDriver + MiniBrowser, run under Xvfb, for the
#     JS API suite in a third engine (tests/browser/run.mjs --engine webkit, docs/WEBKIT.md).
if full && { ! command -v WebKitWebDriver >/dev/null || ! command -v xvfb-run >/dev/null; }; then
  say "installing webkit2gtk-driver and xvfb (apt)"
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq webkit2gtk-driver xvfb >/dev/null
fi
# 1d. ffmpeg: makes the VP8/WebM video that tests/browser/sw.mjs plays and seeks through the
#     streaming Service Worker (a real video container, not a byte-seekable WAV).
if full && ! command -v ffmpeg >/dev/null; then
  say "installing ffmpeg (apt)"
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq ffmpeg >/dev/null
fi
GECKODRIVER_VERSION=0.37.1
# (Version strings are captured first: `tool --version | grep -q` fails under pipefail when grep
# closes the pipe early and the tool dies of SIGPIPE.)
version_of() { "$@" 2>/dev/null | head -n 1 || true; }
if full && [ "$(version_of geckodriver --version)" != "geckodriver $GECKODRIVER_VERSION" ]; then
  say "installing geckodriver $GECKODRIVER_VERSION (cargo install, ~2-3 min cold)"
  cargo install --locked geckodriver --version "$GECKODRIVER_VERSION" || cargo install geckodriver --version "$GECKODRIVER_VERSION"
fi

# 2. The wasm32 target.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "adding rustup target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# 3. wasm-pack, pinned.
WASM_PACK_VERSION=0.15.1
if [ "$(version_of wasm-pack --version)" != "wasm-pack $WASM_PACK_VERSION" ]; then
  say "installing wasm-pack $WASM_PACK_VERSION (cargo install, ~3 min cold)"
  cargo install --locked wasm-pack --version "$WASM_PACK_VERSION"
fi

# 4. wasm-bindgen-cli: exactly the wasm-bindgen version in Cargo.lock.
WBG=$(awk '/^name = "wasm-bindgen"$/ {getline; gsub(/version = |"/, ""); print; exit}' Cargo.lock)
if [ -z "$WBG" ]; then echo "[setup] cannot find wasm-bindgen in Cargo.lock" >&2; exit 1; fi
if [ "$(version_of wasm-bindgen --version)" != "wasm-bindgen $WBG" ] || ! command -v wasm-bindgen-test-runner >/dev/null; then
  say "installing wasm-bindgen-cli $WBG (cargo install, ~4 min cold)"
  cargo install --locked wasm-bindgen-cli --version "=$WBG" || cargo install wasm-bindgen-cli --version "=$WBG"
fi

# 4b. The fuzz smoke run (scripts/fuzz.sh): the nightly toolchain and cargo-fuzz, pinned.
CARGO_FUZZ_VERSION=0.13.2
if full && ! rustup toolchain list | grep -q '^nightly'; then
  say "installing the nightly toolchain (rustup, minimal profile) for cargo-fuzz"
  rustup toolchain install nightly --profile minimal
fi
if full && [ "$(version_of cargo fuzz --version)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION (cargo install, ~2 min cold)"
  cargo install --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" || cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION"
fi

# 5. npm dev dependencies: playwright-core (drives Debian's Chromium; never downloads a browser),
#    typescript (checks the generated types), binaryen@132 (wasm-opt; Debian's breaks the module),
#    ts-mls@1.6.4 with its pinned peers (@noble/curves, @noble/ciphers, @hpke/chacha20poly1305) for
#    the cross-stack interop test (tests/interop/run.mjs).
if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -x node_modules/.bin/tsc ] || [ ! -d node_modules/playwright-core ] \
   || [ ! -d node_modules/ts-mls ] || [ ! -d node_modules/@hpke/chacha20poly1305 ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dev dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 6. Python's `cryptography` for the independent vector check.
if full && ! python3 -c "import cryptography" 2>/dev/null; then
  say "installing python cryptography (pip)"
  python3 -m pip install --quiet cryptography
fi
# 7. The DS's scale-out engines for its PostgreSQL + S3 test step: Debian's postgresql and s3s-fs
#    (crates.io), both started on loopback by scripts/ds-engines.sh in the test command.
if full; then bash scripts/ds-engines.sh install; fi
if ! full; then say "ok (demo): wasm-pack $(wasm-pack --version 2>/dev/null | awk '{print $2}'); wasm-bindgen $WBG"; exit 0; fi
say "ok: $(chromium --version 2>/dev/null | head -1); wasm-pack $(wasm-pack --version 2>/dev/null | awk '{print $2}'); wasm-bindgen $WBG"
