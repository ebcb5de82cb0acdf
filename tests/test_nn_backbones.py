"""Backbones: registry-driven smoke tests, CAM algebra, map sizes, torchvision key names, --pretrained loading."""

import pytest

torch = pytest.importorskip("torch")

from wsolbench.errors import WsolbenchError  # noqa: E402
from wsolbench.nn.backbones import create_backbone, list_backbones  # noqa: E402
from wsolbench.nn.checkpoint import CheckpointError, load_pretrained  # noqa: E402

NAMES = [b.name for b in list_backbones()]
BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


# -- expected torchvision state-dict keys, written from torchvision's module definitions --------

def _conv_bn(prefix):  # BasicConv2d of Inception / GoogLeNet
    return [f"{prefix}.conv.weight"] + [f"{prefix}.bn.{s}" for s in BN]


def _wb(prefix):
    return [f"{prefix}.weight", f"{prefix}.bias"]


def tv_vgg16():
    keys = [k for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28) for k in _wb(f"features.{i}")]
    return keys + [k for i in (0, 3, 6) for k in _wb(f"classifier.{i}")]


def tv_alexnet():
    keys = [k for i in (0, 3, 6, 8, 10) for k in _wb(f"features.{i}")]
    return keys + [k for i in (1, 4, 6) for k in _wb(f"classifier.{i}")]


def tv_resnet50():
    keys = ["conv1.weight"] + [f"bn1.{s}" for s in BN]
    for layer, blocks in enumerate((3, 4, 6, 3), 1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            for i in (1, 2, 3):
                keys += [f"{p}.conv{i}.weight"] + [f"{p}.bn{i}.{s}" for s in BN]
            if b == 0:
                keys += [f"{p}.downsample.0.weight"] + [f"{p}.downsample.1.{s}" for s in BN]
    return keys + _wb("fc")


def tv_googlenet():
    keys = _conv_bn("conv1") + _conv_bn("conv2") + _conv_bn("conv3")
    for name in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b"):
        p = f"inception{name}"
        for branch in ("branch1", "branch2.0", "branch2.1", "branch3.0", "branch3.1", "branch4.1"):
            keys += _conv_bn(f"{p}.{branch}")
    for aux in ("aux1", "aux2"):
        keys += _conv_bn(f"{aux}.conv") + _wb(f"{aux}.fc1") + _wb(f"{aux}.fc2")
    return keys + _wb("fc")


def tv_inception_v3():
    keys = []
    for name in ("Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3"):
        keys += _conv_bn(name)
    a = ("branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3",
         "branch_pool")
    b = ("branch3x3", "branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3")
    c = ("branch1x1", "branch7x7_1", "branch7x7_2", "branch7x7_3", "branch7x7dbl_1", "branch7x7dbl_2",
         "branch7x7dbl_3", "branch7x7dbl_4", "branch7x7dbl_5", "branch_pool")
    d = ("branch3x3_1", "branch3x3_2", "branch7x7x3_1", "branch7x7x3_2", "branch7x7x3_3", "branch7x7x3_4")
    e = ("branch1x1", "branch3x3_1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_1", "branch3x3dbl_2",
         "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool")
    blocks = [("Mixed_5b", a), ("Mixed_5c", a), ("Mixed_5d", a), ("Mixed_6a", b), ("Mixed_6b", c),
              ("Mixed_6c", c), ("Mixed_6d", c), ("Mixed_6e", c), ("AuxLogits", ("conv0", "conv1")),
              ("Mixed_7a", d), ("Mixed_7b", e), ("Mixed_7c", e)]
    for block, branches in blocks:
        for br in branches:
            keys += _conv_bn(f"{block}.{br}")
    return keys + _wb("AuxLogits.fc") + _wb("fc")


TORCHVISION = {"vgg16": tv_vgg16, "alexnet": tv_alexnet, "resnet50": tv_resnet50, "googlenet": tv_googlenet,
               "inception_v3": tv_inception_v3}


def _model(name, **kw):
    kw.setdefault("num_classes", 5)
    torch.manual_seed(0)
    return create_backbone(name, **kw)


# -- every backbone --------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_forward_backward_cams(name):
    model = _model(name)
    images = torch.randn(2, 3, 64, 64)
    logits = model(images)
    assert logits.shape == (2, 5)
    logits.logsumexp(1).sum().backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)
    model.eval()
    with torch.no_grad():
        labels = torch.tensor([1, 3])
        feats = model.features(images)
        cams = model.cams(images, labels)
        logits = model.classify(feats)
    assert cams.shape == (2, *feats.shape[2:]) and cams.dtype == torch.float32
    # GAP of the CAM of class c is the logit of c minus its bias (the CAM identity).
    weight, bias = model.head_params()
    expected = logits[torch.arange(2), labels] - (0 if bias is None else bias[labels])
    torch.testing.assert_close(cams.mean((1, 2)), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name,size,side", [("vgg16", 224, 14), ("resnet50", 224, 14), ("inception_v3", 224, 14),
                                            ("alexnet", 224, 13), ("googlenet", 224, 14), ("preresnet18", 224, 14),
                                            ("se_resnet50", 224, 14), ("smallcnn", 64, 16), ("alexnet-small", 64, 15),
                                            ("squeezenet-gap", 64, 16)])
