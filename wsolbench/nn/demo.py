"""The demo's story: CAM and a method that spreads the map, trained side by side and compared.

``wsolbench demo`` trains CAM and Hide-and-Seek (mixed patch sizes; or CutMix) with their
``*-smallcnn-synthetic`` recipes on the demo config of the synthetic benchmark, in two processes at
once, evaluates both and the center-gaussian floor, computes bootstrap intervals and paired tests
from the per-image state, and says in words what the numbers support (:func:`story`). The study of
these methods (``baselines/README.md``, Study 1) chose the pair: on this config HaS-mixed and CutMix
are the methods that spread the map beyond the class-defining part, and HaS-mixed keeps more of
CAM's classification accuracy.

Reproducibility: training runs on the CPU with one torch thread per process by default, as the
studies did, so a demo run with ``--seed K`` repeats the studies' seed-K cell on the same machine.
Across machines the numbers move (CPU kernels and their floating-point order differ), which is why
the README quotes the range over training seeds 0-2.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_module
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from wsolbench.errors import WsolbenchError

#: The demo's dataset: the synthetic benchmark with a larger part (25% of the object) and smaller,
#: off-centre objects (25-45% of the image side). With the defaults (12% parts, 40-65% objects)
#: even a CAM that covers the part exactly scores below the center-gaussian baseline on box
#: metrics; here a CAM that finds the object can beat it, while part domination stays visible.
DEMO_KNOBS = {"part": 0.25, "scale": "0.25-0.45"}
DATA_SEED = 0

#: key -> (display name, recipe). ``cam`` is always trained; one of the others spreads the map.
METHODS = {"cam": ("CAM", "cam-smallcnn-synthetic"), "has": ("HaS-mixed", "has-smallcnn-synthetic"),
           "cutmix": ("CutMix", "cutmix-smallcnn-synthetic")}
SPREADING = ("has", "cutmix")


def demo_spec(*, classes: int | None = None, per_class: int | None = None) -> str:
    """The synthetic spec of the demo (knobs in the spec, the dataset in the wsolbench cache)."""
    knobs = dict(DEMO_KNOBS, seed=DATA_SEED)
    if classes is not None:
        knobs["classes"] = classes
    if per_class is not None:
        knobs.update(train=per_class, val=max(1, per_class // 4), test=max(2, per_class // 2))
    return "synthetic:?" + "&".join(f"{k}={v}" for k, v in knobs.items())


def demo_recipe(key: str, *, seed: int, epochs: int | None = None):
    """The packaged recipe of method ``key`` with the demo's training seed."""
    from wsolbench.nn.recipe import get_recipe

    return get_recipe(METHODS[key][1]).replace(seed=seed, epochs=epochs)


@dataclass
class DemoRun:
    """One trained method of the demo: its run folder and files, and what it cost."""

    key: str
    name: str
    out_dir: Path
    result_path: Path
    maps_path: Path
    seconds: float
    cpu_seconds: float


#: progress(key, stage, done, total, message); stages: ``train``, ``extract``, ``evaluate``, ``done``.
Progress = Callable[[str, str, int, int, str], None]


def _train_one(key: str, recipe, *, spec: str, out_dir: Path, device: str, threads: int | None,
               progress: Progress | None) -> DemoRun:
    import torch

    from wsolbench.nn.runner import Callbacks, run_trained

    if threads:
        torch.set_num_threads(threads)
    start, cpu = time.perf_counter(), time.process_time()

    def report(stage):
        return None if progress is None else (lambda done, total, message="": progress(key, stage, done, total,
                                                                                       message))

    callbacks = Callbacks(train=report("train"), extract=report("extract"), evaluate=report("evaluate"))
    outputs = run_trained(recipe, spec=spec, out_dir=out_dir, device=device, resume=True, callbacks=callbacks,
                          box_sizes=True)
    return DemoRun(key=key, name=METHODS[key][0], out_dir=Path(out_dir), result_path=Path(outputs.result_path),
                   maps_path=Path(outputs.maps_path), seconds=time.perf_counter() - start,
                   cpu_seconds=time.process_time() - cpu)


