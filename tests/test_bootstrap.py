"""Bootstrap intervals and paired tests from per-image state: hand-computable cases, exactness of
every resample against re-evaluating the resampled images, determinism, the state file beside a
result, and the CLI (evaluate --bootstrap, compare's paired test)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import wsolbench
from wsolbench.cli.main import cli
from wsolbench.datasets.records import AnnotationSet, GTMasks, ImageRecord, MaskSource
from wsolbench.errors import FormatError
from wsolbench.metrics.bootstrap import bootstrap, image_units, paired_bootstrap, resample_weights, resampled_metrics
from wsolbench.metrics.imagestate import ImageState, state_path

SIZE = 224


def fixed_state(correct, *, predicted=None) -> ImageState:
    """A one-threshold (cam2016-like) state: image i is correct iff correct[i]."""
    n = len(correct)
    bits = np.asarray(correct, bool).reshape(n, 1, 1, 1)
    return ImageState(image_ids=[f"img{i:03d}" for i in range(n)], labels=np.zeros(n, np.int64),
                      predicted=np.full(n, -1, np.int64) if predicted is None else np.asarray(predicted),
                      thresholds=np.array([0.2]), iou_thresholds=(50,), maxboxacc_iou=50, modes=("largest",),
                      fixed_threshold=True, correct=np.packbits(bits, axis=-1))


# --------------------------------------------------------------------------- hand-computable cases

def test_interval_of_a_known_case():
    # 10 images, 5 correct: a resample's accuracy is 10 X with X ~ Binomial(10, 1/2).
    # P(X <= 1) = 11/1024 = 1.1% < 2.5% < P(X <= 2) = 56/1024 = 5.5%, so the 2.5th percentile is 20 and,
    # by symmetry, the 97.5th is 80: the 95% interval is [20, 80].
    boot = bootstrap(fixed_state([1] * 5 + [0] * 5), n_resamples=2000, seed=0)
    gk = boot["intervals"]["gt_known_loc"]
    assert (gk["low"], gk["high"]) == (20.0, 80.0)
    assert gk["std"] == pytest.approx(100 * np.sqrt(0.25 / 10), rel=0.05)   # binomial standard error
    assert boot["n_images"] == 10 and boot["n_resamples"] == 2000 and boot["method"] == "percentile"
    every = bootstrap(fixed_state([1] * 7), n_resamples=200, seed=1)["intervals"]["gt_known_loc"]
    assert (every["low"], every["high"], every["std"]) == (100.0, 100.0, 0.0)


def test_resampled_values_follow_the_binomial_distribution():
    # two images, one correct: 0, 50, 100 with probabilities 1/4, 1/2, 1/4
    values = resampled_metrics(fixed_state([1, 0]), resample_weights(2, 8000, seed=3))["gt_known_loc"]
    freq = [np.mean(values == v) for v in (0.0, 50.0, 100.0)]
    assert freq == pytest.approx([0.25, 0.5, 0.25], abs=0.02)


def test_weights_are_draws_with_replacement():
    w = resample_weights(7, 50, seed=5)
    assert w.shape == (50, 7) and w.dtype == np.uint8 and (w.sum(axis=1) == 7).all()
    assert np.array_equal(w, resample_weights(7, 50, seed=5))
    assert not np.array_equal(w, resample_weights(7, 50, seed=6))


def test_threshold_is_reselected_in_each_resample():
    # image a is correct at threshold 0 only, b and c at threshold 1 only: the full set picks threshold 1
    # (2/3); a resample of a, a, b picks threshold 0 (2/3), a fixed threshold would give 1/3
    bits = np.array([[1, 0], [0, 1], [0, 1]], bool).reshape(3, 1, 1, 2)
    state = ImageState(image_ids=["a", "b", "c"], labels=np.zeros(3, np.int64), predicted=np.zeros(3, np.int64),
                       thresholds=np.array([0.0, 0.5]), iou_thresholds=(50,), modes=("largest",),
                       correct=np.packbits(bits, axis=-1))
    values = resampled_metrics(state, np.array([[1, 1, 1], [2, 1, 0], [0, 0, 3]]))
    assert values["maxboxacc"].tolist() == pytest.approx([200 / 3, 200 / 3, 100.0])
    # top-1 loc is read at each resample's MaxBoxAcc threshold (all predictions right here)
    assert values["top1_loc"].tolist() == pytest.approx([200 / 3, 200 / 3, 100.0])


# --------------------------------------------------------------------------- exact against re-evaluation

def _dataset(n: int = 12, *, masks: bool = True) -> AnnotationSet:
    rng = np.random.default_rng(0)
    records = []
    for i in range(n):
        x0, y0 = (int(v) for v in rng.integers(10, 100, 2))
        box = np.array([[x0, y0, x0 + int(rng.integers(30, 110)), y0 + int(rng.integers(30, 110))]], np.float64)
        source = None
        if masks:
            m = np.zeros((SIZE, SIZE), np.uint8)
            bx = box[0].astype(int)
            m[bx[1]:bx[3] + 1, bx[0]:bx[2] + 1] = 1
            source = MaskSource(lambda m=m: GTMasks([m]))
        records.append(ImageRecord(f"c{i % 3}/img{i:02d}.jpg", (i % 3,), (SIZE, SIZE), box, source))
    return AnnotationSet(records, name="handmade", split="test", num_classes=3)


def _maps(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:14, 0:14]
    return np.stack([np.exp(-((xx - rng.uniform(2, 12)) ** 2 + (yy - rng.uniform(2, 12)) ** 2) / rng.uniform(4, 30))
                     + rng.normal(0, 0.05, (14, 14)) for _ in range(n)])


def _evaluated(annotations, maps, preds, **kw):
    ev = wsolbench.Evaluator(annotations, cam_step=0.05, **kw)
    ev.update(annotations.image_ids, maps, predicted_labels=preds)
    return ev


def test_every_resample_equals_the_metrics_of_the_resampled_images():
    annotations = _dataset()
    n = len(annotations)
    maps, preds = _maps(n), np.array([i % 3 if i % 4 else (i + 1) % 3 for i in range(n)])
    ev = _evaluated(annotations, maps, preds)
    result = ev.compute()
    state = result.image_state
    units, n_units = image_units(state)
    # the evaluation itself (all weights 1) gives the result's numbers, exactly
    ones = resampled_metrics(state, np.ones((1, n_units), np.uint8), units)
    for key, values in ones.items():
        if key in result.metrics:
            assert values[0] == result.metrics[key], key
    assert ones["pointing_game"][0] == result.diagnostics["pointing_game"]["value"]
    assert ones["energy_pointing_game"][0] == pytest.approx(result.diagnostics["energy_pointing_game"]["value"],
                                                            rel=1e-12)
    # a resample with repeats: the rows of the drawn images, repeated, summarised from scratch
    weights = resample_weights(n_units, 5, seed=11)
    values = resampled_metrics(state, weights, units)
    frame, full = ev._frame, ev.state
    rows = full.ordered_rows()
    id_of_unit = sorted(set(annotations.image_ids))
    for b, w in enumerate(weights):
        again = frame.new_state(full.dataset)
        k = 0
        for unit, count in enumerate(w):
            row = rows[annotations.image_ids.index(id_of_unit[unit])]
            for _ in range(int(count)):
                again.rows[(k, 0)] = row
                k += 1
        metrics = frame.summarize(again)["metrics"]
        for key in ("maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou70", "top1_loc", "top1_cls",
                    "pxap", "piou"):
            assert values[key][b] == metrics[key], (key, b)


def test_multilabel_resamples_draw_images_with_all_their_maps():
    rng = np.random.default_rng(2)
    records = []
    for i in range(6):
        labels = (0, 1) if i % 2 else (i % 2,)
        instances = []
        for c in labels:
            m = np.zeros((SIZE, SIZE), np.uint8)
            y = int(rng.integers(0, 150))
            m[y:y + 60, 20 + 80 * c:90 + 80 * c] = 1
            instances.append(m)
        records.append(ImageRecord(f"v/{i}.jpg", labels, (SIZE, SIZE),
                                   masks=MaskSource(lambda ins=instances, lab=labels: GTMasks(ins, list(lab)))))
    annotations = AnnotationSet(records, name="voc-like", split="val", num_classes=2)
    ev = wsolbench.Evaluator(annotations, cam_step=0.05)
    ids, classes = [], []
    for r in records:
        for c in r.labels:
            ids.append(r.image_id)
            classes.append(c)
    ev.update(ids, _maps(len(ids), seed=4), map_labels=classes)
    result = ev.compute(bootstrap=50, seed=0)
    state = result.image_state
    units, n_units = image_units(state)
    assert n_units == 6 and state.n_maps == 9
    ones = resampled_metrics(state, np.ones((1, n_units), np.uint8), units)
    assert ones["mpxap"][0] == result.metrics["mpxap"] and ones["pxap"][0] == result.metrics["pxap"]
    assert set(result.bootstrap["intervals"]) >= {"mpxap", "pxap", "piou", "pointing_game"}


def test_intervals_do_not_depend_on_the_order_of_evaluation():
    annotations = _dataset(masks=False)
    maps, preds = _maps(len(annotations)), np.zeros(len(annotations), int)
    a = _evaluated(annotations, maps, preds).compute(bootstrap=300, seed=7)
    ev = wsolbench.Evaluator(annotations, cam_step=0.05)
    order = np.random.default_rng(0).permutation(len(annotations))
    ev.update([annotations.image_ids[i] for i in order], maps[order], predicted_labels=preds[order])
    b = ev.compute(bootstrap=300, seed=7)
    assert a.bootstrap == b.bootstrap
    assert a.bootstrap != _evaluated(annotations, maps, preds).compute(bootstrap=300, seed=8).bootstrap


# --------------------------------------------------------------------------- paired test

def test_paired_test_of_identical_results_gives_p_1():
    annotations = _dataset()
    result = _evaluated(annotations, _maps(len(annotations)), np.zeros(len(annotations), int)).compute()
    test = result.paired_test(result, 500, seed=0)
    assert test["n_images"] == len(annotations)
    for key, m in test["metrics"].items():
        assert m["difference"] == 0.0 and (m["low"], m["high"]) == (0.0, 0.0), key
        assert m["p_value"] == 1.0 and m["distinguishable"] is False, key


def test_paired_test_of_a_clear_difference():
    first, second = fixed_state([0] * 30), fixed_state([1] * 30)
    test = paired_bootstrap(first, second, n_resamples=99, seed=0)["metrics"]["gt_known_loc"]
    assert (test["difference"], test["low"], test["high"]) == (100.0, 100.0, 100.0)
    assert test["p_value"] == pytest.approx(2 / 100) and test["distinguishable"] is True
    # pairing follows the ids, not the row order
    shuffled = second.take(np.arange(30)[::-1])
    assert paired_bootstrap(first, shuffled, n_resamples=99, seed=0)["metrics"]["gt_known_loc"] == test


def test_paired_test_p_value_agrees_with_the_interval():
    rng = np.random.default_rng(0)
    a = rng.random(200) < 0.5
    b = a.copy()
    flip = rng.choice(200, 30, replace=False)
    b[flip[:22]] = True          # B corrects 22 of A's errors and breaks 8 others: a clear gain
    b[flip[22:]] = False
    test = paired_bootstrap(fixed_state(a), fixed_state(b), n_resamples=1000, seed=0)["metrics"]["gt_known_loc"]
    assert test["distinguishable"] == (test["p_value"] < 0.05)
    assert test["low"] <= test["difference"] <= test["high"]


def test_paired_test_needs_the_same_images():
    with pytest.raises(FormatError, match="do not hold the same images: 1 only in the first"):
        paired_bootstrap(fixed_state([1, 0, 1]), fixed_state([1, 0]), n_resamples=10)


# --------------------------------------------------------------------------- the state file

def test_state_is_saved_beside_the_result_and_checked(tmp_path):
    annotations = _dataset()
    result = _evaluated(annotations, _maps(len(annotations)), np.zeros(len(annotations), int)).compute()
    path = tmp_path / "run" / "result.json"
    result.save(path)
    side = tmp_path / "run" / "result.state.npz"
    assert state_path(path) == str(side) and side.exists()
    data = json.loads(path.read_text())
    assert data["state"]["file"] == "result.state.npz" and data["state"]["n_maps"] == len(annotations)
    loaded = wsolbench.EvaluationResult.load(path)
    state = loaded.image_state
    assert state.keys() == result.image_state.keys()
    assert np.array_equal(state.correct, result.image_state.correct)
    assert np.array_equal(state.fg_hist, result.image_state.fg_hist) and state.fg_hist.dtype == np.uint16
    boot = loaded.add_bootstrap(200, seed=3)
    assert boot == result.add_bootstrap(200, seed=3)
    side.write_bytes(side.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(FormatError, match="not the one saved with the result JSON"):
        wsolbench.EvaluationResult.load(path).image_state
    side.unlink()
    with pytest.raises(FormatError, match="state file of the result is missing"):
        wsolbench.EvaluationResult.load(path).add_bootstrap(10)


def test_a_result_without_state_says_how_to_get_one(tmp_path):
    annotations = _dataset(masks=False)
    result = _evaluated(annotations, _maps(len(annotations)), None).compute()
    result.save(tmp_path / "r.json", with_state=False)
    assert json.loads((tmp_path / "r.json").read_text())["state"] is None
    with pytest.raises(FormatError, match="needs the per-image state"):
        wsolbench.EvaluationResult.load(tmp_path / "r.json").add_bootstrap(10)


def test_bad_bootstrap_arguments():
    state = fixed_state([1, 0])
    with pytest.raises(wsolbench.ProtocolError, match="positive integer"):
        bootstrap(state, n_resamples=0)
    with pytest.raises(wsolbench.ProtocolError, match="confidence must lie in"):
        bootstrap(state, confidence=1.5)


# --------------------------------------------------------------------------- command line

@pytest.fixture
def example_results(tmp_path):
    """Two evaluations of the bundled example: its maps, and the same maps flattened (a worse method)."""
    from wsolbench.scoremaps import ScoreMapFile, write_scoremaps

    with ScoreMapFile(wsolbench.example_path("maps.h5")) as f:
        ids, maps, preds = f.image_ids, np.stack(list(f.iter_batches(batch_size=24))[0].maps), f.predicted_labels
    blurred = tmp_path / "flat.h5"
    write_scoremaps(blurred, ids, np.sqrt(np.abs(maps.astype(np.float64))) + 0.3 * maps.mean(),
                    predicted_labels=preds, attrs={"method": "flat"})
    gt = "wsoleval:" + wsolbench.example_path("metadata")
    paths = []
    for name, maps_path in (("a", wsolbench.example_path("maps.h5")), ("b", str(blurred))):
        out = tmp_path / f"{name}.json"
        res = CliRunner().invoke(cli, ["evaluate", maps_path, "--gt", gt, "--out", str(out), "--json",
                                       "--bootstrap", "300", "--seed", "1"])
        assert res.exit_code == 0, res.output
        paths.append(out)
    return paths


def test_evaluate_bootstrap_writes_intervals_and_state(example_results):
    a, _ = example_results
    data = json.loads(a.read_text())
    boot = data["bootstrap"]
    assert boot["n_resamples"] == 300 and boot["seed"] == 1 and boot["confidence"] == 0.95
    for key in ("maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70",
                "gt_known_loc", "top1_loc", "top1_cls", "pointing_game", "energy_pointing_game"):
        interval = boot["intervals"][key]
        value = data["metrics"].get(key, (data["diagnostics"].get(key) or {}).get("value"))
        assert interval["low"] <= value + 1e-9 and value - 1e-9 <= interval["high"], key
    assert (a.parent / "a.state.npz").exists()


def test_evaluate_table_shows_intervals_and_json_indent(tmp_path):
    gt = "wsoleval:" + wsolbench.example_path("metadata")
    res = CliRunner().invoke(cli, ["evaluate", wsolbench.example_path("maps.h5"), "--gt", gt, "--bootstrap", "100"])
    assert res.exit_code == 0, res.output
    assert "95% interval" in res.stdout and "percentile bootstrap over 24 images" in res.stdout
    assert "Pointing game" in res.stdout and "0.369" in res.stdout and "0.299" in res.stdout   # step 0.001: 3 decimals
    one_line = CliRunner().invoke(cli, ["evaluate", wsolbench.example_path("maps.h5"), "--gt", gt, "--json"])
    assert one_line.stdout.count("\n") == 1                      # piped: one line for programs
    indented = CliRunner().invoke(cli, ["evaluate", wsolbench.example_path("maps.h5"), "--gt", gt, "--json",
                                        "--indent", "2"])
    assert indented.stdout.startswith('{\n  "result_version": 1') and json.loads(indented.stdout)["metrics"]


def test_compare_runs_the_paired_test(example_results):
    a, b = example_results
    res = CliRunner().invoke(cli, ["compare", str(a), str(a), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    assert "paired bootstrap" in res.stdout and "not distinguishable" in res.stdout and "1.000" in res.stdout
    res = CliRunner().invoke(cli, ["compare", str(a), str(b), "--json", "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    paired = json.loads(res.stdout)["paired"]
    assert len(paired) == 1 and paired[0]["against"] == "synthetic-cam" and paired[0]["n_images"] == 24
    for key, m in paired[0]["metrics"].items():
        assert m["distinguishable"] == (not m["low"] <= 0 <= m["high"]), key
    rows = {r["key"]: r for r in json.loads(res.stdout)["metrics"]}
    assert rows["pointing_game"]["diagnostic"] is True


def test_compare_without_state_says_why(example_results, tmp_path):
    a, b = example_results
    (b.parent / "b.state.npz").unlink()
    res = CliRunner().invoke(cli, ["compare", str(a), str(b), "--bootstrap", "50"])
    assert res.exit_code == 0, res.output
    assert "no paired test of" in res.output and "state file of the result is missing" in res.output


def test_report_shows_intervals_and_can_compute_them_from_the_state(example_results, tmp_path):
    a, _ = example_results
    res = CliRunner().invoke(cli, ["report", str(a), "--out", str(tmp_path / "rep"), "--no-curves"])
    assert res.exit_code == 0, res.output
    page = (tmp_path / "rep" / "index.html").read_text()
    data = json.loads(a.read_text())
    low = data["bootstrap"]["intervals"]["maxboxacc"]["low"]
    assert f"[{low:.2f}," in page and "percentile bootstrap over the 24 images (300 resamples" in page
    assert '<section id="diagnostics">' in page and "Pointing game: <b>" in page
    plain = tmp_path / "plain.json"
    raw = dict(data, bootstrap=None)
    plain.write_text(json.dumps(raw))
    (tmp_path / "a.state.npz").replace(tmp_path / "plain.state.npz")
    raw["state"]["file"] = "plain.state.npz"
    plain.write_text(json.dumps(raw))
    res = CliRunner().invoke(cli, ["report", str(plain), "--out", str(tmp_path / "rep2"), "--no-curves",
                                   "--bootstrap", "300", "--seed", "1"])
    assert res.exit_code == 0, res.output
    assert f"[{low:.2f}," in (tmp_path / "rep2" / "index.html").read_text()    # the same resamples, same interval
