"""The methods' train-time transforms, layers and losses on hand-made tensors."""

import math

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from wsolbench.errors import WsolbenchError  # noqa: E402
from wsolbench.nn.backbones import create_backbone  # noqa: E402
from wsolbench.nn.data import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402
from wsolbench.nn.methods import MixedTargets, classification_loss, create_method  # noqa: E402
from wsolbench.nn.methods.adl import AttentionDropout  # noqa: E402
from wsolbench.nn.methods.augment import erase_random, random_affine  # noqa: E402
from wsolbench.nn.methods.cutmix import cutmix  # noqa: E402
from wsolbench.nn.methods.er import kl_from_uniform  # noqa: E402
from wsolbench.nn.methods.has import hide_patches  # noqa: E402
from wsolbench.nn.methods.input_dropout import drop_pixels  # noqa: E402


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


# -- Hide-and-Seek ---------------------------------------------------------------------------

def test_has_hides_whole_patches_with_the_mean_at_the_right_rate():
    images = torch.randn(64, 3, 32, 32) + 5.0  # no pixel is 0 by chance
    hidden, mask = hide_patches(images, patch_size=8, hide_prob=0.5, generator=gen())
    assert mask.shape == (64, 32, 32)
    # hidden pixels are the dataset mean (0 after normalisation) in every channel; others unchanged
    assert torch.all(hidden.permute(1, 0, 2, 3)[:, mask] == 0)
    assert torch.equal(hidden.permute(1, 0, 2, 3)[:, ~mask], images.permute(1, 0, 2, 3)[:, ~mask])
    # whole 8x8 patches of the grid: each block is all hidden or all visible
    blocks = mask.view(64, 4, 8, 4, 8).float().mean((2, 4))
    assert set(blocks.unique().tolist()) <= {0.0, 1.0}
    assert abs(float(mask.float().mean()) - 0.5) < 0.05  # 1024 patches, hide_prob 0.5
    assert float(hide_patches(images, patch_size=8, hide_prob=0.0, generator=gen())[1].float().sum()) == 0
    assert bool(hide_patches(images, patch_size=8, hide_prob=1.0, generator=gen())[1].all())


def test_has_border_patches_and_black_fill():
    images = torch.ones(2, 3, 10, 10)
    hidden, mask = hide_patches(images, patch_size=4, hide_prob=1.0, generator=gen(), fill="zero")
    assert bool(mask.all())  # the cut patches at the border (10 = 4 + 4 + 2) are hidden too
    black = -torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(hidden[0, :, 0, 0], black)
    _, none = hide_patches(images, patch_size=[0, 4], hide_prob=1.0, generator=gen())
    assert not none[0].any() and none[1].all()  # patch size 0 = no hiding for that image


def test_has_patch_sizes_scale_with_the_input_and_grids_count_patches():
    has = create_method("has", patch_sizes=[0, 16, 32, 44, 56])
    assert has.candidate_sizes(224) == [0, 16, 32, 44, 56]
    assert has.candidate_sizes(64) == [0, 5, 9, 13, 16]  # round(s * 64 / 224)
    assert create_method("has", patch_sizes=32, reference_size=0).candidate_sizes(64) == [32]
    assert create_method("has", grids=[16, 36, 64]).candidate_sizes(224) == [56, 38, 28]
    images = torch.randn(4, 3, 64, 64) + 5.0
    out, labels = create_method("has", grids=[16], hide_prob=1.0).transform_batch(images, torch.arange(4),
                                                                                    generator=gen())
    assert torch.all(out == 0) and torch.equal(labels, torch.arange(4))


