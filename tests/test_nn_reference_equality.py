"""Proof of equal training: wsolbench's models and steps against the unmodified reference.

The reference (clovaai/wsolevaluation, commit 96f4b88) is imported from
``../shared/reference/wsolevaluation`` (``reference_oracle.py``; skipped where absent). For
every (backbone, method, large_feature_map) it has, of the methods wsolbench trains the same way:

* **the model**: built from the same seed, wsolbench's model has the reference's tensors, bit for
  bit (same layers, same initialisation: He for VGG16, Xavier-uniform for ResNet50 and
  InceptionV3, N(0, 0.01) linears), once the reference's key layout is mapped (its ADL layers sit
  inside ``features`` / ``layer3``/``layer4``); the weights are then copied with
  ``load_pretrained`` of the reference's checkpoint format;
* **the training step**: SGD steps on the same batch, with the reference's own optimiser
  parameter groups (``Trainer._set_optimizer``: 10x lr on the new layers) and its own step
  (``Trainer._wsol_training``), and with wsolbench's (``build_model``, ``make_optimizer``,
  ``method.training_step``): every parameter's update agrees to 1% of that tensor's update
  (two steps for VGG16 and ResNet50, one for InceptionV3, whose batch norm over a batch of 4
  amplifies float noise chaotically after its first step). Random draws (ADL's choice, Inception's
  dropout, CutMix's box, HaS's patches) are the same on both sides;
* **the maps**: CAMs of the trained models, min-max normalised, agree to 1e-5;
* **pretrained loading**: a torchvision-format checkpoint changes exactly the tensors the
  reference's loader changes, to the same values (VGG16 14x14 and 28x28, ResNet50 on CUB and on
  ILSVRC, InceptionV3).

Inputs are 64x64 (the maps 4x4, or 8x8 with ``large_feature_map``) to keep the default run short;
``-m slow`` repeats the CAM steps at 224x224.
"""

import random

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from reference_oracle import RefTrainer, cpu_cuda, load_reference  # noqa: E402

from wsolbench.nn.checkpoint import load_pretrained, reindex_containers  # noqa: E402
from wsolbench.nn.methods.cutmix import CutMixDraws, apply_cutmix  # noqa: E402
from wsolbench.nn.methods.has import grid_cells, hide_grid  # noqa: E402
from wsolbench.nn.recipe import Recipe  # noqa: E402
from wsolbench.nn.train import build_model, load_recipe_weights, make_optimizer  # noqa: E402

NUM_CLASSES = 5
UPDATE_TOLERANCE = 0.01  # of each tensor's largest update
CAM_TOLERANCE = 1e-5
REFERENCE_NAME = {"vgg16": "vgg16", "resnet50": "resnet50", "inception_v3": "inception_v3"}
STEPS = {"vgg16": 2, "resnet50": 2, "inception_v3": 1}
# ACoL and SPG from scratch have large logits (He-initialised ResNet50-ACoL: a loss of 32 at the first
# step); a smaller lr keeps the two steps finite, as a pretrained trunk would
LR = {"cam": 0.01, "adl": 0.01, "acol": 1e-4, "spg": 1e-4}


@pytest.fixture(scope="module")
def ref():
    with load_reference() as (wsol, main):
        yield wsol, main


def _recipe(backbone, method, lfm, *, dataset="cub", lr=0.01, **method_options):
    return Recipe(method=method, backbone=backbone, dataset=dataset, lr=lr, weight_decay=5e-4, momentum=0.9,
                  nesterov=True, lr_classifier_ratio=10.0, seed=0, pretrained="none",
                  backbone_options={"large_feature_map": lfm}, method_options=method_options)


def _reference_model(wsol, backbone, architecture_type, lfm, *, seed=0, **kwargs):
    torch.manual_seed(seed)
    return wsol.__dict__[REFERENCE_NAME[backbone]](
        architecture_type, large_feature_map=lfm, num_classes=kwargs.pop("num_classes", NUM_CLASSES),
        adl_drop_rate=0.75, adl_drop_threshold=0.9, acol_drop_threshold=0.7, **kwargs)


def _as_wsolbench(ref_state, model) -> dict:
    """The reference's state dict under wsolbench's key names (ADL layouts re-indexed)."""
    return reindex_containers(dict(ref_state), model.state_dict(), model.indexed_containers)[0]


def _snapshot(state) -> dict:
    return {k: v.detach().clone() for k, v in state.items()}