def _child(args: tuple, events) -> None:   # pragma: no cover - runs in a spawned process
    key = args[0]

    def progress(k, stage, done, total, message):
        events.put(("progress", k, stage, done, total, message))

    try:
        run = _train_one(*args[:2], **args[2], progress=progress)
        events.put(("done", key, run))
    except WsolbenchError as e:
        events.put(("error", key, str(e), True))
    except BaseException:                  # noqa: BLE001 - reported to the parent, which raises
        events.put(("error", key, traceback.format_exc(), False))


def train_side_by_side(recipes: dict, *, spec: str, out, device: str = "cpu", jobs: int = 2,
                       threads: int | None = 1, progress: Progress | None = None) -> dict[str, DemoRun]:
    """Train, extract and evaluate every recipe; ``jobs`` processes at once (spawned), else in-process.

    Args:
        recipes: ``{method key: Recipe}``; run folders are ``out/<key>`` (finished runs are reused).
        spec: the dataset spec.
        out: the demo folder.
        device: ``cpu``, ``cuda`` or ``auto``.
        jobs: processes training at once (1: one after the other in this process).
        threads: torch CPU threads per process (``None``: torch's default).
        progress: ``progress(key, stage, done, total, message)`` as the runs advance.

    Returns:
        ``{key: DemoRun}`` in the order of ``recipes``.

    Raises:
        WsolbenchError: a run failed (its message); RuntimeError: a run crashed (its traceback).
    """
    out = Path(out)
    options = {key: {"spec": spec, "out_dir": out / key, "device": device, "threads": threads} for key in recipes}
    if jobs <= 1 or len(recipes) == 1:
        return {key: _train_one(key, recipe, **options[key], progress=progress) for key, recipe in recipes.items()}
    ctx = multiprocessing.get_context("spawn")
    events = ctx.Queue()
    pending = dict(recipes)
    running: dict[str, multiprocessing.Process] = {}
    runs: dict[str, DemoRun] = {}
    try:
        while pending or running:
            while pending and len(running) < jobs:
                key = next(iter(pending))
                recipe = pending.pop(key)
                proc = ctx.Process(target=_child, args=((key, recipe, options[key]), events), daemon=True)
                proc.start()
                running[key] = proc
            _handle(_next_event(events, running), running, runs, progress)
    finally:
        for proc in running.values():
            proc.terminate()
            proc.join(timeout=5)
    return {key: runs[key] for key in recipes}


def _next_event(events, running: dict):
    """The next message of a child; a child that died without one is an error."""
    while True:
        try:
            return events.get(timeout=1.0)
        except queue_module.Empty:
            for key, proc in running.items():
                if not proc.is_alive():
                    try:                    # its last message may still be in flight
                        return events.get(timeout=2.0)
                    except queue_module.Empty:
                        return ("error", key, f"the training process of {key} exited with code {proc.exitcode} "
                                              "without a result", False)


def _handle(event, running: dict, runs: dict, progress: Progress | None) -> None:
    kind, key = event[0], event[1]
    if kind == "progress":
        if progress is not None:
            progress(*event[1:])
        return
    proc = running.pop(key)
    proc.join(timeout=30)
    if kind == "done":
        runs[key] = event[2]
        if progress is not None:
            progress(key, "done", 1, 1, "")
        return
    message, expected = event[2], event[3]
    if expected:
        raise WsolbenchError(f"demo run {key}: {message}")
    raise RuntimeError(f"demo run {key} crashed:\n{message}")


