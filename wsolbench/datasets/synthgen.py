"""The numpy generator of the synthetic 2-D WSOL benchmark (no I/O; files are written by
:mod:`wsolbench.datasets.synthetic`).

Every image holds one object on a cluttered, textured background. The object is a *body* (a
wobbly superellipse with a random muted colour and texture, drawn independently of the class)
plus a small *part* stuck to the body's outline. The class is decided by the part alone: its
shape and its saturated colour. A classifier can therefore reach high accuracy by looking only at
the part, which is the situation WSOL methods exist for: a class activation map concentrates on
the part (about 12% of the object by default) and covers too little of the object.

``body_cue`` (default 0: the body carries no class signal) makes the body a weaker but real cue,
as a bird's body is bird-like: with probability ``body_cue`` a body takes its class's *style*, a
muted hue (class ``c``: hue ``(0.618 c) mod 1``, jittered) and one of the three textures
(``c mod 3``); other bodies stay random. The style is drawn from a separate random stream, so
the layout, background, clutter, part and noise of an image are the same for every ``body_cue``
(only the global colour jitter, which follows the image's mean, shifts the other pixels a little).

Each sample is drawn from its own random stream keyed by ``(seed, split, class, index)``, so a
sample does not depend on how many others are generated, and the same config always gives the
same pixels.

Example:
    >>> from wsolbench.datasets.synthgen import SyntheticConfig, render_sample
    >>> s = render_sample(SyntheticConfig(classes=3), "test", 2, 0)
    >>> s.image.shape, s.image.dtype, s.label
    ((64, 64, 3), dtype('uint8'), 2)
    >>> bool((s.part & ~s.mask).any())          # the part lies inside the object
    False
"""

from __future__ import annotations

import colorsys
import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Callable

import numpy as np

from wsolbench.errors import DatasetError

#: Bumped whenever the pixels a config produces change; part of the cache hash.
GENERATOR_VERSION = 2
SPLITS = ("train", "val", "test")
_SPLIT_CODE = {"train": 1, "val": 2, "test": 3}
SUPERSAMPLE = 4

#: Part shapes and colours; class ``c`` has colour ``c % 5`` and shape ``c // 5``.
PART_SHAPES = ("disc", "triangle", "square", "cross", "diamond")
PART_COLOURS = {
    "red": (0.92, 0.10, 0.10),
    "blue": (0.10, 0.28, 0.95),
    "yellow": (0.96, 0.86, 0.05),
    "green": (0.05, 0.78, 0.18),
    "magenta": (0.88, 0.10, 0.88),
}
MAX_CLASSES = len(PART_SHAPES) * len(PART_COLOURS)

# Area of each part shape for size parameter h = 1 (the shapes are scaled to a target area).
_UNIT_AREA = {"disc": np.pi, "triangle": 3 * np.sqrt(3) / 4, "square": 4.0,
              "cross": 20.0 / 9.0, "diamond": 2.0}