def test_has_reference_parametrisation_is_the_default():
    from wsolbench.nn.methods.has import grid_cells, hide_grid

    has = create_method("has")  # wsolevaluation's --has_grid_size 4 --has_drop_rate 0.5
    assert (has.mode, has.candidate_sizes(224), has.drop_rate) == ("grid_size", [4], 0.5)
    assert create_method("has", grid_size=32).candidate_sizes(64) == [32]  # pixels of the input, not scaled
    assert grid_cells(10, 10, 4) == (3, 3) and grid_cells(10, 10, 0) == (0, 0)
    images = torch.randn(2, 3, 10, 10) + 5.0
    uniforms = torch.tensor([[[0.5, 0.6, 0.1], [0.9, 0.2, 0.7], [0.3, 0.8, 0.5]]]).repeat(2, 1, 1)
    hidden = hide_grid(images, grid_size=4, drop_rate=0.5, uniforms=uniforms)
    expected = (uniforms <= 0.5).repeat_interleave(4, 1).repeat_interleave(4, 2)[:, :10, :10]  # a draw equal to
    assert torch.equal(hidden[:, 0] == 0, expected)                                          # drop_rate hides
    assert hide_grid(images, grid_size=0, drop_rate=1.0, uniforms=uniforms) is images
    out, _ = create_method("has", grid_size=4, drop_rate=1.0).transform_batch(images, torch.arange(2), generator=gen())
    assert torch.all(out == 0)
    assert create_method("has", hide_prob=0.25, grid_size=8).drop_rate == 0.25  # the older name still works


def test_has_size_options_exclude_each_other_and_command_line_options_replace_the_recipes():
    from wsolbench.nn.methods import merge_method_options

    with pytest.raises(WsolbenchError, match="give one of grid_size .*, patch_sizes or grids, not grid_size and "
                                             "patch_sizes"):
        create_method("has", grid_size=8, patch_sizes=[16])
    with pytest.raises(WsolbenchError, match="drop_rate .* and hide_prob .* are the same option"):
        create_method("has", drop_rate=0.5, hide_prob=0.3)
    recipe = {"grid_size": 4, "drop_rate": 0.5}
    assert merge_method_options("has", recipe, {"patch_sizes": [32]}) == {"drop_rate": 0.5, "patch_sizes": [32]}
    assert merge_method_options("has", recipe, {"hide_prob": 0.3}) == {"grid_size": 4, "hide_prob": 0.3}
    assert merge_method_options("cutmix", {"beta": 1.0}, {"prob": 0.5}) == {"beta": 1.0, "prob": 0.5}


@pytest.mark.parametrize("options,match", [
    ({"grids": [10]}, "squares"), ({"hide_prob": 1.5}, "hide_prob"), ({"fill": "grey"}, "fill"),
    ({"patch_sizes": [-1]}, "patch_sizes"), ({"patch_sizes": "big"}, "patch_sizes"), ({"size": 3}, "no option"),
    ({"grid_size": -4}, "grid_size"), ({"grid_size": [4, 8]}, "grid_size"),
    ({"grid_size": []}, "grid_size must be one whole number"),
    ({"grid_size": "big"}, "grid_size"), ({"drop_rate": 2}, "drop_rate"),
])
def test_has_rejects_bad_options(options, match):
    with pytest.raises(WsolbenchError, match=match):
        create_method("has", **options)


# -- CutMix ----------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(12))
def test_cutmix_label_weight_is_the_visible_area_after_clipping(seed):
    b, h, w = 6, 20, 28
    images = torch.arange(b, dtype=torch.float32).view(b, 1, 1, 1).expand(b, 3, h, w).clone()
    labels = torch.arange(b)
    mixed, targets = cutmix(images, labels, beta=1.0, generator=gen(seed))
    assert torch.equal(targets.a, labels)
    source = mixed[:, 0]  # the value of a pixel names the image it comes from
    for i in range(b):
        j = int(targets.b[i])
        assert set(source[i].unique().tolist()) <= {float(i), float(j)}
        if j != i:
            pasted = float((source[i] == j).float().mean())
            assert targets.weight_a == pytest.approx(1.0 - pasted)
    assert torch.equal(images[:, 0, 0, 0], torch.arange(b, dtype=torch.float32))  # input untouched


