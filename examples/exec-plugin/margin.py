#!/usr/bin/env python3
"""Margin sampling as an alrl exec plugin, using only Python's standard library.

alrl starts this program once per acquisition round (strategy `exec`, see
docs/exec-protocol.md) and writes one message to its stdin:

    4 bytes   magic b"ALRL"
    4 bytes   uint32, little-endian: length H of the JSON header
    H bytes   JSON header (round, k, candidates, labeled, arrays, ...)
    then      each array of header["arrays"], in order, as little-endian
              float32 values in row-major order

It prints one JSON line on stdout, {"indices": [...]}: the k candidates whose
two most probable classes are closest (smallest p1 - p2), most uncertain
first, ties broken by candidate order, exactly like alrl's built-in `margin`.
Anything meant for a human goes to stderr.

Config:
    strategies:
      - name: exec
        label: margin-py
        options:
          command: [python3, examples/exec-plugin/margin.py]
          needs: [probs]
"""

import array
import json
import struct
import sys

MAGIC = b"ALRL"


def read_exact(stream, n):
    """Read exactly n bytes or fail with a clear message."""
    chunks = []
    left = n
    while left > 0:
        b = stream.read(left)
        if not b:
            raise EOFError(f"stdin ended {left} bytes early")
        chunks.append(b)
        left -= len(b)
    return b"".join(chunks)


def read_message(stream):
    """Return (header, {name: (shape, flat float32 array)})."""
    prefix = read_exact(stream, 8)
    if prefix[:4] != MAGIC:
        raise ValueError(f"bad magic {prefix[:4]!r}: is this alrl's exec protocol?")
    (hlen,) = struct.unpack("<I", prefix[4:])
    header = json.loads(read_exact(stream, hlen))
    if header.get("protocol") != 1:
        raise ValueError(f"protocol {header.get('protocol')}, this plugin speaks 1")
    arrays = {}
    for spec in header["arrays"]:
        if spec["dtype"] != "<f4":
            raise ValueError(f"array {spec['name']}: dtype {spec['dtype']}, want <f4")
        size = 1
        for d in spec["shape"]:
            size *= d
        values = array.array("f")
        values.frombytes(read_exact(stream, 4 * size))
        if sys.byteorder != "little":
            values.byteswap()
        arrays[spec["name"]] = (spec["shape"], values)
    return header, arrays


def margin_scores(shape, probs):
    """-(p1 - p2) per row: higher = more uncertain, as alrl's margin."""
    n, c = shape
    scores = []
    for i in range(n):
        row = probs[i * c:(i + 1) * c]
        b1 = b2 = float("-inf")
        for v in row:
            if v > b1:
                b1, b2 = v, b1
            elif v > b2:
                b2 = v
        if b2 == float("-inf"):  # a single class
            b2 = 0.0
        scores.append(-(b1 - b2))
    return scores


def main():
    header, arrays = read_message(sys.stdin.buffer)
    if "probs" not in arrays:
        print(json.dumps({"error": "margin.py needs probabilities: set needs: [probs]"}))
        return
    shape, probs = arrays["probs"]
    scores = margin_scores(shape, probs)
    cands = header["candidates"]
    # sorted() is stable: equal scores keep candidate order.
    order = sorted(range(len(cands)), key=lambda i: -scores[i])
    chosen = [cands[i] for i in order[: header["k"]]]
    print(f"margin.py: round {header['round']}, chose {len(chosen)} of {len(cands)}", file=sys.stderr)
    print(json.dumps({"indices": chosen}))


if __name__ == "__main__":
    main()
