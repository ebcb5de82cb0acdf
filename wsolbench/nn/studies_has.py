"""The Hide-and-Seek studies on real data: ``has-tinyimagenet`` and ``has-ilsvrc``.

``has-tinyimagenet`` is the grid of the Hide-and-Seek reproduction on Tiny ImageNet (a presentation
by Seo Seok-jun; its numbers are in ``../shared/literature/reported.csv`` and the leaderboard's
reported rows): four networks trained from scratch (AlexNet-GAP and GoogLeNet-GAP on 64x64 images
upscaled to 227/224, an AlexNet adapted to 64x64, a fire-module network), each with CAM, HaS-16/36/
64/Mix (patches per image), input dropout (four variants), GMP, AUG-1/AUG-2 with and without HaS,
and the no-resize input; every model evaluated with one pass and with the 10-crop test (crops of
75% of the side) at the fixed CAM thresholds 0.2-0.5 (GT-known loc, top-1 loc; top-1 cls), the
best of them, and under the ``wsoleval`` protocol (MaxBoxAccV2, MaxBoxAcc) side by side, with the
reproduction's published numbers as a reference column.

``has-ilsvrc`` is the HaS paper's own setting (Singh & Lee, ICCV 2017): AlexNet-GAP and
GoogLeNet-GAP from scratch on ILSVRC with patches of 16/32/44/56 pixels and the mixed sizes,
evaluated at the paper's thresholds 0.2 (AlexNet) and 0.3 (GoogLeNet) on ILSVRC 2012 val.

Each cell is a packaged recipe (``baselines/*-tinyimagenet.toml``, ``*-ilsvrc-has2017.toml``),
run by the study machinery of :mod:`wsolbench.nn.studies` on the dataset passed with ``--dataset``.
"""

from __future__ import annotations

from wsolbench.nn.studies import DatasetConfig, Metric, Row, Study, Variant

REPRODUCTION = ("the Hide-and-Seek reproduction on Tiny ImageNet (presentation by Seo Seok-jun): its table at the "
                "best of the fixed thresholds 0.2-0.5, chosen by GT-known loc; read as single-pass except the "
                "row it labels 10-crop (AlexNet-GAP)")
HAS_PAPER = ("Singh & Lee, ICCV 2017 (Hide-and-Seek), GT-known loc on ILSVRC val at threshold 0.2 (AlexNet-GAP), "
             "as ../shared/literature/reported.csv holds it; the paper's other cells are not in that file")

#: network -> the heading of its rows
TINY_NETWORKS = {
    "alexnet": "AlexNet-GAP (64x64 upscaled to 227)",
    "googlenet": "GoogLeNet-GAP (64x64 upscaled to 224)",
    "alexnet-small": "AlexNet-Small (AlexNet adapted to 64x64)",
    "squeezenet-gap": "CusNet (fire modules, 64x64)",
}
#: (recipe name prefix, row label); the recipe is PREFIX-NETWORK-tinyimagenet
TINY_VARIANTS = (
    ("cam", "CAM (GAP)"), ("has-16", "HaS-16"), ("has-36", "HaS-36"), ("has-64", "HaS-64"), ("has-mix", "HaS-Mix"),
    ("input-dropout-train", "input dropout, train only"),
    ("input-dropout-train-test", "input dropout, train and test"),
    ("input-dropout-train-nonorm", "input dropout, train only, no mean normalisation"),
    ("input-dropout-train-test-nonorm", "input dropout, train and test, no mean normalisation"),
    ("cam-gmp", "GMP"), ("augment-aug1", "AUG-1"), ("augment-aug2", "AUG-2"),
    ("augment+has-aug1", "AUG-1 + HaS-Mix"), ("augment+has-aug2", "AUG-2 + HaS-Mix"),
    ("cam-noresize", "no resize (64x64 input)"),
)
TINY_MULTICROP = "multicrop@0.75"  # 10 crops of 75% of the side, as the reproduction


def _method(prefix: str) -> str:
    for method in ("augment+has", "input-dropout", "augment", "has", "cam"):
        if prefix == method or prefix.startswith(method + "-"):
            return method
    raise ValueError(prefix)


def _tiny_rows() -> tuple[Row, ...]:
    rows = []
    for network, group in TINY_NETWORKS.items():
        for prefix, label in TINY_VARIANTS:
            if prefix == "cam-noresize" and network in ("alexnet-small", "squeezenet-gap"):
                continue  # these take the 64x64 images as they are already
            name = f"{prefix}-{network}-tinyimagenet"
            variant = Variant(name, label, _method(prefix), recipe_name=name)
            rows += [Row(variant, "single", group), Row(variant, TINY_MULTICROP, group)]
    return tuple(rows)


def _published(gt_known: float, top1_loc: float, top1_cls: float) -> dict:
    return {"ref_gt_known": gt_known, "ref_top1_loc": top1_loc, "ref_top1_cls": top1_cls}


#: (recipe, evaluation) -> the reproduction's GT-known loc / top-1 loc / top-1 cls (best threshold)
TINY_REFERENCE = {
    ("cam-alexnet-tinyimagenet", "single"): _published(54.31, 24.53, 39.27),
    ("has-16-alexnet-tinyimagenet", "single"): _published(54.70, 26.31, 42.23),
    ("has-36-alexnet-tinyimagenet", "single"): _published(54.86, 26.22, 42.24),
    ("has-64-alexnet-tinyimagenet", "single"): _published(55.22, 27.74, 44.24),
    ("has-mix-alexnet-tinyimagenet", "single"): _published(55.04, 28.47, 45.21),
    ("cam-googlenet-tinyimagenet", "single"): _published(55.47, 30.22, 47.63),
    ("has-16-googlenet-tinyimagenet", "single"): _published(55.75, 32.24, 51.38),
    ("cam-alexnet-tinyimagenet", TINY_MULTICROP): _published(51.07, 21.31, 39.68),
    ("cam-gmp-alexnet-tinyimagenet", "single"): _published(50.72, 23.46, 42.49),
    ("augment-aug2-alexnet-tinyimagenet", "single"): _published(56.62, 31.06, 48.09),
    ("has-mix-squeezenet-gap-tinyimagenet", "single"): _published(55.68, 31.20, 49.70),
}

