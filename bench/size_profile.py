#!/usr/bin/env python3
"""Which crates the wasm module's code comes from: a twiggy profile grouped by crate.

    cargo build --release --target wasm32-unknown-unknown -p mimi-attachments
    cargo install twiggy --locked            # once
    python3 bench/size_profile.py [WASM]     (default: target/wasm32-unknown-unknown/release/mimi_attachments.wasm)

The module is measured before wasm-bindgen and wasm-opt (they need its names): the shares carry
over to the shipped .wasm, the absolute bytes shrink by wasm-opt's ~15-20%. Prints a markdown table.
"""
import collections
import csv
import io
import re
import subprocess
import sys

wasm = sys.argv[1] if len(sys.argv) > 1 else "target/wasm32-unknown-unknown/release/mimi_attachments.wasm"
out = subprocess.run(["twiggy", "top", "-n", "10000000", "--format", "csv", wasm], check=True,
                     capture_output=True, text=True).stdout
crates = collections.Counter()
other = collections.Counter()
for row in csv.DictReader(io.StringIO(out)):
    name, size = row["Name"], int(row["ShallowSize"])
    if name.startswith('"') or "section" in name:
        continue  # names and custom sections: stripped from the shipped module
    if name.startswith("data segment"):
        other["data (.rodata: strings, tables)"] += size
        continue
    # The first path segment that names a crate: "<openmls::x as y>::f", "&mut serde_json::..."
    m = re.search(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[[0-9a-f]+\])?::", name)
    crate = m.group(1) if m else "(unnamed: glue, imports, exports)"
    if crate in ("impl", "dyn", "mut"):
        crate = "(other)"
    crates[crate] += size
total = sum(crates.values()) + sum(other.values())
groups = {
    "P-384 (suite 7, unused: pulled by openmls_rust_crypto/basic_credential)": ["p384"],
    "secp256k1 + ML-KEM + X-Wing + SHA-3 (hpke-rs 'experimental', unused by MLS suites 1-3)":
        ["k256", "ml_kem", "module_lattice", "libcrux_sha3", "x_wing", "kem"],
}
print(f"| crate | bytes (pre-wasm-opt) | share |\n|---|---|---|")
for crate, size in (crates + other).most_common(30):
    print(f"| `{crate}` | {size:,} | {100 * size / total:.1f}% |")
print(f"| total code + data | {total:,} | 100% |")
for label, names in groups.items():
    s = sum(crates[n] for n in names)
    print(f"\n{label}: {s:,} bytes ({100 * s / total:.1f}%)")
