"""`wsolbench evaluate` end to end, and every bad input of issue 2 giving a clean one-line error."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from evalfixtures import make_box_case, write_maps
from wsolbench.cli.main import cli


def run(args):
    return CliRunner().invoke(cli, args)


@pytest.fixture
def case(tmp_path):
    meta, ids, maps, preds = make_box_case(tmp_path)
    path = write_maps(tmp_path / "maps.h5", ids, maps, predicted=preds)
    return tmp_path, meta, ids, maps, preds, path


def _error_line(result):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_evaluate_json_has_every_metric_key(case):
    tmp, meta, *_ , path = case
    out = tmp / "result.json"
    result = run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "--json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data["metrics"]) == {"maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50",
                                    "maxboxacc_iou70", "gt_known_loc", "top1_loc", "top1_cls", "pxap",
                                    "piou", "mpxap"}
    m = data["metrics"]
    assert m["pxap"] is None and m["piou"] is None and m["mpxap"] is None   # box dataset
    assert m["gt_known_loc"] == m["maxboxacc"]
    assert m["maxboxacc_v2"] == pytest.approx(np.mean([m["maxboxacc_iou30"], m["maxboxacc_iou50"],
                                                      m["maxboxacc_iou70"]]), abs=0)
    assert m["top1_cls"] == pytest.approx(75.0)
    assert 0 <= m["top1_loc"] <= m["maxboxacc"]
    saved = json.loads(out.read_text())
    assert saved["metrics"] == data["metrics"]
    assert len(saved["maps"]["sha256"]) == 64 and saved["protocol_hash"] == data["protocol_hash"]
    assert len(saved["box"]["largest"]["curves"]["50"]) == 1000      # the default step is 0.001, as the reference's
    assert saved["protocol"]["cam_step"] == 0.001
    coarse = run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "--json", "--cam-step", "0.01"])
    assert len(json.loads(coarse.stdout)["box"]["largest"]["curves"]["50"]) == 100
    assert json.loads(coarse.stdout)["protocol_hash"] != data["protocol_hash"]


def test_evaluate_table_and_workers_agree(case):
    tmp, meta, *_ , path = case
    a = run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "--json"])
    b = run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "--json", "--workers", "2"])
    assert json.loads(a.stdout)["box"] == json.loads(b.stdout)["box"]
    table = run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"])
    assert table.exit_code == 0 and "MaxBoxAccV2" in table.stdout


def test_cam2016_protocol(case):
    tmp, meta, *_ , path = case
    data = json.loads(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "--json",
                           "--protocol", "cam2016", "--threshold", "0.3"]).stdout)
    m = data["metrics"]
    assert m["maxboxacc"] is None and m["maxboxacc_v2"] is None and m["gt_known_loc"] is not None
    assert data["protocol"]["fixed_threshold"] == 0.3 and data["box"]["thresholds"] == [0.3]


def test_missing_ids_listed_with_count(case):
    tmp, meta, ids, maps, preds, _ = case
    path = write_maps(tmp / "short.h5", ids[:4], maps[:4])
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "short.h5" in line and "8 image id(s)" in line and repr(ids[4]) in line and "(and 3 more)" in line


def test_extra_ids_listed(case):
    tmp, meta, ids, maps, preds, _ = case
    path = write_maps(tmp / "extra.h5", ids + ["zzz/other.jpg"], np.concatenate([maps, maps[:1]]))
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "'zzz/other.jpg'" in line and "not in the ground truth" in line


def test_no_matching_id_says_0_of_n_and_shows_both_sides(case):
    tmp, meta, ids, maps, preds, _ = case
    path = write_maps(tmp / "prefixed.h5", ["test/" + i for i in ids], maps)
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert f"0 of {len(ids)} image ids match the ground truth's {len(ids)}" in line
    assert f"'test/{ids[0]}'" in line and f"the ground truth '{ids[0]}'" in line
    assert "leading 'test/' that the ground truth's do not" in line
    other = write_maps(tmp / "other.h5", [f"x/{k}.png" for k in range(len(ids))], maps)
    line = _error_line(run(["evaluate", str(other), "--gt", f"wsoleval:{meta}"]))
    assert f"0 of {len(ids)} image ids match" in line and "'x/0.png'" in line and "leading" not in line


def test_nan_map_names_image(case):
    tmp, meta, ids, maps, preds, _ = case
    maps = maps.copy()
    maps[5, 3, 3] = np.nan
    path = write_maps(tmp / "nan.h5", ids, maps)
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "nan.h5" in line and ids[5] in line


def test_inf_map_names_image(case):
    tmp, meta, ids, maps, preds, _ = case
    maps = maps.copy()
    maps[2, 0, 0] = np.inf
    path = write_maps(tmp / "inf.h5", ids, maps)
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert ids[2] in line


def test_wrong_rank(case):
    tmp, meta, ids, maps, preds, _ = case
    path = write_maps(tmp / "rgb.h5", ids, np.repeat(maps[..., None], 3, axis=-1))
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "rgb.h5" in line and "maps" in line


def test_unknown_format_version(case):
    tmp, meta, ids, maps, preds, _ = case
    path = write_maps(tmp / "v9.h5", ids, maps, version=9)
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "v9.h5" in line and "9" in line


def test_truncated_and_non_hdf5(case):
    tmp, meta, ids, maps, preds, path = case
    trunc = tmp / "trunc.h5"
    trunc.write_bytes(path.read_bytes()[:3000])
    assert "trunc.h5" in _error_line(run(["evaluate", str(trunc), "--gt", f"wsoleval:{meta}"]))
    text = tmp / "maps.txt"
    text.write_text("not an hdf5 file\n")
    assert "maps.txt" in _error_line(run(["evaluate", str(text), "--gt", f"wsoleval:{meta}"]))


def test_malformed_metadata_line(case):
    tmp, meta, ids, maps, preds, path = case
    lines = (meta / "localization.txt").read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]           # drop a field
    (meta / "localization.txt").write_text("\n".join(lines) + "\n")
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "localization.txt:4" in line


def test_bad_class_label_line(case):
    tmp, meta, ids, maps, preds, path = case
    lines = (meta / "class_labels.txt").read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",bird"
    (meta / "class_labels.txt").write_text("\n".join(lines) + "\n")
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "class_labels.txt:2" in line and ids[1] in line


@pytest.mark.parametrize("bad_id", ["../escape.jpg", "/abs/path.jpg"])
def test_bad_image_ids_in_metadata(case, bad_id):
    tmp, meta, ids, maps, preds, path = case
    text = (meta / "image_ids.txt").read_text().replace(ids[0], bad_id, 1)
    (meta / "image_ids.txt").write_text(text)
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "image_ids.txt:1" in line and bad_id in line


def test_bad_image_id_in_maps_file(case):
    tmp, meta, ids, maps, preds, _ = case
    path = write_maps(tmp / "dotdot.h5", ["../x.jpg"] + ids[1:], maps)
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "dotdot.h5" in line and "../x.jpg" in line


@pytest.mark.parametrize("box,needle", [("10,10,5,20", "x1 < x0"), ("10,10,9000,20", "outside")])
def test_bad_boxes(case, box, needle):
    tmp, meta, ids, maps, preds, path = case
    lines = (meta / "localization.txt").read_text().splitlines()
    lines[0] = f"{ids[0]},{box}"
    (meta / "localization.txt").write_text("\n".join(lines) + "\n")
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}"]))
    assert "localization.txt:1" in line and needle in line and ids[0] in line


@pytest.mark.parametrize("value", [0.25, 0.3])
def test_constant_map_evaluated_as_reference_with_warning(case, value):
    # 0.3 is not exactly representable: the reference's bicubic resize turns it into 1-ulp noise that its
    # min-max normalisation stretches to [0, 1]; we evaluate it the same way but still count it as constant.
    tmp, meta, ids, maps, preds, _ = case
    maps = maps.copy()
    maps[0] = value
    path = write_maps(tmp / "const.h5", ids, maps)
    result = run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["counts"]["n_constant_maps"] == 1 and data["per_image"]["constant_map"][0] is True
    assert "1 constant" in result.stderr


def test_gt_spec_without_adapter_name(case):
    tmp, meta, ids, maps, preds, path = case
    line = _error_line(run(["evaluate", str(path), "--gt", str(meta)]))
    assert "wsoleval:" in line


def test_adapter_options_pass_through_and_unknown_option_is_clean(case):
    tmp, meta, ids, maps, preds, path = case
    ok = run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "-o", "name=mine", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["dataset"]["name"] == "mine"
    line = _error_line(run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "-o", "colour=red"]))
    assert "'colour'" in line and "mask_root" in line


def test_submission_needs_method_and_backbone(case):
    tmp, meta, ids, maps, preds, path = case
    result = run(["evaluate", str(path), "--gt", f"wsoleval:{meta}", "--submission", str(tmp / "row.csv")])
    assert result.exit_code == 2 and "--method" in result.output and "--backbone" in result.output
    assert not (tmp / "row.csv").exists()