TINY_THRESHOLDS = (0.2, 0.3, 0.4, 0.5)
BEST = "best of the fixed thresholds 0.2-0.5 (by GT-known loc), and the wsoleval protocol"
TINY_COLUMNS = (
    Metric("fixed_best_threshold", "threshold", 1, BEST),
    Metric("gt_known_fixed_best", "GT-known loc", 2, BEST),
    Metric("top1_loc_fixed_best", "top-1 loc", 2, BEST),
    Metric("top1_cls", "top-1 cls", 2, BEST),
    Metric("ref_gt_known", "published GT-known", 2, BEST, reference=True),
    Metric("ref_top1_loc", "published top-1 loc", 2, BEST, reference=True),
    Metric("ref_top1_cls", "published top-1 cls", 2, BEST, reference=True),
    Metric("maxboxacc_v2", "MaxBoxAccV2 (wsoleval)", 2, BEST),
    Metric("maxboxacc", "MaxBoxAcc (wsoleval)", 2, BEST),
) + tuple(Metric(f"gt_known_cam2016_{t:g}", f"{t:g}", 2, "GT-known loc at each fixed threshold")
          for t in TINY_THRESHOLDS) + tuple(
    Metric(f"top1_loc_cam2016_{t:g}", f"{t:g}", 2, "top-1 loc at each fixed threshold") for t in TINY_THRESHOLDS)

HAS_TINYIMAGENET = Study(
    "has-tinyimagenet", "Hide-and-Seek reproduction on Tiny ImageNet",
    "Every network trained from scratch with its recipe (baselines/*-tinyimagenet.toml), evaluated on val "
    "with one pass and with the 10-crop test (crops of 75% of the side). GT-known loc, top-1 loc: largest "
    "region of the map thresholded at a fixed fraction of its maximum, IoU 50 (cam2016 protocol); top-1 cls "
    "does not depend on the threshold; MaxBoxAccV2 / MaxBoxAcc: the same maps under the wsoleval protocol.",
    (DatasetConfig("tinyimagenet", "Tiny ImageNet (train 100,000 images, evaluated on val 10,000)", None),),
    _tiny_rows(), TINY_COLUMNS, family="tinyimagenet", thresholds=TINY_THRESHOLDS, seeds=1, device="cuda",
    reference=TINY_REFERENCE, reference_source=REPRODUCTION)

#: (recipe name prefix, row label); the recipe is PREFIX-NETWORK-ilsvrc-has2017
ILSVRC_VARIANTS = (("cam", "CAM (GAP)"), ("has-16", "HaS-16"), ("has-32", "HaS-32"), ("has-44", "HaS-44"),
                   ("has-56", "HaS-56"), ("has-mix", "HaS-Mixed"))
ILSVRC_NETWORKS = {"alexnet": "AlexNet-GAP", "googlenet": "GoogLeNet-GAP"}


def _ilsvrc_rows() -> tuple[Row, ...]:
    rows = []
    for network, group in ILSVRC_NETWORKS.items():
        for prefix, label in ILSVRC_VARIANTS:
            name = f"{prefix}-{network}-ilsvrc-has2017"
            variant = Variant(name, label, _method(prefix), recipe_name=name)
            rows += [Row(variant, "single", group), Row(variant, "multicrop", group)]
    return tuple(rows)


HAS_ILSVRC = Study(
    "has-ilsvrc", "Hide-and-Seek (ICCV 2017) on ILSVRC, the paper's own setting",
    "AlexNet-GAP and GoogLeNet-GAP trained from scratch with the HaS code's schedule "
    "(baselines/*-ilsvrc-has2017.toml), evaluated on ILSVRC 2012 val (wsolevaluation's test split) with one "
    "pass and with the 10-crop test. The paper's thresholds: 0.2 for AlexNet-GAP, 0.3 for GoogLeNet-GAP; "
    "MaxBoxAccV2 / MaxBoxAcc: the same maps under the wsoleval protocol.",
    (DatasetConfig("ilsvrc", "ILSVRC 2012 (train 1.28M images, evaluated on val 50,000)", None),),
    _ilsvrc_rows(),
    (Metric("gt_known_cam2016_0.2", "GT-known loc @0.2", 2), Metric("top1_loc_cam2016_0.2", "top-1 loc @0.2", 2),
     Metric("gt_known_cam2016_0.3", "GT-known loc @0.3", 2), Metric("top1_loc_cam2016_0.3", "top-1 loc @0.3", 2),
     Metric("top1_cls", "top-1 cls", 2),
     Metric("ref_gt_known", "published GT-known loc", 2, reference=True),
     Metric("maxboxacc_v2", "MaxBoxAccV2 (wsoleval)", 2), Metric("maxboxacc", "MaxBoxAcc (wsoleval)", 2)),
    family="ilsvrc", thresholds=(0.2, 0.3), seeds=1, device="cuda",
    reference={("cam-alexnet-ilsvrc-has2017", "single"): {"ref_gt_known": 54.90},
               ("has-32-alexnet-ilsvrc-has2017", "single"): {"ref_gt_known": 58.75}},
    reference_source=HAS_PAPER)

HAS_STUDIES = {s.name: s for s in (HAS_TINYIMAGENET, HAS_ILSVRC)}