def test_cutmix_loss_weighs_both_labels():
    logits = torch.randn(4, 5)
    t = MixedTargets(a=torch.tensor([0, 1, 2, 3]), b=torch.tensor([4, 3, 2, 1]), weight_a=0.3)
    expected = 0.3 * F.cross_entropy(logits, t.a) + 0.7 * F.cross_entropy(logits, t.b)
    torch.testing.assert_close(classification_loss(logits, t), expected)
    never = create_method("cutmix", prob=0.0)
    x = torch.randn(2, 3, 8, 8)
    assert never.transform_batch(x, torch.tensor([0, 1]), generator=gen())[0] is x


# -- ADL -------------------------------------------------------------------------------------

def test_adl_is_the_identity_in_eval_mode_and_drops_the_peak_in_training():
    x = torch.rand(3, 4, 5, 5)
    x[:, :, 2, 2] = 10.0  # the attention peak
    layer = AttentionDropout(drop_rate=1.0, threshold=0.9).eval()
    assert torch.equal(layer(x), x)
    layer.train()
    out = layer(x)
    attention = x.mean(1, keepdim=True)
    keep = (attention < 0.9 * attention.amax((2, 3), keepdim=True)).float()
    torch.testing.assert_close(out, x * keep)
    assert float(out[:, :, 2, 2].abs().sum()) == 0.0
    importance = AttentionDropout(drop_rate=0.0, threshold=0.9).train()(x)
    torch.testing.assert_close(importance, x * torch.sigmoid(attention))


def test_adl_chooses_the_drop_mask_as_the_reference_maps_its_draw():
    x = torch.rand(2, 3, 4, 4) + 0.1
    attention = x.mean(1, keepdim=True)
    drop = x * (attention < 0.9 * attention.amax((2, 3), keepdim=True)).float()
    for seed in range(20):
        draw = torch.rand((), generator=gen(seed))
        layer = AttentionDropout(drop_rate=0.75, threshold=0.9).train()
        layer.generator = gen(seed)
        expected = drop if float(torch.floor(draw + 0.75)) == 1.0 else x * torch.sigmoid(attention)
        assert torch.equal(layer(x), expected)


def test_adl_choice_follows_the_step_generator():
    layer = AttentionDropout(drop_rate=0.5).train()
    x = torch.rand(2, 3, 4, 4)
    layer.generator = gen(7)
    first = [layer(x) for _ in range(6)]
    layer.generator = gen(7)
    again = [layer(x) for _ in range(6)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))


@pytest.mark.parametrize("backbone,points", [
    ("resnet50", ["layer3.0", "layer4.0", "layer4.2"]),
    ("vgg16", ["features.16", "features.22", "features.29"]),
    ("inception_v3", ["Mixed_5d", "Mixed_6e", "SPG_A3_2b"]),
    ("smallcnn", ["stage2", "stage3.0", "stage3"]),
])
def test_adl_positions_and_eval_equivalence(backbone, points):
    torch.manual_seed(0)
    plain = create_backbone(backbone, num_classes=3).eval()
    adl = create_method("adl").prepare_model(create_backbone(backbone, num_classes=3)).eval()
    assert sorted(adl.inserted) == sorted(p.replace(".", "__") for p in points)
    missing, unexpected = adl.load_state_dict(plain.state_dict(), strict=False)
    assert not missing and not unexpected  # ADL adds no parameters, trunk names unchanged
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(adl(x), plain(x))  # identity at evaluation time


def test_adl_removes_inception_dropout_like_wsolevaluation():
    model = create_method("adl").prepare_model(create_backbone("inception_v3", num_classes=3))
    assert isinstance(model.dropout_a, torch.nn.Identity) and model.head_dropout == 0.0
    assert sorted(create_method("adl", positions=["stage3.1"]).prepare_model(
        create_backbone("smallcnn", num_classes=3)).inserted) == ["stage3__1"]
    with pytest.raises(ValueError, match="insertion points"):
        create_method("adl", positions=["stage9"]).prepare_model(create_backbone("smallcnn", num_classes=3))


