"""Regenerate the leaderboard CSV fixtures (schema version 2): ``python tests/data/leaderboard/make_fixtures.py``.

``valid.csv`` holds three rows (a reported wsoleval row, a reported cam2016 row, a verified row on the
synthetic test split); every other file is ``valid.csv`` with exactly one thing broken.
"""

import csv
import io
from pathlib import Path

from wsolbench.datasets.cards import official_split
from wsolbench.leaderboard import schema

HERE = Path(__file__).parent
WSOLEVAL, CAM2016 = schema.expected_hash("wsoleval", {}), schema.expected_hash("cam2016", {})


def rows():
    base = {c: "" for c in schema.COLUMNS}
    cam = dict(base, method="CAM", backbone="resnet50", category="method", dataset="cub", split="test",
               protocol="wsoleval", protocol_hash=WSOLEVAL, maxboxacc_v2="63.7", maxboxacc_iou30="95.1",
               maxboxacc_iou50="71.3", maxboxacc_iou70="24.7", source="reported",
               reference="Choe et al. CVPR 2020, Table 5", date="2020-06", schema_version="2")
    has = dict(base, method="HaS-32", backbone="alexnet-gap", category="method", dataset="ilsvrc", split="val",
               protocol="cam2016", protocol_hash=CAM2016, gt_known_loc="58.75", source="reported",
               reference="Singh & Lee, ICCV 2017, Table 1", date="2017-10", notes="patch size 32, threshold 0.2",
               schema_version="2")
    verified = dict(base, method="CAM", backbone="resnet50", category="method", dataset="synthetic", split="test",
                    protocol="wsoleval", protocol_hash=WSOLEVAL, top1_cls="91.2500", gt_known_loc="70.0000",
                    top1_loc="65.0000", maxboxacc="70.0000", maxboxacc_v2="66.6667", maxboxacc_iou30="90.0000",
                    maxboxacc_iou50="70.0000", maxboxacc_iou70="40.0000", n_images="500",
                    gt_fingerprint=official_split("synthetic", "test")[1].fingerprint,
                    maps_content_sha256="3f" * 32, wsolbench_version="0.1.0", source="verified", date="2026-11-20",
                    schema_version="2")
    return [cam, has, verified]


def text(table, columns=schema.COLUMNS, delimiter=",", quoting=csv.QUOTE_MINIMAL):
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n", quoting=quoting)
    writer.writerow(columns)
    for row in table:
        writer.writerow([row[c] for c in columns])
    return out.getvalue()


def main():
    files = {"valid.csv": text(rows())}
    changes = {"bad_hash.csv": (0, "protocol_hash", CAM2016), "inconsistent_v2.csv": (0, "maxboxacc_v2", "73.7"),
               "text_in_number.csv": (0, "maxboxacc_v2", "high"), "out_of_range.csv": (1, "gt_known_loc", "101.5"),
               "reported_without_reference.csv": (1, "reference", ""), "unknown_protocol.csv": (1, "protocol", "cam2017")}
    for name, (index, column, value) in changes.items():
        table = rows()
        table[index][column] = value
        files[name] = text(table)
    files["duplicated_row.csv"] = text(rows() + rows()[:1])
    files["missing_column.csv"] = text(rows(), [c for c in schema.COLUMNS if c != "maxboxacc_iou70"])
    lines = files["valid.csv"].splitlines(keepends=True)
    lines[2] = lines[2].replace('"patch size 32, threshold 0.2"', "patch size 32, threshold 0.2")
    files["ragged_row.csv"] = "".join(lines)
    files["wrong_delimiter.csv"] = text(rows(), delimiter=";", quoting=csv.QUOTE_NONE)
    files["empty.csv"] = ""
    for name, content in files.items():
        (HERE / name).write_bytes(content.encode())
    (HERE / "bom.csv").write_bytes(b"\xef\xbb\xbf" + files["valid.csv"].encode())


if __name__ == "__main__":
    main()
