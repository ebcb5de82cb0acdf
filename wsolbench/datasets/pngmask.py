"""Mask PNGs read straight into the evaluation frame: ``resize_nearest(read_gray(path), size)``,
without ever holding the decoded image.

A 1600 x 1066 OpenImages ignore mask is a 7-15 KB PNG that inflates to 5-7 MB of RGB(A); decoding it
with Pillow (zlib, the PNG filters and the gray conversion on all 1.7 M pixels) takes 5-12 ms, and
the 224 x 224 frame reads 50,176 of those pixels. This module checks the file's chunks and hands
the zlib stream to the engine (``wsb_png_decode_sample`` in ``wsolbench/metrics/engine.c``), which
inflates into a cache-sized window, undoes each row's filter only where something reads the row,
and converts only the sampled pixels to gray with Pillow's formula: 0.4-0.45 ms for such a mask.
The values are those of a full decode, bit for bit (``tests/test_pngmask.py`` compares every filter
type, bit depth, colour type and zlib setting with Pillow, and damaged streams).

Hand-written because no library does this: zlib, libdeflate, libpng, libspng and Pillow inflate the
whole image into memory and undo every row's filters, and that traffic is the cost. Only what
Pillow reads the same way is taken this way: non-interlaced PNGs of 8-bit gray, gray + alpha, RGB
or RGBA, or 1-bit gray, with intact chunks (every CRC checked), one run of IDAT chunks, an IEND, and
a zlib stream that zlib accepts (the engine is as strict: header, codes, distances, Adler-32) and
that holds exactly the image's bytes. Anything else (palettes, 16 bits, interlacing, other formats,
damaged files) goes through :func:`wsolbench.datasets.images.read_gray`, which gives the same
values or the error message.
"""

from __future__ import annotations

import struct
import sys
import zlib

import numpy as np

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Pillow's default decompression-bomb limit (PIL.Image.MAX_IMAGE_PIXELS); larger images go to Pillow.
_PILLOW_MAX_PIXELS = int(1024 * 1024 * 1024 // 4 // 3)
_CHANNELS = {(0, 8): 1, (0, 1): 1, (2, 8): 3, (4, 8): 2, (6, 8): 4}    # (colour type, bit depth) -> channels
_CHUNK = struct.Struct(">I4s")
_IHDR = struct.Struct(">IIBBBBB")


def _max_pixels() -> float:
    pil = sys.modules.get("PIL.Image")
    limit = getattr(pil, "MAX_IMAGE_PIXELS", _PILLOW_MAX_PIXELS) if pil is not None else _PILLOW_MAX_PIXELS
    return float("inf") if limit is None else limit


def parse_png(data: bytes):
    """``(width, height, channels, bit_depth, zlib stream)`` of a PNG this module samples, else ``None``."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    pos, header, idat, idat_done, end = len(PNG_SIGNATURE), None, [], False, False
    while pos + 12 <= len(data):
        length, kind = _CHUNK.unpack_from(data, pos)
        body_end = pos + 8 + length
        if body_end + 4 > len(data):
            return None
        body = data[pos + 8:body_end]
        if zlib.crc32(body, zlib.crc32(kind)) != struct.unpack_from(">I", data, body_end)[0]:
            return None
        if kind == b"IHDR":
            if header is not None or length != _IHDR.size:
                return None
            header = _IHDR.unpack(body)
        elif header is None:
            return None                                   # IHDR must come first
        elif kind == b"IDAT":
            if idat_done:
                return None
            idat.append(body)
        elif kind == b"IEND":
            end = True
            break
        else:
            idat_done = idat_done or bool(idat)
            if not kind[0] & 0x20 and kind != b"PLTE":  # a critical chunk this module does not know
                return None
        pos = body_end + 4
    if not (end and header and idat):
        return None
    width, height, bit_depth, colour, compression, filtering, interlace = header
    channels = _CHANNELS.get((colour, bit_depth))
    if (channels is None or compression or filtering or interlace or width < 1 or height < 1
            or width * height > _max_pixels()):
        return None
    return width, height, channels, bit_depth, b"".join(idat)


def sample_png(data: bytes, size_wh) -> np.ndarray | None:
    """The gray values of a PNG's pixels under the nearest resize to ``size_wh`` (``(width, height)``), or
    ``None`` when the file is not one this module takes (see the module docstring)."""
    from wsolbench.metrics.native import engine, ptr
    from wsolbench.metrics.resize import nearest_index

    parsed = parse_png(data)
    if parsed is None:
        return None
    width, height, channels, bit_depth, stream = parsed
    out_w, out_h = (int(v) for v in size_wh)
    rows, cols = nearest_index(height, out_h), nearest_index(width, out_w)
    out = np.empty((out_h, out_w), np.uint8)
    z = np.frombuffer(stream, np.uint8)
    rc = engine().wsb_png_decode_sample(ptr(z), z.size, width, height, channels, bit_depth, ptr(rows), out_h,
                                        ptr(cols), out_w, ptr(out))
    return out if rc == 0 else None


def read_gray_at(path, size_wh, *, image_id: str | None = None) -> np.ndarray:
    """``resize_nearest(read_gray(path), size_wh)``: a mask file's gray values in a frame of ``size_wh``
    (``(width, height)``) under ``cv2.INTER_NEAREST``, equal to the full decode's (uint8 (height, width)).

    Raises:
        AnnotationError: as :func:`~wsolbench.datasets.images.read_gray` (missing or undecodable file).
    """
    from wsolbench.datasets.images import read_gray
    from wsolbench.metrics.resize import _check_size, resize_nearest

    out_w, out_h = _check_size(size_wh)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        data = b""
    sampled = sample_png(data, (out_w, out_h))
    if sampled is not None:
        return sampled
    return resize_nearest(read_gray(path, image_id=image_id), (out_w, out_h))