_PART_OVERLAP = 0.25   # about this fraction of the part's area lies on the body


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the 2-D benchmark (all of them are part of the cache hash).

    Attributes:
        classes: number of classes (1..25); class ``c`` = part colour ``c % 5``, shape ``c // 5``.
        size: image side in pixels (64 default; 128 or 224 for larger models; 32..512 accepted).
        train, val, test: images per class in each split.
        part: target part area as a fraction of the object area (0.02..0.5; default 0.12).
        clutter: background clutter level in [0, 1]: distractor count, texture, pixel noise.
        scale_min, scale_max: range of the body's longest extent relative to the image side.
        seed: the random seed.
        body_cue: probability in [0, 1] that a body has its class's style (hue and texture); 0
            (default) = bodies independent of the class. Part of the hash only when not 0, so the
            configs (and cached folders) that existed before the knob keep their hash.
    """

    classes: int = 10
    size: int = 64
    train: int = 100
    val: int = 10
    test: int = 50
    part: float = 0.12
    clutter: float = 0.5
    scale_min: float = 0.3
    scale_max: float = 0.5
    seed: int = 0
    body_cue: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.classes <= MAX_CLASSES, f"classes must be in 1..{MAX_CLASSES}, got {self.classes}"),
            (32 <= self.size <= 512, f"size must be in 32..512 pixels (64, 128 or 224 are typical), got {self.size}"),
            (min(self.train, self.val, self.test) >= 0,
             f"images per class must be >= 0, got train={self.train} val={self.val} test={self.test}"),
            (0.02 <= self.part <= 0.5, f"part must be a fraction of the object area in [0.02, 0.5], got {self.part}"),
            (0.0 <= self.clutter <= 1.0, f"clutter must be in [0, 1], got {self.clutter}"),
            (0.1 <= self.scale_min <= self.scale_max <= 0.8,
             f"scale must satisfy 0.1 <= scale_min <= scale_max <= 0.8, got {self.scale_min}-{self.scale_max}"),
            (self.seed >= 0, f"seed must be >= 0, got {self.seed}"),
            (0.0 <= self.body_cue <= 1.0, f"body_cue must be a probability in [0, 1], got {self.body_cue}"),
        ]
        for ok, message in checks:
            if not ok:
                raise DatasetError(f"synthetic dataset: {message}")

    def to_dict(self) -> dict:
        """Every knob; knobs added later (``body_cue``) only when they differ from their default."""
        d = dataclasses.asdict(self)
        if d["body_cue"] == 0.0:
            del d["body_cue"]
        return d

    def hash(self) -> str:
        """12 hex digits of SHA-256 over the config and :data:`GENERATOR_VERSION`."""
        blob = json.dumps({"kind": "synthetic", "generator_version": GENERATOR_VERSION, **self.to_dict()},
                          sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def per_class(self, split: str) -> int:
        """Images per class in ``split``."""
        return int(getattr(self, split))

    def class_names(self) -> list[str]:
        """``colour-shape`` name of every class, e.g. ``red-disc``."""
        colours = list(PART_COLOURS)
        return [f"{colours[c % len(colours)]}-{PART_SHAPES[c // len(colours)]}" for c in range(self.classes)]


@dataclass
class Sample:
    """One rendered image and its exact ground truth.

    Attributes:
        image: uint8 (H, W, 3) RGB.
        mask: bool (H, W): object (body + part) pixels (anti-aliased coverage >= 0.5).
        part: bool (H, W): part pixels (a subset of ``mask``).
        ignore: bool (H, W): the 1-2 px band just outside ``mask`` (anti-aliased edge pixels).
        box: int64 (4,) ``x0, y0, x1, y1`` inclusive pixel extent of ``mask``.
        part_box: int64 (4,) the same for ``part``.
        label: the class.
    """

    image: np.ndarray
    mask: np.ndarray
    part: np.ndarray
    ignore: np.ndarray
    box: np.ndarray
    part_box: np.ndarray
    label: int


# --------------------------------------------------------------------------- random streams

def sample_rng(config: SyntheticConfig, split: str, label: int, index: int) -> np.random.Generator:
    """The independent random stream of one sample."""
    return np.random.default_rng([config.seed, 2, _SPLIT_CODE[split], label, index])


def _muted_colour(rng: np.random.Generator, *, s_max: float = 0.45) -> np.ndarray:
    """A random low-saturation RGB colour in [0, 1] (bodies, distractors, background)."""
    return np.array(colorsys.hsv_to_rgb(rng.random(), rng.uniform(0.05, s_max), rng.uniform(0.3, 0.85)))


# --------------------------------------------------------------------------- rasterisation

@dataclass(frozen=True)
class Window:
    """A pixel window ``rows r0:r1, cols c0:c1`` of the image."""

    r0: int
    r1: int
    c0: int
    c1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.r0, self.r1), slice(self.c0, self.c1)


def _window(extent: tuple[float, float, float, float], size: int) -> Window:
    """Pixel window covering a float extent ``(x0, y0, x1, y1)``, clipped to the image."""
    x0, y0, x1, y1 = extent
    return Window(max(0, int(np.floor(y0)) - 1), min(size, int(np.ceil(y1)) + 2),
                  max(0, int(np.floor(x0)) - 1), min(size, int(np.ceil(x1)) + 2))


def _subpixel_grid(win: Window) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel sample coordinates (x, y), each (h*S, w*S), of a window; pixel centres at i + 0.5."""
    s = SUPERSAMPLE
    offsets = (np.arange(s) + 0.5) / s
    ys = (np.arange(win.r0, win.r1)[:, None] + offsets[None, :]).ravel()
    xs = (np.arange(win.c0, win.c1)[:, None] + offsets[None, :]).ravel()
    return np.meshgrid(xs, ys)