def _same_model(ref_model, recipe):
    """wsolbench's model for ``recipe``, checked equal to ``ref_model`` (built from the same seed),
    then given the reference's weights through the wsolevaluation checkpoint loader."""
    model, method = build_model(recipe, NUM_CLASSES)
    own, theirs = model.state_dict(), _as_wsolbench(ref_model.state_dict(), model)
    assert set(own) == set(theirs)
    different = [k for k in own if not torch.equal(own[k], theirs[k])]
    assert not different, f"same seed, different initial tensors: {different[:5]}"
    report = load_pretrained(model, {"architecture": recipe.backbone, "epoch": 0, "state_dict": ref_model.state_dict()})
    assert report.format == "wsolevaluation" and len(report.loaded) == len(own)
    return model, method


def _assert_same_updates(before, ref_after, own_after):
    checked = 0
    for key, start in before.items():
        if not start.is_floating_point():
            assert torch.equal(ref_after[key], own_after[key]), key  # num_batches_tracked
            continue
        theirs, ours = ref_after[key] - start, own_after[key] - start
        scale = float(theirs.abs().max())
        gap = float((theirs - ours).abs().max())
        assert gap <= UPDATE_TOLERANCE * scale or gap == 0.0, \
            f"{key}: update differs by {gap:.3g}, {gap / max(scale, 1e-30):.2%} of the reference's update {scale:.3g}"
        checked += scale > 0
    assert checked > 0.5 * len(before)  # most tensors moved: the comparison means something


def _normalised(cams):
    flat = cams.detach().flatten(1).double()
    flat = flat - flat.min(1, keepdim=True).values
    return flat / flat.max(1, keepdim=True).values


def _assert_same_cams(ref_model, model, method, images, labels):
    ref_model.eval()
    model.eval()
    with torch.no_grad():
        theirs = ref_model(images, labels, return_cam=True)
        ours, _ = method.cams_and_logits(model, images, labels)
    assert theirs.shape == ours.shape
    assert torch.isfinite(theirs).all() and torch.isfinite(ours).all()
    gap = float((_normalised(theirs) - _normalised(ours)).abs().max())
    assert gap <= CAM_TOLERANCE, f"normalised CAMs differ by {gap:.3g}"


def _batch(size, seed=7):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(4, 3, size, size, generator=g), torch.tensor([0, 3, 1, 4])


def _train_both(ref_model, trainer, model, method, optimizer, images, labels, steps, *, draws=None):
    """``steps`` SGD steps on both sides with the same random draws: the global torch generator
    (Inception's dropout) and wsolbench's step generator (ADL) are seeded alike before each."""
    for step in range(steps):
        seed = 1000 + step
        torch.manual_seed(seed)
        if draws is not None:
            draws.seed_reference(seed)
        trainer.step(images.clone(), labels)
        torch.manual_seed(seed)
        model.train()
        out = method.training_step(model, images.clone(), labels, generator=torch.Generator().manual_seed(seed))
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()


def _equal_training(ref, backbone, method_name, lfm, size):
    wsol, main = ref
    ref_model = _reference_model(wsol, backbone, method_name, lfm)
    trainer = RefTrainer(main, ref_model, architecture=REFERENCE_NAME[backbone], wsol_method=method_name,
                         lr=LR[method_name], weight_decay=5e-4)
    recipe = _recipe(backbone, method_name, lfm, lr=LR[method_name])
    model, method = _same_model(ref_model, recipe)
    optimizer = make_optimizer(model, recipe)
    before = _snapshot(model.state_dict())
    images, labels = _batch(size)
    _train_both(ref_model, trainer, model, method, optimizer, images, labels, STEPS[backbone])
    _assert_same_updates(before, _as_wsolbench(ref_model.state_dict(), model), model.state_dict())
    _assert_same_cams(ref_model, model, method, images, labels)


@pytest.mark.parametrize("lfm", [False, True], ids=["14x14", "28x28"])
@pytest.mark.parametrize("method_name", ["cam", "adl", "acol", "spg"])
@pytest.mark.parametrize("backbone", ["vgg16", "resnet50", "inception_v3"])
def test_equal_model_steps_and_cams(ref, backbone, method_name, lfm):
    _equal_training(ref, backbone, method_name, lfm, size=64)


@pytest.mark.slow
@pytest.mark.parametrize("backbone", ["vgg16", "resnet50", "inception_v3"])
def test_equal_cam_steps_at_224(ref, backbone):
    _equal_training(ref, backbone, "cam", False, size=224)


# -- CutMix and HaS: the same step with the same draws ------------------------------------------

