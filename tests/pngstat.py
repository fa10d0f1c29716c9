#!/usr/bin/env python3
"""pngstat.py FILE.png [#rrggbb ...]: decode a PNG with the standard library only (8-bit RGB or
RGBA, non-interlaced: what Chromium's --screenshot writes) and print one line
"WIDTHxHEIGHT colours=N nonwhite=P% found=K/M", where found counts the given colours present.
Exit 1 when the file is not such a PNG."""
import struct
import sys
import zlib


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d)" % (depth, ctype))
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), w * bpp
    prev, rows, i = bytearray(stride), [], 0
    for _ in range(h):
        f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, bpp, rows


def main():
    try:
        w, h, bpp, rows = decode(sys.argv[1])
    except (OSError, ValueError, TypeError, zlib.error, struct.error) as e:
        print("pngstat: %s: %s" % (sys.argv[1], e))
        return 1
    seen, nonwhite = set(), 0
    for r in rows:
        for x in range(0, w * bpp, bpp):
            px = r[x:x + 3]
            seen.add(px)
            nonwhite += px != b"\xff\xff\xff"
    want = [bytes.fromhex(c.lstrip("#")) for c in sys.argv[2:]]
    found = sum(1 for c in want if c in seen)
    print("%dx%d colours=%d nonwhite=%.1f%% found=%d/%d"
          % (w, h, len(seen), 100.0 * nonwhite / (w * h), found, len(want)))
    return 0


sys.exit(main())