def _coverage(inside: np.ndarray, win: Window) -> np.ndarray:
    """Fraction of each pixel's sub-samples that are inside: float64 (h, w)."""
    s = SUPERSAMPLE
    h, w = win.r1 - win.r0, win.c1 - win.c0
    return inside.reshape(h, s, w, s).mean(axis=(1, 3))


def _blend(canvas: np.ndarray, win: Window, alpha: np.ndarray, colour: np.ndarray) -> None:
    """Alpha-composite ``colour`` (3,) or (h, w, 3) over ``canvas`` inside ``win`` (in place)."""
    region = canvas[win.slices]
    region += alpha[..., None] * (colour - region)


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a coarse (g, g) or (g, g, C) grid to (size, size[, C])."""
    flat = grid.ndim == 2
    g3 = grid[..., None] if flat else grid
    g = g3.shape[0]
    pos = (np.arange(size) + 0.5) * (g - 1) / size
    i0 = np.clip(np.floor(pos).astype(int), 0, g - 2)
    f = (pos - i0)[:, None, None]
    rows = g3[i0] * (1 - f) + g3[i0 + 1] * f
    f = f.reshape(1, -1, 1)
    out = rows[:, i0] * (1 - f) + rows[:, i0 + 1] * f
    return out[..., 0] if flat else out


# --------------------------------------------------------------------------- shapes

@dataclass(frozen=True)
class Body:
    """A wobbly superellipse centred at the origin of object coordinates.

    Attributes:
        a, b: semi-axes (pixels); p: superellipse exponent (2 = ellipse, larger = boxier);
        theta: rotation (radians); wobble: (k, amplitude, phase) radial harmonics.
    """

    a: float
    b: float
    p: float
    theta: float
    wobble: tuple[tuple[int, float, float], ...]

    def _radial(self, phi: np.ndarray) -> np.ndarray:
        r = np.ones_like(phi)
        for k, amp, phase in self.wobble:
            r = r + amp * np.cos(k * phi + phase)
        return r

    def _frame(self, x, y):
        c, s = np.cos(self.theta), np.sin(self.theta)
        return c * x + s * y, -s * x + c * y

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        u, v = self._frame(x, y)
        f = (np.abs(u / self.a) ** self.p + np.abs(v / self.b) ** self.p) ** (1.0 / self.p)
        return f <= self._radial(np.arctan2(v, u))

    def boundary(self, alpha: float) -> float:
        """Distance from the centre to the outline along world direction ``alpha``."""
        phi = np.array(alpha - self.theta)
        denom = (np.abs(np.cos(phi) / self.a) ** self.p + np.abs(np.sin(phi) / self.b) ** self.p) ** (1 / self.p)
        return float(self._radial(phi) / denom)

    def radius(self) -> float:
        """A bound on the distance from the centre to any outline point."""
        return max(self.a, self.b) * (1 + sum(abs(w[1]) for w in self.wobble))


@dataclass(frozen=True)
class Part:
    """A class-defining part: ``shape`` of size ``h`` centred at (cx, cy), rotated by ``theta``."""

    shape: str
    h: float
    cx: float
    cy: float
    theta: float

    def inside(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        c, s = np.cos(self.theta), np.sin(self.theta)
        dx, dy = x - self.cx, y - self.cy
        u, v = (c * dx + s * dy) / self.h, (-s * dx + c * dy) / self.h
        if self.shape == "disc":
            return u * u + v * v <= 1.0
        if self.shape == "square":
            return np.maximum(np.abs(u), np.abs(v)) <= 1.0
        if self.shape == "diamond":
            return np.abs(u) + np.abs(v) <= 1.0
        if self.shape == "cross":
            w = 1.0 / 3.0
            return ((np.abs(u) <= w) & (np.abs(v) <= 1)) | ((np.abs(v) <= w) & (np.abs(u) <= 1))
        # equilateral triangle inscribed in the unit circle, apex up (v grows downwards in images)
        return (v <= 0.5) & (np.sqrt(3) * u - v <= 1.0) & (-np.sqrt(3) * u - v <= 1.0)

    def radius(self) -> float:
        return self.h * (np.sqrt(2) if self.shape in ("square", "cross") else 1.0)


def _make_body(rng: np.random.Generator, config: SyntheticConfig) -> Body:
    extent = rng.uniform(config.scale_min, config.scale_max) * config.size
    a = extent / 2
    b = a * rng.uniform(0.55, 0.9)
    wobble = tuple((k, float(rng.uniform(0, 0.07)), float(rng.uniform(0, 2 * np.pi))) for k in (2, 3, 5))
    shrink = 1 + sum(w[1] for w in wobble)
    return Body(a / shrink, b / shrink, float(rng.uniform(2.0, 4.5)), float(rng.uniform(0, np.pi)), wobble)


def _body_area(body: Body) -> float:
    """Area of the body (pixels), measured on a fine grid."""
    r = body.radius() + 1
    n = 128
    xs = np.linspace(-r, r, n)
    x, y = np.meshgrid(xs, xs)
    return float(body.inside(x, y).mean() * (2 * r) ** 2)


def _make_part(rng: np.random.Generator, config: SyntheticConfig, body: Body, shape: str) -> Part:
    f = config.part
    area = f * _body_area(body) / (1 - f * (1 - _PART_OVERLAP))
    h = float(np.sqrt(area / _UNIT_AREA[shape]))
    alpha = float(rng.uniform(0, 2 * np.pi))
    d = body.boundary(alpha) + 0.35 * h
    return Part(shape, h, d * np.cos(alpha), d * np.sin(alpha), float(rng.uniform(-0.15, 0.15)))


# --------------------------------------------------------------------------- background and clutter

def _background(rng: np.random.Generator, config: SyntheticConfig) -> np.ndarray:
    """Smooth muted colour field plus a mid-frequency texture: float (S, S, 3) in [0, 1]."""
    size, clutter = config.size, config.clutter
    g = int(rng.integers(3, 6))
    coarse = np.stack([_muted_colour(rng, s_max=0.3) for _ in range(g * g)]).reshape(g, g, 3)
    canvas = _upsample(coarse, size)
    fine = rng.normal(0.0, 1.0, (12, 12))
    texture = _upsample(fine, size)
    return np.clip(canvas + (0.04 + 0.10 * clutter) * texture[..., None], 0, 1)


def _draw_distractor(rng: np.random.Generator, canvas: np.ndarray, size: int) -> None:
    """One shape that belongs to no class: a line, a ring or a small blob, in a muted colour."""
    kind = rng.integers(3)
    colour = _muted_colour(rng, s_max=0.5)
    cx, cy = rng.uniform(0, size, 2)
    if kind == 0:
        length, angle = rng.uniform(0.15, 0.4) * size, rng.uniform(0, np.pi)
        half = max(0.6, rng.uniform(0.008, 0.02) * size)
        dx, dy = np.cos(angle) * length / 2, np.sin(angle) * length / 2
        extent = (cx - abs(dx) - half, cy - abs(dy) - half, cx + abs(dx) + half, cy + abs(dy) + half)

        def inside(x, y):
            t = np.clip(((x - cx + dx) * 2 * dx + (y - cy + dy) * 2 * dy) / (4 * (dx * dx + dy * dy)), 0, 1)
            px, py = cx - dx + t * 2 * dx, cy - dy + t * 2 * dy
            return (x - px) ** 2 + (y - py) ** 2 <= half * half
    elif kind == 1:
        r = rng.uniform(0.04, 0.1) * size
        t = max(0.7, rng.uniform(0.01, 0.025) * size)
        extent = (cx - r - t, cy - r - t, cx + r + t, cy + r + t)

        def inside(x, y):
            return np.abs(np.hypot(x - cx, y - cy) - r) <= t
    else:
        ra, rb = rng.uniform(0.03, 0.1, 2) * size
        extent = (cx - ra, cy - rb, cx + ra, cy + rb)

        def inside(x, y):
            return ((x - cx) / ra) ** 2 + ((y - cy) / rb) ** 2 <= 1
    win = _window(extent, size)
    if win.r1 > win.r0 and win.c1 > win.c0:
        x, y = _subpixel_grid(win)
        _blend(canvas, win, _coverage(inside(x, y), win), colour)


MIN_BODY_CONTRAST = 0.25


def _class_hue(label: int, rng: np.random.Generator) -> float:
    """Hue of class ``label``'s body style (golden-ratio spacing), jittered by +-0.03."""
    return float((0.618034 * label + rng.uniform(-0.03, 0.03)) % 1.0)