def test_feature_map_size(name, size, side):
    with torch.device("meta"):
        model = create_backbone(name, num_classes=10)
        feats = model.features(torch.empty(1, 3, size, size))
    assert tuple(feats.shape[2:]) == (side, side)


@pytest.mark.parametrize("options,size,side", [({}, 227, 13), ({}, 64, 3), ({"conv1_padding": 0}, 227, 13),
                                               ({"conv1_padding": 0, "pool5_stride1": True}, 64, 2),
                                               ({"conv1_padding": 0, "pool5_stride1": True}, 227, 13)])
def test_alexnet_options_of_the_has_reproductions(options, size, side):
    """The original AlexNet's conv1 (no padding) is what makes 227 px give 13x13 and a 64x64 Tiny
    ImageNet image 2x2 (the reproduction's no-resize maps); pool5 at stride 1 keeps the size."""
    with torch.device("meta"):
        model = create_backbone("alexnet", num_classes=10, **options)
        feats = model.features(torch.empty(1, 3, size, size))
    assert tuple(feats.shape[2:]) == (side, side)


def test_has_reproduction_networks_and_their_names():
    """Aliases name the same network; bias-free heads; the fire-module net's parameter budget (~2.9M)."""
    a, b = _model("alexnet-gap", num_classes=200), _model("alexnet", num_classes=200)
    assert type(a) is type(b) and set(a.state_dict()) == set(b.state_dict())
    assert type(_model("googlenet-gap")) is type(_model("googlenet"))
    assert _model("alexnet", fc_bias=False).head_params()[1] is None
    assert _model("googlenet", fc_bias=False, channels=512).fc.weight.shape == (5, 512)
    fire = _model("squeezenet-gap", num_classes=200)
    assert fire.head_params()[1] is None and 2.8e6 < sum(p.numel() for p in fire.parameters()) < 3.0e6
    assert type(_model("cusnet")) is type(fire)
    small = _model("alexnet-small")
    assert small.pretrained_keys() == [] and small.head_params()[1] is None
    padded, plain = _model("alexnet", pool5_stride1=True, conv1_padding=0), _model("alexnet")
    assert set(padded.state_dict()) == set(plain.state_dict())  # parameter-free options: same checkpoint keys
    assert "pool5" in padded.insertion_points() and "pool5" not in plain.insertion_points()


@pytest.mark.parametrize("name,side", [("vgg16", 28), ("inception_v3", 28), ("resnet50", 28)])
def test_large_feature_map_option(name, side):
    with torch.device("meta"):
        feats = create_backbone(name, num_classes=10, large_feature_map=True).features(torch.empty(1, 3, 224, 224))
    assert tuple(feats.shape[2:]) == (side, side)


def test_gmp_head_pools_by_max():
    images = torch.randn(2, 3, 32, 32)
    gap, gmp = _model("smallcnn", pool="gap").eval(), _model("smallcnn", pool="gmp").eval()
    gmp.load_state_dict(gap.state_dict())
    with torch.no_grad():
        feats = gap.features(images)
        weight, bias = gap.head_params()
        torch.testing.assert_close(gmp(images), feats.amax((2, 3)) @ weight.T + bias)
        torch.testing.assert_close(gap(images), feats.mean((2, 3)) @ weight.T + bias)
        torch.testing.assert_close(gmp.cams(images, torch.tensor([0, 1])), gap.cams(images, torch.tensor([0, 1])))


def test_unknown_backbone_and_bad_pool():
    with pytest.raises(WsolbenchError, match="unknown backbone 'vgg19'.*resnet50.*aliases: alexnet-gap = alexnet"):
        create_backbone("vgg19", num_classes=2)
    with pytest.raises(ValueError, match="pool"):
        create_backbone("smallcnn", num_classes=2, pool="avg")


def test_insert_after_runs_the_module_and_keeps_trunk_keys():
    model = _model("smallcnn").eval()
    keys = set(model.state_dict())
    images = torch.randn(1, 3, 32, 32)
    calls = []

    class Spy(torch.nn.Module):
        def forward(self, x):
            calls.append(tuple(x.shape))
            return torch.zeros_like(x)

    assert "stage2" in model.insertion_points()
    model.insert_after("stage2", Spy())
    with torch.no_grad():
        out = model.features(images)
    assert calls == [(1, 32, 8, 8)]
    assert float(out.abs().sum()) == 0.0  # zeros through conv (no bias), fresh eval-mode BN, ReLU stay zero
    assert set(model.state_dict()) == keys
    with pytest.raises(ValueError, match="insertion points"):
        model.insert_after("nope", Spy())


