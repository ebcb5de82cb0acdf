"""DistributedDataParallel on CPU: two gloo processes train the same tiny run and agree."""

import os
import socket

import pytest

torch = pytest.importorskip("torch")

from wsolbench.datasets import load_annotations  # noqa: E402

TINY = "classes=3&train=8&val=2&test=4&seed=2"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, spec: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from wsolbench.datasets import load_annotations
    from wsolbench.nn import distributed as dist
    from wsolbench.nn.recipe import get_recipe
    from wsolbench.nn.train import train

    ctx = dist.init_from_env(device="cpu")
    assert ctx.enabled and ctx.rank == rank and ctx.world_size == world
    recipe = get_recipe("cam-smallcnn-synthetic").replace(epochs=2, batch_size=8, workers=0)
    result = train(recipe, load_annotations(spec, split="train"), out_dir=os.path.join(out, "run"))
    torch.save({"state": result.model.state_dict(), "history": [h.__dict__ for h in result.history]},
               os.path.join(out, f"rank{rank}.pt"))
    dist.shutdown(ctx)


def test_two_gloo_processes_train_in_lockstep(tmp_path):
    spec = f"synthetic:{tmp_path / 'data'}?{TINY}"
    train_set = load_annotations(spec, split="train")  # generate once, before the workers read it
    torch.multiprocessing.spawn(_worker, args=(2, _free_port(), spec, str(tmp_path)), nprocs=2, join=True)
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for k, v in r0["state"].items():
        if "running_" in k or "num_batches" in k:
            continue  # batch-norm statistics are per process (no SyncBN)
        assert torch.equal(v, r1["state"][k]), k
    # statistics are reduced over both ranks: every training image is seen once per epoch
    assert [h["images"] for h in r0["history"]] == [len(train_set)] * 2 == [h["images"] for h in r1["history"]]
    same = ("epoch", "loss", "top1", "images", "lr")
    assert [{k: h[k] for k in same} for h in r0["history"]] == [{k: h[k] for k in same} for h in r1["history"]]
    ckpt = torch.load(tmp_path / "run" / "checkpoint_last.pt", weights_only=True)
    assert ckpt["epoch"] == 2
    assert torch.equal(ckpt["model"]["fc.weight"], r0["state"]["fc.weight"])