def cpu_seconds_of_children() -> float:
    """CPU time (user + system) of the finished child processes of this process."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def default_jobs() -> int:
    """Training processes at once: 2 (the two methods) where there are 2 CPUs or more."""
    return 2 if (os.cpu_count() or 1) >= 2 else 1


# --------------------------------------------------------------------------- the story in words

def _fmt_test(m: dict, digits: int = 1) -> str:
    return (f"{m['difference']:+.{digits}f}, {100 * m['confidence']:g}% interval "
            f"[{m['low']:+.{digits}f}, {m['high']:+.{digits}f}]")


def _tested(test: dict, key: str) -> dict | None:
    m = (test.get("metrics") or {}).get(key)
    return None if m is None or m.get("low") is None else {**m, "confidence": test["confidence"]}


def _sizes_sentence(sizes: dict[str, dict]) -> str | None:
    shown = {name: s for name, s in sizes.items() if s and s.get("n")}
    if len(shown) < 2:
        return None
    names = list(shown)

    def both(key: str, form: str, unit: str = "") -> str:
        return " and ".join(format(shown[n][key], form) + unit for n in names)

    text = (f"At the best threshold the predicted / GT box area has median {both('median_ratio', '.2f')} for "
            f"{' and '.join(names)}; too small to reach IoU 0.5: {both('too_small', '.0f', '%')} of the images, "
            f"too large: {both('too_large', '.0f', '%')}")
    if all(shown[n]["too_small"] + shown[n]["too_large"] < 15 for n in names):
        text += ", so boxes that miss IoU 0.5 miss by position or shape, not by size"
    elif all(shown[n]["too_small"] > shown[n]["too_large"] for n in names):
        text += ": boxes too small, the signature of maps on the most discriminative part"
    return text + "."


def story(first: str, second: str, paired: dict, floor_tests: dict[str, dict],
          sizes: dict[str, dict] | None = None) -> list[str]:
    """The sentences the numbers support, built from the paired tests.

    Args:
        first, second: display names of the two methods (CAM, then the spreading method).
        paired: the paired test of ``second - first``.
        floor_tests: ``{name: paired test of name - center-gaussian}``.
        sizes: ``{name: diagnostics["box_size"]}`` of the methods, for the too-small share.

    Returns:
        Sentences: what the spreading method does to the map (PxAP), to boxes (MaxBoxAccV2,
        MaxBoxAcc, box sizes), what it costs (top-1 cls), and where each method stands against the floor.
    """
    out = []
    pxap = _tested(paired, "pxap")
    if pxap is not None:
        a, b = pxap["first"], pxap["second"]
        if pxap["distinguishable"] and pxap["difference"] > 0:
            out.append(f"{second} spreads the map over more of the object: PxAP {b:.1f} vs {a:.1f} for "
                       f"{first} ({_fmt_test(pxap)}).")
        elif pxap["distinguishable"]:
            out.append(f"{second} does not spread the map on this run: its PxAP is lower than {first}'s "
                       f"({b:.1f} vs {a:.1f}; {_fmt_test(pxap)}).")
        else:
            out.append(f"On this run the PxAP of {second} ({b:.1f}) and {first} ({a:.1f}) are not "
                       f"distinguishable ({_fmt_test(pxap)}).")
    boxes = []
    for key, name in (("maxboxacc_v2", "MaxBoxAccV2"), ("maxboxacc", "MaxBoxAcc")):
        m = _tested(paired, key)
        if m is not None:
            word = "not distinguishable" if not m["distinguishable"] else ("higher" if m["difference"] > 0 else "lower")
            boxes.append(f"{name} {m['second']:.1f} vs {m['first']:.1f} ({_fmt_test(m)}: {word})")
    if boxes:
        out.append(f"Boxes of {second} vs {first}: " + "; ".join(boxes) + ".")
    sentence = _sizes_sentence(sizes or {})
    if sentence:
        out.append(sentence)
    top1 = _tested(paired, "top1_cls")
    if top1 is not None:
        if top1["distinguishable"] and top1["difference"] < 0:
            out.append(f"It costs classification: top-1 {top1['second']:.1f} vs {top1['first']:.1f} "
                       f"({_fmt_test(top1)}).")
        elif not top1["distinguishable"]:
            out.append(f"Its top-1 classification is not distinguishable from {first}'s ({_fmt_test(top1)}).")
        else:
            out.append(f"It also classifies better: top-1 {top1['second']:.1f} vs {top1['first']:.1f} "
                       f"({_fmt_test(top1)}).")
    for name, test in floor_tests.items():
        parts = []
        for key, metric in (("maxboxacc", "MaxBoxAcc"), ("maxboxacc_v2", "MaxBoxAccV2"), ("pxap", "PxAP")):
            m = _tested(test, key)
            if m is None:
                continue
            word = ("not distinguishable from" if not m["distinguishable"]
                    else "above" if m["difference"] > 0 else "below")
            parts.append(f"{metric} {m['second']:.1f} is {word} the floor's {m['first']:.1f}")
        if parts:
            out.append(f"Against the center-gaussian floor (a map that never looks at the image), {name}'s "
                       + ", ".join(parts) + ".")
    return out