def test_param_groups_put_new_layers_at_ratio():
    model = _model("resnet50")
    groups = {g["name"]: g for g in model.param_groups(lr=0.01, classifier_ratio=10)}
    assert groups["trunk"]["lr"] == 0.01 and groups["classifier"]["lr"] == pytest.approx(0.1)
    fast = {id(p) for p in groups["classifier"]["params"]}
    names = {n for n, p in model.named_parameters() if id(p) in fast}
    assert names == {n for n, _ in model.named_parameters() if n.startswith(("layer4.", "fc."))}  # wsolevaluation
    vgg = {g["name"]: g for g in _model("vgg16").param_groups(lr=1.0, classifier_ratio=10)}
    assert sum(p.numel() for p in vgg["classifier"]["params"]) == 512 * 1024 * 9 + 1024 + 1024 * 5 + 5


# -- torchvision names -------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_trunk_keys_are_torchvision_keys(name):
    model = _model(name)
    expected = TORCHVISION[name]()
    assert len(expected) == len(set(expected))
    kept = {k for k in expected if not k.startswith(model.pretrained_discard + model.pretrained_head)}
    assert set(model.pretrained_keys()) == kept
    # every discard prefix drops something that torchvision has, and nothing of the WSOL trunk
    for prefix in model.pretrained_discard:
        assert any(k.startswith(prefix) for k in expected), prefix


def _fake_torchvision_state(model, name, *, drop=(), extra=None, prefix=""):
    own = model.state_dict()
    state = {}
    for k in TORCHVISION[name]():
        if k in drop:
            continue
        state[prefix + k] = torch.randn_like(own[k].float()).to(own[k].dtype) if k in own else torch.zeros(3)
    state.update(extra or {})
    return state


@pytest.mark.parametrize("name", sorted(TORCHVISION))
def test_torchvision_state_dict_loads_strictly(name, tmp_path):
    model = _model(name)
    old_new = {k: v.clone() for k, v in model.state_dict().items() if k.startswith(model.new_prefixes)}
    state = _fake_torchvision_state(model, name, prefix="module.")
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    report = load_pretrained(model, str(path))
    own = model.state_dict()
    for k in model.pretrained_keys():
        assert torch.equal(own[k], state["module." + k]), k
    for k, v in old_new.items():  # new WSOL layers keep their initialisation
        assert torch.equal(own[k], v), k
    assert report.discarded and all(k.startswith(model.pretrained_discard + model.pretrained_head)
                                    for k in report.discarded)
    assert report.format == "torchvision" and not report.kept_head


def test_old_checkpoints_without_num_batches_tracked_load():
    model = _model("resnet50")
    nbt = [k for k in TORCHVISION["resnet50"]() if k.endswith("num_batches_tracked")]
    load_pretrained(model, _fake_torchvision_state(model, "resnet50", drop=nbt))


def test_pretrained_mismatch_lists_missing_unexpected_and_shapes():
    model = _model("resnet50")
    state = _fake_torchvision_state(model, "resnet50", drop=("layer2.1.conv2.weight",),
                                    extra={"layer5.0.conv1.weight": torch.zeros(1)})
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    with pytest.raises(CheckpointError) as e:
        load_pretrained(model, state)
    msg = str(e.value)
    assert "missing keys (1): layer2.1.conv2.weight" in msg
    assert "unexpected keys (1): layer5.0.conv1.weight" in msg
    assert "wrong shape keys (1): conv1.weight" in msg


def test_pretrained_file_errors(tmp_path):
    model = _model("smallcnn")
    with pytest.raises(CheckpointError, match="not found"):
        load_pretrained(model, str(tmp_path / "missing.pth"))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_pretrained(model, str(bad))


def test_backbone_aliases_and_case_resolve_to_the_canonical_name():
    from wsolbench.nn.backbones import backbone_info, canonical_backbone

    assert canonical_backbone("inceptionv3") == canonical_backbone("Inception_V3") == "inception_v3"
    assert canonical_backbone("VGG16") == "vgg16" and canonical_backbone("resnet50") == "resnet50"
    assert "inceptionv3" in backbone_info("inception_v3").aliases
    assert type(create_backbone("inceptionv3", num_classes=2)).__name__ == "InceptionV3GAP"
    with pytest.raises(WsolbenchError, match=r"aliases: .*inceptionv3 = inception_v3"):
        create_backbone("inception", num_classes=2)