def _contrasting_colour(rng: np.random.Generator, region: np.ndarray, weight: np.ndarray,
                        hue: float | None = None) -> np.ndarray:
    """A muted body colour at least :data:`MIN_BODY_CONTRAST` (RGB distance) from the mean of the
    background it covers, so that the whole object stays visible (up to 32 draws, then the farthest).
    ``hue`` fixes the hue (a class-styled body); saturation and value are drawn."""
    backdrop = (region * weight[..., None]).sum(axis=(0, 1)) / max(weight.sum(), 1e-9)
    best, best_d = None, -1.0
    for _ in range(32):
        if hue is None:
            colour = _muted_colour(rng)
        else:
            colour = np.array(colorsys.hsv_to_rgb(hue, rng.uniform(0.25, 0.45), rng.uniform(0.3, 0.85)))
        d = float(np.linalg.norm(colour - backdrop))
        if d > best_d:
            best, best_d = colour, d
        if d >= MIN_BODY_CONTRAST:
            break
    return best


def _body_texture(rng: np.random.Generator, win: Window, base: np.ndarray, kind: int | None = None) -> np.ndarray:
    """Colour (h, w, 3) of the body inside ``win``: plain shading, stripes or mottling (``kind``
    0, 1, 2; drawn when ``None``)."""
    h, w = win.r1 - win.r0, win.c1 - win.c0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    drawn = rng.integers(3)
    kind = drawn if kind is None else kind
    angle = rng.uniform(0, np.pi)
    along = (np.cos(angle) * xx + np.sin(angle) * yy) / max(h, w, 1)
    if kind == 0:
        mod = 0.12 * (along - 0.5)
    elif kind == 1:
        mod = 0.09 * np.sin(2 * np.pi * along * rng.uniform(2.5, 5.0) + rng.uniform(0, 2 * np.pi))
    else:
        mod = 0.08 * _upsample(rng.normal(0, 1, (5, 5)), max(h, w))[:h, :w]
    return np.clip(base[None, None, :] + mod[..., None], 0, 1)


