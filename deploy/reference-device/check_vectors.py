"""Checks this reference implementation against docs/protocol/vectors/ (RFC 8785 cases, the signed
manifest and its bad variants, the chunk frames). Prints one line per case; exit status 1 on any
failure.   usage: python3 check_vectors.py [VECTORS_DIR]
"""
import base64
import json
import os
import struct
import sys

import jcs
from package_checks import DeviceError, check_manifest_shape, parse_time, sha256_hex, verify_signature
from edgekd_device import parse_chunk_frame


def main(root):
    failures = 0

    def report(name, ok, detail=""):
        nonlocal failures
        failures += 0 if ok else 1
        print("%s %s %s" % ("pass" if ok else "FAIL", name, detail))

    v = json.load(open(os.path.join(root, "jcs.json"), encoding="utf-8"))
    for n in v["numbers"]:
        got = jcs.number(struct.unpack(">d", bytes.fromhex(n["bits"]))[0])
        report("jcs number " + n["bits"], got == n["canonical"], got)
    for d in v["documents"]:
        got = jcs.canonicalize(json.loads(d["input"]))
        report("jcs document " + d["name"], got == d["canonical"])
    for d in v["invalid"]:
        try:
            jcs.canonicalize(json.loads(d["input"]))
            report("jcs refuses " + d["name"], False)
        except jcs.CanonicalJsonError:
            report("jcs refuses " + d["name"], True)

    m = json.load(open(os.path.join(root, "manifest.json"), encoding="utf-8"))
    report("manifest canonical bytes", jcs.canonicalize(m["manifest"]) == m["canonical"])
    now = parse_time(m["verifyAt"])
    for var in m["variants"]:
        try:
            manifest = json.loads(var["manifestJson"])
            check_manifest_shape(manifest)
            verify_signature(manifest, var["signature"], m["trustedKeys"], now)
            outcome = "ok"
        except DeviceError as e:
            outcome = e.code
        report("manifest " + var["name"], outcome == var["expect"], outcome)

    c = json.load(open(os.path.join(root, "chunked-model.json"), encoding="utf-8"))
    parts = []
    for f in c["frames"]:
        header, data = parse_chunk_frame(base64.b64decode(f["frameBase64"]))
        parts.append(data)
        report("frame %d" % f["index"], header == f["header"] and sha256_hex(data) == c["chunkSha256"][f["index"]])
    report("frames reassemble the file", sha256_hex(b"".join(parts)) == c["sha256"])
    for f in c["badFrames"]:
        try:
            header, data = parse_chunk_frame(base64.b64decode(f["frameBase64"]))
            outcome = "accepted" if sha256_hex(data) == c["chunkSha256"][header["index"]] else "EDGEKD_CHUNK_INVALID"
        except DeviceError as e:
            outcome = e.code
        report("bad frame " + f["name"], outcome == f["expect"], outcome)
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    here = os.path.dirname(os.path.abspath(__file__))
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "../../docs/protocol/vectors")))
