#!/usr/bin/env python3
"""Independent check of the project's frozen vectors (tests/vectors/*.json).

A second implementation of draft-robert-mimi-attachments §3.6 and of the chunked format
(DESIGN.md §3), written from the specs with Python's hmac/hashlib and the `cryptography`
package's AEADs, shares no code with the Rust crate. It recomputes every value of
key-schedule.json and chunked.json ("valid"), checks that every "invalid" ciphertext is
rejected by a plain reading of the format, and checks the official RFC 9420 exporter vectors
first so the helper functions themselves are known good. Exit status 0 only if all agree.
"""
import hashlib, hmac, json, os, sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.exceptions import InvalidTag

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = {  # id: (hash, aead class, Nk)
    1: (hashlib.sha256, AESGCM, 16), 2: (hashlib.sha256, AESGCM, 16),
    3: (hashlib.sha256, ChaCha20Poly1305, 32), 4: (hashlib.sha512, AESGCM, 32),
    5: (hashlib.sha512, AESGCM, 32), 6: (hashlib.sha512, ChaCha20Poly1305, 32),
    7: (hashlib.sha384, AESGCM, 32),
}

def varint(n):  # RFC 9420 §2.1.2
    if n < 1 << 6: return bytes([n])
    if n < 1 << 14: return (n | 0x4000).to_bytes(2, "big")
    if n < 1 << 30: return (n | 0x80000000).to_bytes(4, "big")
    raise ValueError(n)

def vec(b): return varint(len(b)) + b

def extract(H, salt, ikm): return hmac.new(salt, ikm, H).digest()

def expand(H, prk, info, length):
    out, t, i = b"", b"", 1
    while len(out) < length:
        t = hmac.new(prk, t + info + bytes([i]), H).digest(); out += t; i += 1
    return out[:length]

def expand_with_label(H, secret, label, context, length):
    info = length.to_bytes(2, "big") + vec(b"MLS 1.0 " + label) + vec(context)
    return expand(H, secret, info, length)

def mls_exporter(H, exporter_secret, label, context, length):
    nh = H().digest_size
    derived = expand_with_label(H, exporter_secret, label, b"", nh)
    return expand_with_label(H, derived, b"exported", H(context).digest(), length)

def chunk_nonce(base, i): return bytes(a ^ b for a, b in zip(base, i.to_bytes(12, "big")))

def seal_chunked(aead, base, n, p):
    chunks = [p[i:i + n] for i in range(0, len(p), n)] or [b""]
    return b"".join(aead.encrypt(chunk_nonce(base, i), c, b"\x01" if i == len(chunks) - 1 else b"\x00")
                    for i, c in enumerate(chunks))

def open_chunked(aead, base, n, ct, size):
    """Plain reading of DESIGN.md §3. Returns plaintext or raises."""
    s = n + 16
    if len(ct) < 16: raise ValueError("short")
    k = -(-len(ct) // s)
    last = len(ct) - (k - 1) * s
    if last < 16 or (last == 16 and k > 1): raise ValueError("length")
    if size is not None and len(ct) != (max(1, -(-size // n)) * 16 + size): raise ValueError("size")
    return b"".join(aead.decrypt(chunk_nonce(base, i), ct[i * s:(i + 1) * s], b"\x01" if i == k - 1 else b"\x00")
                    for i in range(k))

def load(name):
    with open(os.path.join(HERE, name)) as f: return json.load(f)

def main():
    x = bytes.fromhex
    n = 0
    for c in load("rfc9420-key-schedule.json"):
        H = SUITES[int(c["cipher_suite"])][0]
        for e in c["epochs"]:
            ex = e["exporter"]
            assert mls_exporter(H, x(e["exporter_secret"]), ex["label"].encode(), x(ex["context"]), ex["length"]) == x(ex["secret"])
            n += 1
    for c in load("key-schedule.json")["cases"]:
        H, _, nk = SUITES[c["cipher_suite"]]
        h = H(x(c["plaintext"])).digest()
        ctx = vec(h) + c["sender_index"].to_bytes(8, "big")
        es = mls_exporter(H, x(c["epoch_exporter_secret"]), b"MIMI attachment", ctx, H().digest_size)
        sec = extract(H, es, x(c["nonce"]))  # KDF.Extract(salt=exporter secret, ikm=nonce)
        got = dict(attachment_hash=h, attachment_context=ctx, attachment_exporter_secret=es, attachment_secret=sec,
                   attachment_key=expand_with_label(H, sec, b"key", b"", nk),
                   attachment_nonce=expand_with_label(H, sec, b"nonce", b"", 12))
        for k, v in got.items():
            assert v == x(c[k]), (c["name"], k)
        n += 1
    v = load("chunked.json")
    for c in v["valid"]:
        H, A, _ = SUITES[c["cipher_suite"]]
        aead, p, base = A(x(c["key"])), x(c["plaintext"]), x(c["nonce"])
        assert H(p).digest() == x(c["attachment_hash"]), c["name"]
        ct = aead.encrypt(base, p, b"") if c["chunk_size"] is None else seal_chunked(aead, base, c["chunk_size"], p)
        assert ct == x(c["ciphertext"]), c["name"]
        n += 1
    for c in v["invalid"]:
        H, A, _ = SUITES[c["cipher_suite"]]
        aead, ct, base = A(x(c["key"])), x(c["ciphertext"]), x(c["nonce"])
        try:
            p = aead.decrypt(base, ct, b"") if c["chunk_size"] is None else open_chunked(aead, base, c["chunk_size"], ct, c.get("size"))
            ok = H(p).digest() == x(c["attachment_hash"])
        except (InvalidTag, ValueError):
            ok = False
        assert not ok, ("an invalid case was accepted", c["name"])
        n += 1
    print(f"check_vectors.py: {n} passed, 0 failed")

if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"check_vectors.py: MISMATCH {e}", file=sys.stderr); print("0 passed, 1 failed"); sys.exit(1)
