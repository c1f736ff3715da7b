#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/seed-* and the decryptor's fixed keys fuzz/keys.in.

Inputs come from the project's vectors (tests/vectors/content-type.json, chunked.json), plus a few
messages encoded here by hand (TLS, RFC 9420 §2.1.2 varints) and chunked-v1 ciphertexts sealed
here with the `cryptography` package, an implementation independent of the library's, under the
decryptor target's fixed keys. Deterministic: running it twice writes the same files.

    python3 fuzz/seeds.py
"""
import base64
import hashlib
import json
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VEC = os.path.join(ROOT, "tests", "vectors")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")

# RFC 9420 code point -> (AEAD, hash); CipherSuite::ALL is code points 1..=7 in order.
SUITES = {
    1: ("aes", "sha256"), 2: ("aes", "sha256"), 3: ("chacha", "sha256"), 4: ("aes", "sha512"),
    5: ("aes", "sha512"), 6: ("chacha", "sha512"), 7: ("aes", "sha384"),
}


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def varint(n):
    if n < 0x40:
        return bytes([n])
    if n < 0x4000:
        return struct.pack(">H", n | 0x4000)
    return struct.pack(">I", n | 0x80000000)


def vl(b):
    return varint(len(b)) + b


def content_type():
    v = json.load(open(os.path.join(VEC, "content-type.json")))
    for kind in ("valid", "invalid"):
        for c in v[kind]:
            write("content_type", c["name"], c["input"])


def wire():
    write("wire", "upload_request", vl(b"group-1") + vl(bytes(range(70))))
    write("wire", "upload_response", vl(b"tok" * 10))
    write("wire", "download_request", vl(b"group-1") + vl(b"\x07" * 16))
    write("wire", "download_response", vl(b"\xaa" * 300))
    write("wire", "empty_vectors", b"\x00\x00")


def tbs(method=b"POST", path=b"/v1/attachments", nonce=b"\x07" * 16, body_hash=None):
    body_hash = body_hash if body_hash is not None else hashlib.sha256(b"body").digest()
    return (vl(b"group") + struct.pack(">QI", 3, 1) + vl(method) + vl(path) + vl(body_hash)
            + struct.pack(">Q", 1_700_000_000_000) + vl(nonce))


def auth_header():
    signed = tbs() + vl(b"\x01" * 64)
    der = tbs(method=b"GET", path=b"/v1/attachments/abc?x=1") + vl(bytes.fromhex(
        "3044022001" + "00" * 31 + "022002" + "00" * 31))
    write("auth_header", "raw_signed", signed)
    write("auth_header", "raw_signed_der", der)
    write("auth_header", "raw_tbs", tbs())
    write("auth_header", "header", base64.urlsafe_b64encode(signed).rstrip(b"="))
    write("auth_header", "header_padded_ws", b"  " + base64.urlsafe_b64encode(signed) + b"\t")
    write("auth_header", "header_short_nonce", base64.urlsafe_b64encode(tbs(nonce=b"\x01") + vl(b"")).rstrip(b"="))


def seal(suite, key, nonce, pt, chunk_size):
    """Chunked v1 (DESIGN.md §3): nonce_i = nonce XOR BE96(i), aad 0x01 on the last chunk."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
    aead = (AESGCM if SUITES[suite][0] == "aes" else ChaCha20Poly1305)(key)
    chunks = [pt[i:i + chunk_size] for i in range(0, len(pt), chunk_size)] or [b""]
    out = b""
    for i, c in enumerate(chunks):
        n = nonce[:4] + bytes(a ^ b for a, b in zip(nonce[4:], i.to_bytes(8, "big")))
        out += aead.encrypt(n, c, b"\x01" if i == len(chunks) - 1 else b"\x00")
    return out


def decryptor_input(suite, chunk_size, size, pieces, h, ct):
    hdr = bytes([suite - 1]) + struct.pack("<H", chunk_size - 1024)
    hdr += bytes([1 if size is not None else 0]) + struct.pack("<Q", size or 0)
    hdr += bytes([len(pieces)]) + b"".join(struct.pack("<H", p) for p in pieces)
    return hdr + h + ct