# -- ER --------------------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore:reduction. 'mean'")
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum"])
def test_er_kl_term_equals_its_formula(reduction):
    logits = torch.randn(5, 7)
    log_p = F.log_softmax(logits, 1)
    u = torch.full_like(log_p, 1 / 7)
    expected = F.kl_div(log_p, u, reduction=reduction)  # sum u * (log u - log p), reduced
    torch.testing.assert_close(kl_from_uniform(logits, reduction=reduction), expected)
    per_image = (-math.log(7) - log_p.mean(1))  # KL(u || p) = -log C - mean_c log p_c
    scale = {"batchmean": 1 / 5, "mean": 1 / 35, "sum": 1.0}[reduction]
    torch.testing.assert_close(kl_from_uniform(logits, reduction=reduction), per_image.sum() * scale)


def test_er_loss_is_cross_entropy_plus_lambda_kl():
    logits, labels = torch.randn(4, 3), torch.tensor([0, 2, 1, 1])
    er = create_method("er", **{"lambda": 0.5})
    expected = F.cross_entropy(logits, labels) + 0.5 * kl_from_uniform(logits, reduction="batchmean")
    torch.testing.assert_close(er.loss(logits, labels), expected)
    assert float(kl_from_uniform(torch.zeros(2, 4))) == 0.0
    with pytest.raises(WsolbenchError, match="reduction"):
        create_method("er", reduction="none")


# -- input dropout, augmentation, BCE --------------------------------------------------------

def test_input_dropout_drops_whole_pixels_and_optionally_at_test():
    images = torch.randn(8, 3, 32, 32) + 5.0
    out = drop_pixels(images, rate=0.3, generator=gen())
    dropped = (out == 0).all(1)
    assert ((out == 0).any(1) == dropped).all()  # all channels of a pixel together
    assert abs(float(dropped.float().mean()) - 0.3) < 0.03
    scaled = drop_pixels(images, rate=0.5, generator=gen(), rescale=True)
    kept = scaled != 0
    torch.testing.assert_close(scaled[kept], images[kept] * 2)
    model = create_backbone("smallcnn", num_classes=2).eval()
    train_only = create_method("input-dropout")
    both = create_method("input-dropout", at_test=True)
    with torch.no_grad():
        assert torch.equal(train_only.cams_and_logits(model, images[:2])[1], model(images[:2]))
        assert not torch.equal(both.cams_and_logits(model, images[:2])[1], model(images[:2]))


def test_augment_rotation_translation_and_erasing():
    images = torch.randn(2, 3, 16, 16)
    same = random_affine(images, rotate=0.0, translate=0.0, generator=gen())
    torch.testing.assert_close(same, images, atol=1e-5, rtol=1e-5)
    moved = random_affine(images, rotate=30.0, translate=0.2, generator=gen())
    assert moved.shape == images.shape and not torch.allclose(moved, images)
    erased = erase_random(torch.ones(4, 3, 20, 20), prob=1.0, area=(0.1, 0.1), generator=gen(), fill="mean")
    for i in range(4):
        assert float((erased[i, 0] == 0).float().mean()) == pytest.approx(0.1, abs=0.03)
    assert torch.equal(erase_random(images, prob=0.0, generator=gen()), images)
    out, _ = create_method("augment", erasing=1.0).transform_batch(images, torch.tensor([0, 1]), generator=gen())
    assert out.shape == images.shape


def test_multi_hot_targets_train_with_bce():
    logits = torch.randn(3, 4)
    targets = torch.tensor([[1.0, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
    torch.testing.assert_close(classification_loss(logits, targets),
                               F.binary_cross_entropy_with_logits(logits, targets))
    mixed = MixedTargets(a=targets, b=targets.flip(0), weight_a=0.25)
    expected = 0.25 * F.binary_cross_entropy_with_logits(logits, targets) + \
        0.75 * F.binary_cross_entropy_with_logits(logits, targets.flip(0))
    torch.testing.assert_close(classification_loss(logits, mixed), expected)