def _dilate(mask: np.ndarray, steps: int) -> np.ndarray:
    """Binary dilation with a 3x3 square, ``steps`` times (bool (H, W))."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:, :] |= out[:-1, :]
        grown[:-1, :] |= out[1:, :]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        grown[1:, 1:] |= out[:-1, :-1]
        grown[1:, :-1] |= out[:-1, 1:]
        grown[:-1, 1:] |= out[1:, :-1]
        grown[:-1, :-1] |= out[1:, 1:]
        out = grown
    return out


def ignore_band_width(size: int) -> int:
    """Width (pixels) of the ignore band outside the mask: 1 px below 128 px images, else 2 px."""
    return 1 if size < 128 else 2


def _extent_box(mask: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return np.array([cols[0], rows[0], cols[-1], rows[-1]], np.int64)


def _jitter_and_noise(rng: np.random.Generator, canvas: np.ndarray, clutter: float) -> np.ndarray:
    """Global colour jitter (brightness, contrast, channel gains) and pixel noise; uint8 result."""
    mean = canvas.mean()
    out = (canvas - mean) * rng.uniform(0.85, 1.15) + mean * rng.uniform(0.9, 1.1)
    out = out * rng.uniform(0.95, 1.05, 3)[None, None, :]
    out = out + rng.normal(0.0, 0.01 + 0.03 * clutter, out.shape)
    return np.round(np.clip(out, 0, 1) * 255).astype(np.uint8)


# --------------------------------------------------------------------------- one sample

def _place(rng: np.random.Generator, body: Body, part: Part, size: int) -> tuple[Body, Part, tuple[float, float]]:
    """Pick the object centre so that the whole object (plus a 2 px margin) lies in the image."""
    r_body = body.radius()
    x0 = min(-r_body, part.cx - part.radius())
    x1 = max(r_body, part.cx + part.radius())
    y0 = min(-r_body, part.cy - part.radius())
    y1 = max(r_body, part.cy + part.radius())
    margin = 2.0
    lo_x, hi_x = margin - x0, size - margin - x1
    lo_y, hi_y = margin - y0, size - margin - y1
    cx = rng.uniform(lo_x, hi_x) if hi_x > lo_x else size / 2 - (x0 + x1) / 2
    cy = rng.uniform(lo_y, hi_y) if hi_y > lo_y else size / 2 - (y0 + y1) / 2
    return body, part, (float(cx), float(cy))


def _styled_body(config: SyntheticConfig, split: str, label: int, index: int, region: np.ndarray,
                 body_cov: np.ndarray, win: Window, texture: np.ndarray) -> np.ndarray:
    """With probability ``body_cue``, the body texture in the class's style (hue, texture kind), from
    a random stream of its own (the main stream, and so the rest of the image, is unchanged)."""
    rng = np.random.default_rng([config.seed, 3, _SPLIT_CODE[split], label, index])
    if rng.random() >= config.body_cue:
        return texture
    base = _contrasting_colour(rng, region, body_cov, hue=_class_hue(label, rng))
    return _body_texture(rng, win, base, kind=label % 3)


def render_sample(config: SyntheticConfig, split: str, label: int, index: int) -> Sample:
    """Render sample ``index`` of class ``label`` in ``split``, deterministically.

    Args:
        config: the dataset config.
        split: ``train``, ``val`` or ``test``.
        label: class index in ``0..config.classes-1``.
        index: sample index within the class.

    Returns:
        A :class:`Sample` with the image (size, size, 3) and its exact ground truth.
    """
    if split not in _SPLIT_CODE:
        raise DatasetError(f"synthetic dataset: unknown split {split!r}; use one of {', '.join(SPLITS)}")
    rng = sample_rng(config, split, label, index)
    size = config.size
    canvas = _background(rng, config)
    for _ in range(int(rng.poisson(6 * config.clutter))):
        _draw_distractor(rng, canvas, size)
    colours = list(PART_COLOURS.values())
    body = _make_body(rng, config)
    part = _make_part(rng, config, body, PART_SHAPES[label // len(colours)])
    body, part, (ox, oy) = _place(rng, body, part, size)
    r = max(body.radius(), np.hypot(part.cx, part.cy) + part.radius())
    win = _window((ox - r, oy - r, ox + r, oy + r), size)
    x, y = _subpixel_grid(win)
    in_body = body.inside(x - ox, y - oy)
    in_part = part.inside(x - ox, y - oy)
    body_cov, part_cov = _coverage(in_body, win), _coverage(in_part, win)
    object_cov = _coverage(in_body | in_part, win)
    base = _contrasting_colour(rng, canvas[win.slices], body_cov)
    texture = _body_texture(rng, win, base)
    if config.body_cue > 0:
        texture = _styled_body(config, split, label, index, canvas[win.slices], body_cov, win, texture)
    _blend(canvas, win, body_cov, texture)
    part_colour = np.clip(np.asarray(colours[label % len(colours)]) + rng.normal(0, 0.03, 3), 0, 1)
    _blend(canvas, win, part_cov, part_colour)
    image = _jitter_and_noise(rng, canvas, config.clutter)
    mask = np.zeros((size, size), bool)
    part_mask = np.zeros((size, size), bool)
    mask[win.slices] = object_cov >= 0.5
    part_mask[win.slices] = part_cov >= 0.5
    ignore = _dilate(mask, ignore_band_width(size)) & ~mask
    return Sample(image=image, mask=mask, part=part_mask, ignore=ignore, box=_extent_box(mask),
                  part_box=_extent_box(part_mask), label=int(label))


def iter_split(config: SyntheticConfig, split: str,
               progress: Callable[[int, int], None] | None = None):
    """Yield ``(label, index, Sample)`` for every sample of ``split``, class by class."""
    n = config.per_class(split)
    total, done = n * config.classes, 0
    for label in range(config.classes):
        for index in range(n):
            yield label, index, render_sample(config, split, label, index)
            done += 1
            if progress:
                progress(done, total)
