"""Evaluator.sync over torch.distributed: two gloo processes, each fed its DistributedSampler shard
(padded by repeating images), give the single-process result exactly."""

import json
import os
import socket

import numpy as np
import pytest

from evalfixtures import make_box_case

torch = pytest.importorskip("torch")

N_IMAGES = 11          # odd: the sampler pads one image onto the second process


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _attempt(log: dict, name: str, fn) -> None:
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - recorded for the parent to check
        log[name] = f"{type(e).__name__}: {e}"


def _worker(rank: int, world: int, port: int, spec: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import torch.distributed as dist
    from torch.utils.data import DistributedSampler

    from wsolbench import Evaluator

    dist.init_process_group("gloo", rank=rank, world_size=world)
    case = np.load(os.path.join(out, "case.npz"))
    ids, maps, preds = list(case["ids"]), case["maps"], case["preds"]
    mine = list(DistributedSampler(range(len(ids)), num_replicas=world, rank=rank, shuffle=True, seed=3))
    evaluator = Evaluator(spec, cam_step=0.01)
    for start in range(0, len(mine), 2):                       # batches of 2, as tensors
        batch = mine[start:start + 2]
        evaluator.update([ids[i] for i in batch], torch.from_numpy(maps[batch]), torch.from_numpy(preds[batch]))
    log = {"n_local": len(evaluator.state)}
    _attempt(log, "compute_before_sync", evaluator.compute)
    _attempt(log, "sync_with_padding", evaluator.sync)
    evaluator.sync(drop_duplicates=True)
    evaluator.sync(drop_duplicates=True)                         # a second call changes nothing
    _attempt(log, "update_after_sync", lambda: evaluator.update(ids[:1], maps[:1]))
    evaluator.compute().save(os.path.join(out, f"rank{rank}.json"))
    with open(os.path.join(out, f"log{rank}.json"), "w") as f:
        json.dump(log, f)
    dist.destroy_process_group()


def _content(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("created", "maps", "state")}   # state: where it was saved


def test_two_gloo_processes_give_the_single_process_result(tmp_path):
    from wsolbench import Evaluator

    meta, ids, maps, preds = make_box_case(tmp_path, n=N_IMAGES)
    np.savez(tmp_path / "case.npz", ids=np.array(ids), maps=maps, preds=np.asarray(preds, np.int64))
    spec = f"wsoleval:{meta}"
    single = Evaluator(spec, cam_step=0.01)
    single.update(ids, maps, preds)
    assert single.sync() is single                                  # no process group: nothing to do
    expected = _content(single.compute().to_dict())

    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), spec, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        assert _content(json.loads((tmp_path / f"rank{rank}.json").read_text())) == expected
        log = json.loads((tmp_path / f"log{rank}.json").read_text())
        assert log["n_local"] == (N_IMAGES + 1) // 2
        assert "have no map" in log["compute_before_sync"] and "call evaluator.sync()" in log["compute_before_sync"]
        assert log["sync_with_padding"].startswith("FormatError: 1 map(s) were evaluated in both shards")
        assert "drop_duplicates=True" in log["sync_with_padding"]
        assert log["update_after_sync"].startswith("RuntimeError")