class _CutMixDraws:
    """The reference's CutMix draws (np.random, then torch.randperm) replayed from a seed."""

    def __init__(self, batch, height, width):
        self.shape = (batch, height, width)

    def seed_reference(self, seed):
        np.random.seed(seed)
        torch.manual_seed(seed)

    def replay(self, seed) -> CutMixDraws:
        b, h, w = self.shape
        self.seed_reference(seed)
        np.random.rand(1)  # main.py: cutmix_prob > np.random.rand(1)
        lam = np.random.beta(1.0, 1.0)
        perm = torch.randperm(b)
        return CutMixDraws(lam=float(lam), perm=perm, row_centre=int(np.random.randint(h)),
                           col_centre=int(np.random.randint(w)))


class _HaSDraws:
    """The reference's Hide-and-Seek draws (Python's random, patch by patch) replayed from a seed."""

    def __init__(self, batch, height, width, grid_size):
        self.shape = (batch, *grid_cells(height, width, grid_size))

    def seed_reference(self, seed):
        random.seed(seed)

    def replay(self, seed) -> torch.Tensor:
        self.seed_reference(seed)
        b, rows, cols = self.shape
        return torch.tensor([random.random() for _ in range(b * rows * cols)], dtype=torch.float64).view(b, rows, cols)


def test_cutmix_batch_and_step_equal_the_reference(ref):
    wsol, main = ref
    images, labels = _batch(64)
    draws = _CutMixDraws(4, 64, 64)
    for seed in range(6):  # the mixed batch itself, several boxes
        ours, targets = apply_cutmix(images, labels, draws.replay(seed))
        draws.seed_reference(seed)
        np.random.rand(1)
        with cpu_cuda():
            theirs, target_a, target_b, lam = wsol.method.cutmix(images.clone(), labels, 1.0)
        assert torch.equal(ours, theirs) and torch.equal(targets.b, target_b) and targets.weight_a == lam
    ref_model = _reference_model(wsol, "resnet50", "cam", False)
    trainer = RefTrainer(main, ref_model, architecture="resnet50", wsol_method="cutmix", weight_decay=5e-4)
    recipe = _recipe("resnet50", "cutmix", False, beta=1.0, prob=1.0)
    model, method = _same_model(ref_model, recipe)
    method.draw = lambda batch, generator: draws.replay(1000)  # the step's draws, as the reference makes them
    optimizer = make_optimizer(model, recipe)
    before = _snapshot(model.state_dict())
    _train_both(ref_model, trainer, model, method, optimizer, images, labels, 1, draws=draws)
    _assert_same_updates(before, _as_wsolbench(ref_model.state_dict(), model), model.state_dict())


def test_has_batch_and_step_equal_the_reference(ref):
    wsol, main = ref
    images, labels = _batch(64)
    grid, drop = 12, 0.5  # 64 = 5 x 12 + 4: the last row and column of patches are cut by the border
    draws = _HaSDraws(4, 64, 64, grid)
    for seed in range(4):
        ours = hide_grid(images, grid_size=grid, drop_rate=drop, uniforms=draws.replay(seed))
        draws.seed_reference(seed)
        theirs = wsol.method.has(images.clone(), grid, drop)
        assert torch.equal(ours, theirs)
        assert 0 < float((ours == 0).float().mean()) < 1
    ref_model = _reference_model(wsol, "resnet50", "cam", False)
    trainer = RefTrainer(main, ref_model, architecture="resnet50", wsol_method="has", weight_decay=5e-4,
                         has_grid_size=grid, has_drop_rate=drop)
    recipe = _recipe("resnet50", "has", False, grid_size=grid, drop_rate=drop)
    model, method = _same_model(ref_model, recipe)
    method.draw_uniforms = lambda b, rows, cols, generator: draws.replay(1000)
    optimizer = make_optimizer(model, recipe)
    before = _snapshot(model.state_dict())
    _train_both(ref_model, trainer, model, method, optimizer, images, labels, 1, draws=draws)
    _assert_same_updates(before, _as_wsolbench(ref_model.state_dict(), model), model.state_dict())


# -- pretrained loading: the same tensors changed, to the same values ---------------------------

