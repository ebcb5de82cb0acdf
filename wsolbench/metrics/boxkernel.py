"""Python side of the box engine: thin calls into the compiled kernels of ``engine.c``.

The engine sweeps the uint8 levels of a map twice with union-find (foreground 8-components from
level 255 down, background 4-components from level 0 up), keeping per component its extent, its
first raster pixel and the bit-quad sums that give its contour area, and records the best IoUs at
the levels the CAM-threshold grid needs. The algorithm, its invariants and its cost model are in
the header of ``engine.c`` and in ``docs/engine.md``; this module only allocates outputs and
passes pointers.

All coordinates are pixel indices: ``x`` = column, ``y`` = row, linear index ``y * W + x``.
"""

from __future__ import annotations

import numpy as np

from wsolbench.metrics.native import best_entry, engine, ptr

# Negative results of the engine's box entries (engine.c: its own checks of the arguments).
OUT_OF_MEMORY, BAD_THRESHOLDS, BAD_SOURCE, BAD_GT = -1, -2, -3, -4


def best_ious_levels(scoremap: np.ndarray, thresholds: np.ndarray, gt: np.ndarray, all_regions: bool):
    """Per-threshold best IoUs of one map, or a code saying what is wrong with the input.

    Args:
        scoremap: C-contiguous float32 or float64 (H, W), values expected in [0, 1].
        thresholds: C-contiguous float64 (T,), expected in [0, 1).
        gt: C-contiguous int64 (m, 4) GT boxes ``x0, y0, x1, y1``, expected valid.
        all_regions: also compute the all-regions (holes included) IoUs.

    Returns:
        ``(rows, rc)``: float64 (2, 1, T), the largest-region IoUs in ``rows[0, 0]`` and the
        all-regions IoUs in ``rows[1, 0]`` (not written without all_regions), and ``rc``: 0, the
        number of NaN / out-of-range map values (> 0), ``BAD_GT`` or ``BAD_THRESHOLDS`` (a GT box
        or a threshold the engine's own check refused); the IoUs are meaningless unless ``rc == 0``.
    """
    H, W = scoremap.shape
    nt = len(thresholds)
    rows = np.empty((2, 1, nt))
    is_f32 = int(scoremap.dtype == np.float32)
    entry = best_entry()
    if entry is not None:                      # the built extension: arrays passed as they are
        rc = entry(scoremap, is_f32, H, W, thresholds, gt, rows, int(all_regions))
    else:
        p = ptr(rows)
        rc = engine().wsb_best_ious(ptr(scoremap), is_f32, H, W, ptr(thresholds), nt, ptr(gt), len(gt),
                                    int(all_regions), p, p + 8 * nt)
    if rc == OUT_OF_MEMORY:
        raise MemoryError(f"the box engine could not allocate its buffers for a {H}x{W} map")
    return rows, int(rc)


def bucket_by_value(u8):
    """Counting sort of pixels by value.

    Args:
        u8: uint8 (N,) flat map.

    Returns:
        order: int64 (N,) pixel indices grouped by value, ascending; within a value, ascending index.
        starts: int64 (257,) ``order[starts[v]:starts[v + 1]]`` are the pixels with value ``v``.
    """
    u8 = np.ascontiguousarray(u8, dtype=np.uint8).reshape(-1)
    order = np.empty(u8.size, np.int64)
    starts = np.empty(257, np.int64)
    engine().wsb_bucket(ptr(u8), u8.size, ptr(order), ptr(starts))
    return order, starts


def _regions(u8, W, H, thr, holes):
    u8 = np.ascontiguousarray(u8, dtype=np.uint8).reshape(-1)
    if u8.size != W * H:
        raise ValueError(f"a flat uint8 map of {W}x{H} pixels has {W * H} values, got {u8.size}")
    out = np.empty((max(W * H, 1), 6), np.int64)
    largest = np.zeros(1, np.int64)
    n = engine().wsb_regions(ptr(u8), H, W, int(thr), int(holes), ptr(out), ptr(largest))
    if n < 0:
        raise MemoryError(f"the box engine could not allocate its buffers for a {H}x{W} map")
    rows = out[:n]
    sort = np.argsort(rows[:, 4], kind="stable")        # raster order of the first pixel
    best = int(np.flatnonzero(sort == largest[0])[0]) if n and not holes else -1
    return rows[sort], best


def components_at(u8, W, H, order, starts, thr):
    """The 8-connected components of ``u8 > thr`` (0 <= thr <= 254), in raster order of their first
    pixel.

    Args:
        u8: uint8 (H*W,) flat map.
        W, H: map width and height.
        order, starts: :func:`bucket_by_value` of ``u8``; accepted so that callers that sort once can
            pass it, but the engine sorts the pixels itself (with their neighbour patterns), so
            they are not read.
        thr: the level.

    Returns:
        extents: int64 (n, 4) pixel extents ``min_x, min_y, max_x, max_y``.
        area2: int64 (n,) twice the contour area of each component's outer border.
        largest: row of the largest-contour component (ties: the last in raster order); -1 if n == 0.
    """
    rows, best = _regions(u8, W, H, thr, holes=False)
    return rows[:, :4].copy(), rows[:, 5].copy(), best


def holes_at(u8, W, H, order, starts, thr):
    """Pixel extents int64 (n, 4) of the holes of ``u8 > thr`` (background 4-components off the
    border), in raster order of their first pixel (``order``, ``starts``: as for
    :func:`components_at`)."""
    rows, _ = _regions(u8, W, H, thr, holes=True)
    return rows[:, :4].copy()