def decryptor():
    v = json.load(open(os.path.join(VEC, "chunked.json")))
    keys = {}
    # The suites with negative cases share one key per suite; the others take a valid case's key.
    for c in v["invalid"]:
        keys.setdefault(int(c["cipher_suite"]), (c["key"], c["nonce"]))
    for c in v["valid"]:
        if c["name"].endswith("-chunked1024-len3000"):
            keys.setdefault(int(c["cipher_suite"]), (c["key"], c["nonce"]))
    with open(os.path.join(ROOT, "fuzz", "keys.in"), "w") as f:
        f.write("// (key, nonce) hex per suite 1..=7 (CipherSuite::ALL order), from tests/vectors/chunked.json:\n"
                "// the key of the suite's negative cases, else of its chunked1024-len3000 case.\n"
                "// Written by fuzz/seeds.py.\n[\n")
        for s in range(1, 8):
            f.write('    ("%s", "%s"),\n' % keys[s])
        f.write("]\n")
    for c in v["valid"] + v["invalid"]:
        s = int(c["cipher_suite"])
        if (c["key"], c["nonce"]) != keys[s]:
            continue
        cs = int(c["chunk_size"]) if c["chunk_size"] is not None else 1024
        size = c.get("size")
        size = int(size) if size is not None else None
        ct = bytes.fromhex(c["ciphertext"])
        write("decryptor", c["name"], decryptor_input(s, cs, size, [], bytes.fromhex(c["attachment_hash"]), ct))
        if c["name"].endswith("stream_bad_tag"):
            write("decryptor", c["name"] + "-pieces", decryptor_input(s, cs, size, [1, 1040, 7], bytes.fromhex(c["attachment_hash"]), ct))
    for s in range(1, 8):
        key, nonce = (bytes.fromhex(x) for x in keys[s])
        for cs, n in ((1024, 0), (1024, 1), (1024, 1024), (1500, 3001), (4096, 5000)):
            pt = bytes((i * 7 + s) & 0xff for i in range(n))
            h = hashlib.new(SUITES[s][1], pt).digest()
            ct = seal(s, key, nonce, pt, cs)
            write("decryptor", "suite%d-cs%d-len%d" % (s, cs, n), decryptor_input(s, cs, n if n % 2 else None, [17] if n else [], h, ct))


def stored_state():
    for s, nk, nh in ((1, 16, 32), (4, 32, 64), (7, 32, 48)):
        ref = (struct.pack(">HH", 1, s) + vl(b"\x11" * nk) + vl(b"\x22" * 12) + vl(b"\x33" * nh) + vl(b"tok")
               + vl(b"\x44" * nh) + struct.pack(">IBQ", 1024 if s != 4 else 0, 1, 3000) + vl(b"group")
               + struct.pack(">QI", 5, 2))
        write("stored_state", "attachment_ref_suite%d" % s, ref)
    # ClientState: version, identity, suite, signature_public_key, signature_scheme, groups, entries.
    entries = vl(vl(b"key") + vl(b"{}"))
    state = struct.pack(">H", 2) + vl(b"alice") + struct.pack(">H", 1) + vl(b"\x55" * 32) + struct.pack(">H", 0x0807)
    write("stored_state", "client_state_no_key", state + vl(vl(b"g1")) + entries)
    # seed-client_state_suite1, seed-client_state_suite{1,2}_group are real `Client::export_state`
    # outputs (a fresh client, then after `create_group`; throwaway keys), written once by a
    # temporary line in the stored_state target; this script leaves them alone.


if __name__ == "__main__":
    content_type()
    wire()
    auth_header()
    decryptor()
    stored_state()
    total = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(CORPUS) for f in fs if f.startswith("seed-"))
    print("seed corpus: %d bytes" % total, file=sys.stderr)