def _torchvision_checkpoint(wsol, backbone, path, *, seed=3):
    """A torchvision-format ImageNet checkpoint with random values: the trunk's keys and shapes as the
    reference's CAM model has them (torchvision's), plus the heads torchvision ships (VGG16's
    ``classifier``, ResNet50's 1000-class ``fc``, InceptionV3's ``Mixed_7*``, ``AuxLogits``, ``fc``;
    those the loaders drop get stand-in shapes)."""
    model = _reference_model(wsol, backbone, "cam", False, num_classes=1000)
    new = ("conv6.", "fc.") if backbone == "vgg16" else ("SPG_",) if backbone == "inception_v3" else ()
    g = torch.Generator().manual_seed(seed)
    state = {k: (torch.randn(v.shape, generator=g) if v.is_floating_point() else v.clone())
             for k, v in model.state_dict().items() if not k.startswith(new)}
    dropped = {"vgg16": ["classifier.0", "classifier.3", "classifier.6"],
               "inception_v3": ["Mixed_7a.branch3x3_1.conv", "Mixed_7c.branch_pool.conv", "AuxLogits.fc", "fc"],
               "resnet50": []}[backbone]
    for prefix in dropped:
        state[f"{prefix}.weight"] = torch.randn(7, 3, generator=g)
        state[f"{prefix}.bias"] = torch.randn(7, generator=g)
    file = path / {"vgg16": "vgg16.pth", "resnet50": "resnet50.pth", "inception_v3": "inception_v3.pth"}[backbone]
    torch.save(state, file)
    return file


def _reference_load(wsol, backbone, model, architecture_type, folder, dataset):
    module = {"vgg16": wsol.vgg, "resnet50": wsol.resnet, "inception_v3": wsol.inception}[backbone]
    if backbone == "resnet50":
        return module.load_pretrained_model(model, architecture_type, path=str(folder), dataset_name=dataset)
    if backbone == "vgg16":
        return module.load_pretrained_model(model, architecture_type, path=str(folder))
    return module.load_pretrained_model(model, path=str(folder))


@pytest.mark.parametrize("backbone,method_name,lfm,dataset", [
    ("vgg16", "cam", False, "CUB"), ("vgg16", "cam", True, "CUB"), ("vgg16", "adl", True, "CUB"),
    ("resnet50", "cam", False, "CUB"), ("resnet50", "cam", True, "ILSVRC"), ("resnet50", "adl", False, "ILSVRC"),
    ("inception_v3", "cam", True, "OpenImages"),
    ("vgg16", "acol", True, "CUB"), ("vgg16", "spg", False, "CUB"), ("resnet50", "acol", False, "ILSVRC"),
    ("resnet50", "spg", True, "ILSVRC"), ("inception_v3", "acol", False, "CUB"), ("inception_v3", "spg", True, "CUB"),
])
def test_torchvision_checkpoint_loads_as_the_reference_loads_it(ref, tmp_path, backbone, method_name, lfm, dataset):
    wsol, _ = ref
    classes = 1000 if dataset == "ILSVRC" else NUM_CLASSES
    file = _torchvision_checkpoint(wsol, backbone, tmp_path)
    ref_model = _reference_model(wsol, backbone, method_name, lfm, num_classes=classes)
    recipe = _recipe(backbone, method_name, lfm, dataset=dataset.lower())
    model, method = build_model(recipe, classes)
    start = _snapshot(model.state_dict())
    assert all(torch.equal(start[k], v) for k, v in _as_wsolbench(ref_model.state_dict(), model).items())
    _reference_load(wsol, backbone, ref_model, method_name, tmp_path, dataset)
    report = load_recipe_weights(model, method, recipe, str(file))
    theirs, ours = _as_wsolbench(ref_model.state_dict(), model), model.state_dict()
    changed_theirs = {k for k in start if not torch.equal(start[k], theirs[k])}
    changed_ours = {k for k in start if not torch.equal(start[k], ours[k])}
    assert changed_ours == changed_theirs and changed_ours
    assert all(torch.equal(theirs[k], ours[k]) for k in start)
    assert report.kept_head == (backbone == "resnet50" and dataset == "ILSVRC" and method_name in ("cam", "adl"))
    assert ("fc.weight" in changed_ours) == report.kept_head or backbone != "resnet50"
    if backbone == "vgg16" and lfm and method_name != "acol":  # no pool4: features.24/26/28 -> 23/25/27
        assert ("features.24.weight", "features.23.weight") in report.mapped
    if method_name == "spg" and backbone != "inception_v3":  # the reference's batch_replace_layer
        assert {"vgg16": ("features.24.weight", "SPG_A_2.0.weight"),
                "resnet50": ("layer3.1.conv1.weight", "SPG_A2.0.conv1.weight")}[backbone] in report.mapped
