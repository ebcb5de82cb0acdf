"""`wsolbench leaderboard migrate`: schema version 1 files become version 2 without changing what a row means."""

import hashlib
from pathlib import Path

from click.testing import CliRunner

from wsolbench.cli.main import cli
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.validate import validate_file
from wsolbench.protocol import get_protocol

REPO = Path(__file__).resolve().parents[1]
V1_HEADER = ("method,backbone,dataset,split,protocol,protocol_hash,protocol_options,top1_cls,gt_known_loc,top1_loc,"
             "maxboxacc,maxboxacc_v2,maxboxacc_iou30,maxboxacc_iou50,maxboxacc_iou70,pxap,mpxap,piou,maps_sha256,"
             "wsolbench_version,source,reference,date,notes,schema_version")
V1_WSOLEVAL = "032d2c40c404"          # version 1's wsoleval default: step 0.01
REPORTED = [
    'CAM,resnet50,cub,test,wsoleval,032d2c40c404,,,,,,63.7,95.1,71.3,24.7,,,,,,reported,"Choe et al. CVPR 2020",2020-06,,1',
    "FSL baseline,vgg16,cub,test,wsoleval,032d2c40c404,,,,,,71.6,,,,,,,,,reported,Choe et al. CVPR 2020,2020-03,,1",
    "Center-gaussian baseline,vgg16,cub,test,wsoleval,032d2c40c404,,,,,,59.7,,,,,,,,,reported,Choe et al.,2020-03,,1",
    'HaS-32,alexnet-gap,ilsvrc,val,cam2016,560faee96a30,,,58.75,,,,,,,,,,,,reported,"Singh & Lee, ICCV 2017",2017-10,,1',
    "HaS,resnet50,cub,test,wsoleval,28a85d9447ea,cam_step=0.001,,,,,64.7,,,,,,,,,reported,Choe et al.,2020-03,,1",
]
VERIFIED = ("CAM,smallcnn,synthetic,test,wsoleval,032d2c40c404,,72.8000,4.4000,4.4000,4.4000,19.2000,52.2000,4.4000,"
            "1.0000,20.8643,,15.0592," + "bf" * 32 + ",0.1.0,verified,,2026-11-21,,1")


def run(args):
    return CliRunner().invoke(cli, args)


def write(path: Path, lines) -> Path:
    path.write_text("\n".join([V1_HEADER, *lines]) + "\n")
    return path


def test_version_1_files_are_named_as_such_by_validate(tmp_path):
    old = write(tmp_path / "old.csv", REPORTED)
    (problem,) = validate_file(old)[1]
    assert str(problem) == (f"{old}:1:0: this is a schema version 1 file (it has maps_sha256 and lacks category, "
                            "n_images, gt_fingerprint, maps_content_sha256, maps_url); upgrade it with 'wsolbench "
                            f"leaderboard migrate {old}' (see leaderboard/SCHEMA.md, 'Versions')")


def test_reported_rows_migrate_keeping_their_protocol(tmp_path):
    old = write(tmp_path / "old.csv", REPORTED)
    result = run(["leaderboard", "migrate", str(old)])
    assert result.exit_code == 0, result.output
    rows, problems = validate_file(old)
    assert problems == []
    assert [(r["method"], r["category"]) for r in rows] == [
        ("CAM", "method"), ("FSL baseline", "fully-supervised"), ("Center-gaussian baseline", "sanity"),
        ("HaS-32", "method"), ("HaS", "method")]
    # a v1 row with default options was measured at step 0.01: the step is now written out, the hash is unchanged
    assert (rows[0]["protocol_options"], rows[0]["protocol_hash"]) == ("cam_step=0.01", V1_WSOLEVAL)
    assert get_protocol("wsoleval", cam_step=0.01).hash() == V1_WSOLEVAL
    # a v1 row at step 0.001 now has the default options, with the same hash
    assert (rows[4]["protocol_options"], rows[4]["protocol_hash"]) == ("", schema.expected_hash("wsoleval", {}))
    assert (rows[3]["protocol_options"], rows[3]["protocol_hash"]) == ("", "560faee96a30")
    assert all(r["schema_version"] == "2" for r in rows)
    assert "category 'fully-supervised'" in result.stderr and "migrated to schema version 2" in result.stderr


def test_verified_rows_are_not_migrated_and_nothing_is_written(tmp_path):
    old = write(tmp_path / "old.csv", REPORTED + [VERIFIED])
    before = old.read_bytes()
    result = run(["leaderboard", "migrate", str(old)])
    assert result.exit_code == 2
    assert result.stdout.splitlines() == [
        f"{old}:7:0: a verified version 1 row records the file's byte checksum (maps_sha256), not the content hash, "
        "image count and ground-truth fingerprint version 2 requires: re-evaluate its maps with 'wsolbench evaluate "
        "MAPS --gt SPEC --submission ROW.csv' (and --maps-url)"]
    assert result.stderr.strip().splitlines()[-1] == ("Error: 1 of 1 file(s) could not be migrated (problems above); "
                                                      "nothing was written to them")
    assert old.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"]


def test_dry_run_and_version_2_files_write_nothing(tmp_path):
    old = write(tmp_path / "old.csv", REPORTED)
    digest = hashlib.sha256(old.read_bytes()).hexdigest()
    assert run(["leaderboard", "migrate", "--dry-run", str(old)]).exit_code == 0
    assert hashlib.sha256(old.read_bytes()).hexdigest() == digest
    assert run(["leaderboard", "migrate", str(old)]).exit_code == 0
    result = run(["leaderboard", "migrate", str(old)])
    assert result.exit_code == 2 and "the header is not schema version 1's (it is 2)" in result.stdout


def test_the_repository_board_is_version_2():
    for path in [REPO / "leaderboard" / "reported.csv", *sorted((REPO / "leaderboard" / "submissions").glob("*.csv"))]:
        rows, problems = validate_file(path)
        assert problems == [] and rows and all(r["schema_version"] == "2" for r in rows), path
