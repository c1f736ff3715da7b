#!/usr/bin/env python3
"""Checks the built package (the full module and the light one in pkg/lite) against
tests/size-budget.json (bytes, never time).

    python3 tests/size_budget.py [PKG_DIR]     (default: pkg)

Prints the sizes and "size budget: 1 passed" or "1 failed"; exits non-zero when over budget."""
import gzip
import json
import pathlib
import sys

root = pathlib.Path(__file__).resolve().parent.parent
pkg = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else root / "pkg"
budget = json.loads((root / "tests/size-budget.json").read_text())
wasm = (pkg / "mimi_attachments_bg.wasm").read_bytes()
glue = (pkg / "mimi_attachments.js").read_bytes()
sizes = {"wasm_raw": len(wasm), "wasm_gzip": len(gzip.compress(wasm, 9, mtime=0)), "glue_raw": len(glue)}
# The light build (`mimi-attachments/lite`, no openmls), which scripts/package.mjs puts in pkg/lite.
lite = pkg / "lite"
if not (lite / "mimi_attachments_lite_bg.wasm").exists():
    print(f"no light build in {lite}")
    print("size budget: 0 passed, 1 failed")
    sys.exit(1)
lwasm = (lite / "mimi_attachments_lite_bg.wasm").read_bytes()
lglue = (lite / "mimi_attachments_lite.js").read_bytes()
sizes.update({"lite_wasm_raw": len(lwasm), "lite_wasm_gzip": len(gzip.compress(lwasm, 9, mtime=0)), "lite_glue_raw": len(lglue)})
over = []
# Goals the package has met (issue 15: full build 1,300,000 raw / 450,000 gzip): a budget may be
# raised for deliberate growth, but never past a met goal.
for k, g in budget.get("goals", {}).items():
    if budget[k] > g:
        over.append(f"budget {k} {budget[k]:,} is above the goal {g:,}")
for k, v in sizes.items():
    print(f"{k}: {v:,} bytes (budget {budget[k]:,})")
    if v > budget[k]:
        over.append(f"{k} {v:,} > {budget[k]:,}")
if over:
    print("over budget: " + "; ".join(over))
    print("size budget: 0 passed, 1 failed")
    sys.exit(1)
print("size budget: 1 passed")
