"""Mask PNGs read straight into the evaluation frame (wsolbench.datasets.pngmask): the values of a
full decode (Pillow, then the nearest resize) for every filter type, bit depth and colour type the
fast path takes, Pillow's values or errors for everything else, and the real OpenImages masks."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from wsolbench.datasets.images import read_gray
from wsolbench.datasets.pngmask import parse_png, read_gray_at, sample_png
from wsolbench.errors import AnnotationError
from wsolbench.metrics.native import engine, ptr
from wsolbench.metrics.resize import nearest_index, resize_nearest

FRAMES = [(224, 224), (7, 5), (1, 1), (300, 41)]
# (colour type, bit depth) -> channels: what the fast path decodes itself
KINDS = {(0, 8): 1, (0, 1): 1, (2, 8): 3, (4, 8): 2, (6, 8): 4}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(body, zlib.crc32(kind)))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def _filter_row(kind: int, row: np.ndarray, prev: np.ndarray, bpp: int) -> np.ndarray:
    """The PNG filter ``kind`` applied to one row of bytes (the specification's formulas)."""
    x = row.astype(np.int64)
    up = prev.astype(np.int64)
    left = np.concatenate([np.zeros(bpp, np.int64), x[:-bpp]])[:len(x)]
    upleft = np.concatenate([np.zeros(bpp, np.int64), up[:-bpp]])[:len(x)]
    pred = {0: 0, 1: left, 2: up, 3: (left + up) // 2, 4: _paeth(left, up, upleft)}[kind]
    return ((x - pred) % 256).astype(np.uint8)


def make_png(pixels: np.ndarray, colour: int, depth: int, filters, *, level: int = 6, idat_parts: int = 1,
             extra: bytes = b"") -> bytes:
    """A PNG of ``pixels`` ((h, w) or (h, w, c) uint8; 0/1 for depth 1) with the given filter type per row."""
    h, w = pixels.shape[:2]
    if depth == 1:
        rows = np.packbits(pixels.astype(bool), axis=1)
        bpp = 1
    else:
        rows = pixels.reshape(h, -1)
        bpp = KINDS[(colour, depth)]
    out, prev = [], np.zeros(rows.shape[1], np.uint8)
    for r in range(h):
        out.append(bytes([filters[r]]) + _filter_row(filters[r], rows[r], prev, bpp).tobytes())
        prev = rows[r]
    stream = zlib.compress(b"".join(out), level)
    cut = np.linspace(0, len(stream), idat_parts + 1).astype(int)
    idat = b"".join(_chunk(b"IDAT", stream[a:b]) for a, b in zip(cut[:-1], cut[1:]))
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + extra + idat + _chunk(b"IEND", b"")


def _pixels(rng, h, w, colour, depth, style):
    shape = (h, w) if KINDS[(colour, depth)] == 1 else (h, w, KINDS[(colour, depth)])
    if depth == 1:
        return rng.random((h, w)) < 0.5 if style == "noise" else _boxes(rng, (h, w)) > 0
    if style == "noise":
        return rng.integers(0, 256, shape, dtype=np.uint8)
    base = _boxes(rng, (h, w))                        # 0/255 boxes, the same in every channel (like real masks)
    return np.repeat(base[..., None], shape[2], axis=2) if len(shape) == 3 else base


def _boxes(rng, shape):
    m = np.zeros(shape, np.uint8)
    for _ in range(3):
        y0, x0 = rng.integers(0, shape[0]), rng.integers(0, shape[1])
        m[y0:y0 + rng.integers(1, shape[0] + 1), x0:x0 + rng.integers(1, shape[1] + 1)] = 255
    return m


def _expected(path, frame):
    return resize_nearest(read_gray(path), frame)


@pytest.mark.parametrize("colour,depth", sorted(KINDS))
@pytest.mark.parametrize("style", ["noise", "boxes"])
def test_every_filter_type_gives_the_full_decode(tmp_path, colour, depth, style):
    rng = np.random.default_rng(colour * 10 + depth + (style == "boxes"))
    for case, (h, w) in enumerate([(1, 1), (9, 13), (37, 70), (120, 97)]):
        pixels = _pixels(rng, h, w, colour, depth, style)
        for filters in ([k] * h for k in range(5)):
            _check(tmp_path / f"c{case}.png", make_png(pixels, colour, depth, filters))
        mixed = rng.integers(0, 5, h).tolist()        # every filter type, mixed row by row
        _check(tmp_path / f"m{case}.png", make_png(pixels, colour, depth, mixed, level=case % 10,
                                                   idat_parts=1 + case))


def _check(path, data):
    path.write_bytes(data)
    assert parse_png(data) is not None, "the fast path should take this file"
    for frame in FRAMES:
        got = read_gray_at(path, frame)
        assert got.dtype == np.uint8 and got.shape == (frame[1], frame[0])
        assert np.array_equal(got, _expected(path, frame)), frame
        assert np.array_equal(sample_png(data, frame), got)


def test_pillow_written_pngs(tmp_path):
    rng = np.random.default_rng(7)
    for mode, shape in [("L", (50, 61)), ("RGB", (50, 61, 3)), ("RGBA", (50, 61, 4)), ("LA", (50, 61, 2))]:
        arr = rng.integers(0, 256, shape, dtype=np.uint8)
        arr[10:30] = 0                                # runs, so that Pillow's encoder picks several filters
        path = tmp_path / f"{mode}.png"
        Image.fromarray(arr, mode).save(path, optimize=True)
        _check(path, path.read_bytes())
    one = tmp_path / "one.png"
    Image.fromarray(rng.random((33, 45)) < 0.3).save(one)
    _check(one, one.read_bytes())


def test_other_files_go_through_pillow(tmp_path):
    rng = np.random.default_rng(3)
    gray = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    cases = {
        "palette.png": lambda p: Image.fromarray(gray).convert("P").save(p),
        "sixteen.png": lambda p: Image.fromarray(gray.astype(np.uint16) * 257).save(p),
        "gray.bmp": lambda p: Image.fromarray(gray).save(p),
        "gray.tif": lambda p: Image.fromarray(gray).save(p),
    }
    for name, write in cases.items():
        path = tmp_path / name
        write(path)
        assert sample_png(path.read_bytes(), (9, 9)) is None
        for frame in FRAMES:
            assert np.array_equal(read_gray_at(path, frame), _expected(path, frame)), name
    # ancillary chunks (and a suggested palette) do not matter; an unknown critical chunk does
    png = make_png(gray, 0, 8, [1] * 20, extra=_chunk(b"tEXt", b"a\x00b") + _chunk(b"PLTE", b"\x00" * 6))
    assert sample_png(png, (9, 9)) is not None
    assert sample_png(make_png(gray, 0, 8, [1] * 20, extra=_chunk(b"ABCD", b"")), (9, 9)) is None


def test_interlaced_and_damaged_files(tmp_path):
    gray = np.random.default_rng(4).integers(0, 256, (20, 30), dtype=np.uint8)
    png = bytearray(make_png(gray, 0, 8, [0] * 20))
    interlaced = bytearray(png)
    interlaced[8 + 8 + 12] = 1                        # IHDR's interlace byte (Adam7)
    interlaced[8 + 8 + 13:8 + 8 + 17] = struct.pack(">I", zlib.crc32(bytes(interlaced[12:29])))
    assert parse_png(bytes(interlaced)) is None
    bad_crc = bytearray(png)
    bad_crc[-20] ^= 0xFF                              # a byte of the IDAT data
    assert sample_png(bytes(bad_crc), (9, 9)) is None
    for name, data in [("crc.png", bad_crc), ("short.png", png[:len(png) // 2]), ("empty.png", b"")]:
        path = tmp_path / name
        path.write_bytes(bytes(data))
        with pytest.raises(AnnotationError, match=name):
            read_gray_at(path, (9, 9), image_id="img-1")
    with pytest.raises(AnnotationError, match="mask file not found"):
        read_gray_at(tmp_path / "missing.png", (9, 9))
    # a zlib stream one row short: not the expected length, so Pillow decodes it (or says why)
    rows = b"".join(b"\x00" + gray[r].tobytes() for r in range(19))
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", 30, 20, 8, 0, 0, 0, 0))
    short = b"\x89PNG\r\n\x1a\n" + header + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b"")
    assert sample_png(short, (9, 9)) is None


def test_engine_checks_its_arguments_and_the_stream():
    rows_bytes = b"".join(b"\x00" + bytes([r, r + 1, r + 2, r + 3]) for r in range(3))   # 3 rows of 4 gray bytes
    out = np.empty((2, 2), np.uint8)
    rows, cols = np.array([0, 2]), np.array([1, 3])

    def call(stream=zlib.compress(rows_bytes), rows=rows, cols=cols, width=4, channels=1, depth=8):
        z = np.frombuffer(stream, np.uint8)
        return engine().wsb_png_decode_sample(ptr(z), z.size, width, 3, channels, depth, ptr(rows), len(rows),
                                              ptr(cols), len(cols), ptr(out))

    assert call() == 0 and out.tolist() == [[1, 3], [3, 5]]
    assert call(rows=np.array([2, 0])) == -1          # rows not sorted
    assert call(cols=np.array([0, 4])) == -1          # column outside the image
    assert call(depth=1, channels=3) == -1            # 1-bit colour is not taken
    assert call(stream=zlib.compress(rows_bytes[:-1])) == -5          # one byte short
    assert call(stream=zlib.compress(rows_bytes + b"\x00")) == -5     # one byte too many
    bad = bytearray(zlib.compress(rows_bytes))
    bad[-1] ^= 1                                      # the Adler-32
    assert call(stream=bytes(bad)) == -5
    assert call(stream=zlib.compress(rows_bytes)[:-5]) == -5          # truncated
    assert call(stream=b"") == -5
    assert call(stream=zlib.compress(rows_bytes[:5] + b"\x05" + rows_bytes[6:])) == -3   # filter type 5


def test_real_openimages_masks(shared_dir):
    files = sorted((shared_dir / "openimages-masks" / "masks").rglob("*.png"))
    if not files:
        pytest.skip(f"no OpenImages mask PNGs under {shared_dir / 'openimages-masks'}")
    for path in files:
        for frame in [(224, 224), (448, 448), (5, 3)]:
            assert sample_png(path.read_bytes(), frame) is not None, path   # the fast path takes them
            assert np.array_equal(read_gray_at(path, frame), _expected(path, frame)), (path.name, frame)


def test_frame_loader_gives_the_same_gt_masks(shared_dir):
    from wsolbench.datasets import load_annotations
    from wsolbench.metrics.gt import gt_mask

    root = shared_dir / "openimages-masks"
    if not (root / "metadata").is_dir():
        pytest.skip(f"no OpenImages metadata under {root}")
    data = load_annotations(f"wsoleval:{root / 'metadata'}", mask_root=str(root / "masks"))
    for rec in data.records:
        for frame in [(224, 224), (100, 60)]:
            want = gt_mask(rec.masks.load(), frame, image_id=rec.image_id)
            assert np.array_equal(gt_mask(rec.masks.load_at(frame), frame, image_id=rec.image_id), want)


def test_nearest_index_is_the_resize_gather():
    arr = np.arange(13 * 17).reshape(13, 17)
    for w, h in [(5, 4), (40, 30), (17, 13)]:
        got = arr[nearest_index(13, h)[:, None], nearest_index(17, w)[None, :]]
        assert np.array_equal(got, resize_nearest(arr, (w, h)))


STRATEGIES = [zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE, zlib.Z_FIXED]


def _random_stream(rng, raw: bytes) -> bytes:
    """``raw`` through zlib with random settings, in pieces with sync and full flushes (empty stored
    blocks, byte alignment), so that every block type and code shape occurs."""
    co = zlib.compressobj(int(rng.integers(0, 10)), zlib.DEFLATED, int(rng.integers(9, 16)),
                          int(rng.integers(1, 10)), STRATEGIES[rng.integers(0, len(STRATEGIES))])
    parts, pos = [], 0
    while pos < len(raw):
        n = int(rng.integers(1, max(2, len(raw) // 3 + 1)))
        parts.append(co.compress(raw[pos:pos + n]))
        pos += n
        if rng.random() < 0.3:
            parts.append(co.flush(zlib.Z_SYNC_FLUSH if rng.random() < 0.5 else zlib.Z_FULL_FLUSH))
    return b"".join(parts) + co.flush()


def _pillow_or_none(data: bytes, frame):
    import io
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = im.convert("L") if im.mode != "L" else im
            return resize_nearest(np.asarray(im), frame)
    except Exception:                                 # noqa: BLE001 - any failure of Pillow's
        return None


def test_random_streams_and_damaged_streams_against_pillow():
    """Random images, filters and zlib settings decode as Pillow decodes them; a damaged stream
    (bits flipped, cut, bytes inserted) is either refused (Pillow then decodes or reports it) or
    gives exactly Pillow's values: never other values."""
    rng = np.random.default_rng(2026)
    kinds = sorted(KINDS)
    refused = 0
    for it in range(120):
        colour, depth = kinds[it % len(kinds)]
        h, w = int(rng.integers(1, 40)), int(rng.integers(1, 70))
        pixels = _pixels(rng, h, w, colour, depth, "noise" if it % 3 == 0 else "boxes")
        rows = np.packbits(pixels.astype(bool), axis=1) if depth == 1 else pixels.reshape(h, -1)
        bpp = 1 if depth == 1 else KINDS[(colour, depth)]
        filters = rng.integers(0, 5, h)
        prev, raw = np.zeros(rows.shape[1], np.uint8), []
        for r in range(h):
            raw.append(bytes([filters[r]]) + _filter_row(int(filters[r]), rows[r], prev, bpp).tobytes())
            prev = rows[r]
        stream = _random_stream(rng, b"".join(raw))
        header = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0))
        frame = (int(rng.integers(1, 90)), int(rng.integers(1, 90)))

        def png(z):
            return header + _chunk(b"IDAT", z) + _chunk(b"IEND", b"")

        got = sample_png(png(stream), frame)
        assert got is not None and np.array_equal(got, _pillow_or_none(png(stream), frame)), it
        for _ in range(4):
            bad = bytearray(stream)
            kind = rng.integers(0, 3)
            if kind == 0:
                i = int(rng.integers(0, len(bad)))
                bad[i] ^= 1 << int(rng.integers(0, 8))
            elif kind == 1:
                bad = bad[:int(rng.integers(0, len(bad)))]
            else:
                i = int(rng.integers(0, len(bad)))
                bad[i:i] = bytes(rng.integers(0, 256, 3, dtype=np.uint8))
            got = sample_png(png(bytes(bad)), frame)
            if got is None:
                refused += 1
            else:
                assert np.array_equal(got, _pillow_or_none(png(bytes(bad)), frame)), (it, kind)
    assert refused > 300                              # damage is almost always caught
