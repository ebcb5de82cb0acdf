"""``render_samples`` and ``wsolbench datasets show``: a PNG grid with the GT drawn where it belongs."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from fixtures_datasets import make_cub, make_voc
from wsolbench.cli.main import cli
from wsolbench.datasets import AnnotationSet, ImageRecord, load_annotations
from wsolbench.datasets.show import BOX_COLOUR, CAPTION_H, HEADER_H, pick_records, render_samples
from wsolbench.errors import DatasetError


def test_grid_geometry_and_box_drawn_on_the_object(tmp_path):
    cub = make_cub(tmp_path)
    data = load_annotations(f"cub:{cub.root}")
    out = render_samples(data, tmp_path / "out" / "grid.png", n=4, ncols=2, tile=128)
    grid = np.asarray(Image.open(out).convert("RGB"))
    assert grid.shape == (HEADER_H + 2 * (128 + CAPTION_H) + 3 * 4, 2 * 128 + 3 * 4, 3)
    # first tile: the box outline is green at the scaled box corner
    rec = data.records[0]
    w, h = rec.image_size
    s = min(128 / w, 128 / h)
    ox, oy = 4 + (128 - round(w * s)) // 2, HEADER_H + 4 + (128 - round(h * s)) // 2
    x0, y0 = rec.boxes[0][:2]
    patch = grid[int(oy + y0 * s): int(oy + y0 * s) + 2, int(ox + x0 * s) + 3: int(ox + x0 * s) + 6]
    assert (patch == BOX_COLOUR).all(axis=-1).any()
    assert not list((tmp_path / "out").glob(".*tmp"))             # written atomically


def test_masks_are_coloured_and_void_whitened(tmp_path):
    voc = make_voc(tmp_path, n_train=1, n_val=1)
    data = load_annotations(f"voc:{voc.root}")
    out = render_samples(data, tmp_path / "voc.png", n=1, tile=256)
    grid = np.asarray(Image.open(out).convert("RGB")).astype(int)
    rec, name = data.records[0], voc.splits["val"][0]
    w, h = rec.image_size
    s = min(256 / w, 256 / h)
    ox, oy = 4 + (256 - round(w * s)) // 2, HEADER_H + 4 + (256 - round(h * s)) // 2
    mask = voc.masks[name]
    photo = np.asarray(Image.open(voc.root / "JPEGImages" / f"{name}.jpg").convert("RGB")).astype(int)
    bg = np.argwhere(mask == 0)[0]
    obj = np.argwhere(mask == rec.labels[0] + 1)
    r, c = obj[len(obj) // 2]
    shown = grid[int(oy + (r + 0.5) * s), int(ox + (c + 0.5) * s)]
    assert np.abs(shown - photo[r, c]).sum() > 60                 # object pixels are tinted
    r, c = bg
    assert np.abs(grid[int(oy + (r + 0.5) * s), int(ox + (c + 0.5) * s)] - photo[r, c]).sum() < 40


def test_sampling_and_refusals(tmp_path):
    cub = make_cub(tmp_path)
    data = load_annotations(f"cub:{cub.root}")
    picked = pick_records(data, 3)
    assert [r.image_id for r in picked] == [data.image_ids[i] for i in (0, 2, 5)]
    assert len(pick_records(data, 100)) == len(data)
    assert pick_records(data, 3, seed=1) == pick_records(data, 3, seed=1)
    one_d = AnnotationSet([ImageRecord("a", (0,))], name="s1", split="test", ndim=1)
    with pytest.raises(DatasetError, match="2-D images"):
        render_samples(one_d, tmp_path / "x.png")


def test_missing_images_still_render(tmp_path):
    data = AnnotationSet([ImageRecord("a.jpg", (0,), (100, 50), np.array([[10.0, 10, 40, 30]]))], name="m",
                         split="test", root=str(tmp_path))
    out = render_samples(data, tmp_path / "m.png")
    assert Image.open(out).size[0] > 0


def test_cli_show_writes_the_png(tmp_path):
    cub = make_cub(tmp_path)
    out = tmp_path / "grid.png"
    res = CliRunner().invoke(cli, ["datasets", "show", f"cub:{cub.root}", "--split", "train", "-n", "5",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out) and "5 samples of cub train" in res.stderr
    assert Image.open(out).format == "PNG"
    bad = CliRunner().invoke(cli, ["datasets", "show", f"cub:{cub.root}", "-o", "colour=red"])
    assert bad.exit_code == 2 and "no option 'colour'" in bad.stderr
