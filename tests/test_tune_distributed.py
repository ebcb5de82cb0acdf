"""`wsolbench tune` from several processes at once, for real: two worker processes share one study's
budget through SQLite (one machine, one output folder) and through a PostgreSQL server (as if on two
machines: each worker has its own output folder); a worker killed mid-training is resumed.

The PostgreSQL test needs a server: ``.ci/run`` starts one (``.ci/postgres start``) and exports its
DSN in ``WSOLBENCH_TEST_POSTGRES_DSN``; without it the test is skipped with that reason.
"""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

pytest.importorskip("torch")
optuna = pytest.importorskip("optuna")

from wsolbench.datasets import load_annotations  # noqa: E402
from wsolbench.nn import tune_study  # noqa: E402

TINY = "classes=3&train=8&val=5&test=4&seed=3"
DSN_ENV = "WSOLBENCH_TEST_POSTGRES_DSN"
TIMEOUT = 600


@pytest.fixture(scope="module")
def spec(tmp_path_factory):
    spec = f"synthetic:{tmp_path_factory.mktemp('syn') / 'data'}?{TINY}"
    load_annotations(spec, split="test")
    return spec


def _command(spec, out, *extra, trials=4, epochs=2):
    return [sys.executable, "-m", "wsolbench", "tune", "cam", "--dataset", spec, "--trials", str(trials),
            "--epochs", str(epochs), "--batch-size", "8", "--device", "cpu", "--threads", "1", "--heartbeat", "2",
            "--out", str(out), "--json", *extra]


def _start(command):
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process) -> dict:
    stdout, stderr = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, stderr[-3000:]
    return json.loads(stdout)


def _check_shared_budget(a: dict, b: dict, study, budget: int) -> None:
    trials = study.get_trials()
    assert len(trials) == budget and all(t.state.name == "COMPLETE" for t in trials)     # exactly N trials
    assert sorted(tune_study.slot_of(t) for t in trials) == list(range(budget))
    assert len({json.dumps(t.params, sort_keys=True) for t in trials}) == budget           # none evaluated twice
    workers = {t.user_attrs["worker"] for t in trials}
    assert len(workers) == 2, f"one worker ran every trial: {workers}"                     # both took part
    assert a["best"] == b["best"] and a["best"]["value"] == max(t.value for t in trials)  # the best, found by both
    assert a["trials"] == b["trials"] and a["counts"]["complete"] == budget
    assert a["test"]["metrics"] == b["test"]["metrics"]


def test_two_processes_share_one_sqlite_study(spec, tmp_path):
    out = tmp_path / "study"
    workers = [_start(_command(spec, out)) for _ in range(2)]
    a, b = (_finish(w) for w in workers)
    storage = tune_study.open_storage(f"sqlite:///{(out / 'study.db').resolve()}")
    _check_shared_budget(a, b, optuna.load_study(study_name=a["study"]["name"], storage=storage), 4)
    assert (out / "result.test.json").is_file() and (out / "tune.png").is_file()


def test_two_workers_share_one_postgresql_study(spec, tmp_path):
    dsn = os.environ.get(DSN_ENV)
    if not dsn:
        pytest.skip(f"no PostgreSQL server: set {DSN_ENV} to its DSN (`.ci/run` starts one with "
                    "`bash .ci/postgres start`, which needs Debian's postgresql package)")
    name = f"test-{uuid.uuid4().hex[:12]}"
    outs = [tmp_path / "machine-a", tmp_path / "machine-b"]
    workers = [_start(_command(spec, out, "--storage", dsn, "--study-name", name)) for out in outs]
    a, b = (_finish(w) for w in workers)
    study = optuna.load_study(study_name=name, storage=tune_study.open_storage(dsn))
    _check_shared_budget(a, b, study, 4)
    assert a["study"]["storage"] == tune_study.mask_url(dsn)
    ran = [{t.user_attrs["folder"] for t in study.get_trials() if t.user_attrs["worker"] == w}
           for w in sorted({t.user_attrs["worker"] for t in study.get_trials()})]
    assert not ran[0] & ran[1]   # each trial's run folder exists on the machine that ran it
    for out in outs:             # and each machine tested the chosen model (retraining it where it was not run)
        assert json.loads((out / "result.test.json").read_text())["metrics"] == a["test"]["metrics"]


def test_a_worker_killed_mid_training_is_resumed_from_its_checkpoint(tmp_path):
    spec = f"synthetic:{tmp_path / 'data'}?classes=3&train=40&val=5&test=4&seed=5"
    load_annotations(spec, split="test")
    out = tmp_path / "study"
    command = _command(spec, out, trials=1, epochs=30)
    first = _start(command)
    checkpoint = out / "trials" / "trial-000" / "checkpoint_last.pt"
    deadline = time.monotonic() + TIMEOUT
    while not checkpoint.is_file():
        assert first.poll() is None and time.monotonic() < deadline, "the first worker ended before its checkpoint"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    summary = _finish(_start(command))
    assert [t["state"] for t in summary["trials"]] == ["requeued", "complete"]
    assert summary["trials"][1]["retry_of"] == 0 and summary["trials"][1]["slot"] == 0
    assert summary["counts"]["finished"] == 1 and summary["best"]["number"] == 1
    epochs = [json.loads(line)["epoch"] for line in (checkpoint.parent / "train_log.jsonl").read_text().splitlines()]
    assert epochs == list(range(1, 31))   # continued after the killed worker's last epoch, none trained twice
