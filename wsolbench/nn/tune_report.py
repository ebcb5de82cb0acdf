"""The outputs of a search: ``tune.json`` (every trial), ``tune.md`` (the same as a table) and
``tune.png`` (the selection metric against each knob, the chosen trial marked).

Everything is read back from the Optuna study, so any worker (or ``wsolbench tune --status``)
writes the same files. Trial states: ``complete``, ``failed`` (the configuration failed: it spent
its budget slot; the error is kept), ``requeued`` (its worker stopped; a later trial reruns the
same slot), ``running``, ``waiting``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from wsolbench.atomic import write_text_atomic
from wsolbench.metric_names import METRIC_NAMES
from wsolbench.nn.tune_study import BUDGET_ATTR, IDENTITY_ATTR, mask_url, slot_of

TUNE_JSON = "tune.json"
TUNE_MD = "tune.md"
FIGURE = "tune.png"
SUMMARY_VERSION = 1
_STATES = {"COMPLETE": "complete", "FAIL": "failed", "RUNNING": "running", "WAITING": "waiting", "PRUNED": "pruned"}


def trial_records(study) -> list[dict]:
    """One dict per trial of the study, by number (see the module docstring for the states)."""
    trials = study.get_trials(deepcopy=False)
    requeued = {n for t in trials for n in t.system_attrs.get("retry_history", [])}
    out = []
    for t in trials:
        state = "requeued" if t.number in requeued else _STATES.get(t.state.name, t.state.name.lower())
        out.append({
            "number": t.number, "slot": slot_of(t), "state": state, "params": dict(t.params),
            "value": t.value if t.value is not None and math.isfinite(t.value) else None,
            "metrics": t.user_attrs.get("metrics"), "folder": t.user_attrs.get("folder"),
            "worker": t.user_attrs.get("worker"), "seconds": t.user_attrs.get("seconds"),
            "error": t.user_attrs.get("error"), "retry_of": t.system_attrs.get("failed_trial"),
        })
    return out


def _counts(records: list[dict], budget: int) -> dict:
    counts = {s: sum(r["state"] == s for r in records) for s in ("complete", "failed", "requeued", "running", "waiting")}
    return {"budget": budget, "finished": counts["complete"] + counts["failed"], **counts}


def summarize(study, location, *, test: dict | None = None) -> dict:
    """The summary of a study (``tune.json``): its identity, every trial, the best, the test result."""
    ident = study.user_attrs.get(IDENTITY_ATTR) or {}
    records = trial_records(study)
    complete = [r for r in records if r["state"] == "complete" and r["value"] is not None]
    best = max(complete, key=lambda r: (r["value"], -r["number"])) if complete else None
    metric = ident.get("metric", "")
    return {
        "summary_version": SUMMARY_VERSION,
        "study": {"name": location.name, "storage": mask_url(location.url), "out": str(location.out)},
        "method": ident.get("method"), "backbone": ident.get("backbone"), "data": ident.get("data"),
        "space": ident.get("space"), "splits": ident.get("splits"), "metric": metric,
        "metric_name": METRIC_NAMES.get(metric, metric), "sampler": ident.get("sampler"), "seed": ident.get("seed"),
        "recipe": ident.get("recipe"), "pretrained": ident.get("pretrained"),
        "counts": _counts(records, int(study.user_attrs.get(BUDGET_ATTR, 0))),
        "trials": records, "best": best, "test": test,
    }


# --------------------------------------------------------------------------- markdown

def format_value(value) -> str:
    """A parameter or metric value for a table: ``0.01234``, ``true``, ``32``, ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _param_names(summary: dict) -> list[str]:
    return [p["name"] for p in (summary.get("space") or {}).get("params", [])]


def _header(summary: dict) -> list[str]:
    c, splits, data = summary["counts"], summary.get("splits") or {}, summary.get("data") or {}
    lines = [f"# wsolbench tune: study `{summary['study']['name']}`", "",
             f"Method `{summary['method']}`, backbone `{summary['backbone']}`, dataset {data.get('name')} "
             f"(trained on `{splits.get('train')}`: {data.get('n_train')} images; selected on "
             f"`{splits.get('select')}`: {data.get('n_select')} images). Sampler {summary['sampler']} "
             f"(seed {summary['seed']}); budget {c['budget']} trials: {c['complete']} complete, {c['failed']} failed, "
             f"{c['running']} running, {c['waiting']} waiting"
             + (f", {c['requeued']} requeued after their worker stopped" if c["requeued"] else "") + ".",
             f"Selection metric: {summary['metric_name']} on `{splits.get('select')}`. Storage: "
             f"`{summary['study']['storage']}`.", ""]
    return lines


def _test_lines(summary: dict) -> list[str]:
    best, test = summary.get("best"), summary.get("test")
    if best is None:
        return ["No trial has completed yet.", ""]
    lines = [f"Chosen: trial {best['number']} ({summary['metric_name']} {best['value']:.2f} on "
             f"`{summary['splits']['select']}`)."]
    if test:
        m = test["metrics"]
        shown = ", ".join(f"{METRIC_NAMES[k]} {m[k]:.2f}" for k in ("maxboxacc_v2", "maxboxacc", "pxap", "mpxap",
                                                                      "top1_loc", "top1_cls") if m.get(k) is not None)
        refit = f" after retraining on `{test['refit_split']}`" if test.get("refit_split") else ""
        lines.append(f"Its test result{refit} (`{test['split']}`, evaluated once): {shown} "
                     f"(`{test['result']}`; rerun it with `{test['recipe']}`).")
    return lines + [""]


def to_markdown(summary: dict) -> str:
    """``tune.md``: the header, the chosen trial and its test result, and the table of trials."""
    params = _param_names(summary)
    best = (summary.get("best") or {}).get("number")
    head = ["trial", "state", *params, f"{summary['metric_name']} ({(summary.get('splits') or {}).get('select')})",
            "seconds", "folder / error"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary["trials"]:
        number = f"**{r['number']}** (best)" if r["number"] == best else str(r["number"])
        if r["retry_of"] is not None:
            number += f" (reruns {r['retry_of']})"
        cells = [number, r["state"], *(format_value(r["params"].get(p)) for p in params),
                 format_value(r["value"]) if r["value"] is None else f"{r['value']:.2f}",
                 format_value(r["seconds"]), (r["error"] or r["folder"] or "-").replace("|", "/")]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(_header(summary) + _test_lines(summary) + rows) + "\n"


def write_tables(summary: dict, out) -> None:
    """Write ``tune.json`` and ``tune.md`` into ``out`` (atomically)."""
    out = Path(out)
    write_text_atomic(out / TUNE_JSON, json.dumps(summary, indent=1) + "\n")
    write_text_atomic(out / TUNE_MD, to_markdown(summary))


# --------------------------------------------------------------------------- the figure

def _axis_values(param: dict, records: list[dict]) -> tuple[list, dict | None]:
    """x positions of the records' values; categorical values are placed at 0, 1, ... (the mapping)."""
    values = [r["params"].get(param["name"]) for r in records]
    if param["distribution"] != "categorical":
        return values, None
    labels = {json.dumps(c): i for i, c in enumerate(param["choices"])}
    return [labels.get(json.dumps(v)) for v in values], labels


def _panel(ax, param: dict, summary: dict) -> None:
    from wsolbench.report.curves import style_axes

    records = [r for r in summary["trials"] if r["params"].get(param["name"]) is not None]
    done = [r for r in records if r["state"] == "complete" and r["value"] is not None]
    failed = [r for r in records if r["state"] == "failed"]
    xs, labels = _axis_values(param, done)
    ax.plot(xs, [r["value"] for r in done], "o", color="#1f77b4", label="trials", zorder=2)
    if failed:
        ax.plot(_axis_values(param, failed)[0], [0.0] * len(failed), "x", color="#7f7f7f", label="failed")
    best = summary.get("best")
    if best is not None and best["params"].get(param["name"]) is not None:
        bx, _ = _axis_values(param, [best])
        ax.plot(bx, [best["value"]], "*", color="#d62728", markersize=16, label="best", zorder=3)
    top = max([r["value"] for r in done] + [1.0])
    style_axes(ax, title=param["name"], xlabel=param["name"], ylabel=f"{summary['metric_name']} (%)",
               xlim=ax.get_xlim(), ylim=(0.0, min(100.0, top * 1.15 + 1.0)))
    if param["distribution"].startswith("log-"):
        ax.set_xscale("log")
    if labels is None and float(param["high"]) > float(param["low"]):   # the whole searched range, so the figure shows where the trials fell in it
        low, high = float(param["low"]), float(param["high"])
        pad = (high / low) ** 0.04 if param["distribution"].startswith("log-") else None
        ax.set_xlim(*((low / pad, high * pad) if pad else (low - 0.04 * (high - low), high + 0.04 * (high - low))))
    elif labels is not None:
        ax.set_xticks(range(len(labels)), [format_value(json.loads(k)) for k in labels])
        ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.legend(loc="lower right", fontsize=8)


def draw_figure(summary: dict, out) -> dict | None:
    """``tune.png``: one panel per knob, the selection metric of every trial against the knob's value
    (log axis for log-scale knobs), failed trials at 0 as crosses, the chosen trial as a red star.
    Returns ``{"file", "size", "panels"}`` (the plotted data, see
    :func:`wsolbench.report.curves.save_figure`), or ``None`` without matplotlib (the search does not
    need it)."""
    from wsolbench.report.curves import matplotlib_available, new_figure, save_figure

    params = (summary.get("space") or {}).get("params", [])
    if not params or not matplotlib_available():
        return None
    fig, axes = new_figure((4.2 * len(params), 3.6), ncols=len(params))
    for ax, param in zip(axes, params):
        _panel(ax, param, summary)
    fig.suptitle(f"{summary['method']} / {summary['backbone']}: {summary['metric_name']} on "
                 f"{(summary.get('splits') or {}).get('select')} per trial", fontsize=11)
    drawn = save_figure(fig, Path(out) / FIGURE)
    return {"file": FIGURE, "size": drawn["size"], "panels": drawn["panels"]}


# --------------------------------------------------------------------------- several studies

TABLE_METRICS = ("top1_cls", "maxboxacc", "maxboxacc_v2", "pxap")


def read_summary(folder) -> dict:
    """The ``tune.json`` of a study's output folder."""
    from wsolbench.errors import FormatError

    path = Path(folder) / TUNE_JSON
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FormatError(f"{path}: cannot read a tune summary ({e}); give the --out folder of a "
                          "wsolbench tune run") from None
    if summary.get("summary_version") != SUMMARY_VERSION:
        raise FormatError(f"{path}: summary version {summary.get('summary_version')!r} is not {SUMMARY_VERSION}")
    return summary


def summary_folders(paths) -> list[Path]:
    """The study folders named: each path that holds a ``tune.json``, else its sub-folders that do
    (sorted), so ``runs/tune-synthetic`` names every study under it."""
    from wsolbench.errors import FormatError

    out = []
    for path in map(Path, paths):
        found = [path] if (path / TUNE_JSON).is_file() else sorted(p.parent for p in path.glob(f"*/{TUNE_JSON}"))
        if not found:
            raise FormatError(f"{path}: no {TUNE_JSON} here nor in its sub-folders; give the --out folder of a "
                              "wsolbench tune run (or their parent)")
        out += found
    return out


def table_row(summary: dict) -> dict:
    """One row of the comparison of tuned methods: the chosen configuration and its test numbers."""
    best, test, c = summary.get("best") or {}, summary.get("test") or {}, summary["counts"]
    metrics = test.get("metrics") or {}
    return {"method": summary["method"], "backbone": summary["backbone"], "study": summary["study"]["name"],
            "trials": f"{c['complete']}/{c['budget']}", "chosen": best.get("params"),
            "selected_on": (summary.get("splits") or {}).get("select"), "metric": summary["metric_name"],
            "val": best.get("value"), "test": {k: metrics.get(k) for k in TABLE_METRICS},
            "refit": test.get("refit_split")}


def comparison_markdown(rows: list[dict]) -> str:
    """A markdown table of tuned methods: chosen configuration, selection metric, test numbers."""
    names = [METRIC_NAMES[k] for k in TABLE_METRICS]
    lines = ["| method | trials | chosen configuration | val metric | " + " | ".join(f"test {n}" for n in names) + " |",
             "| --- | ---: | --- | ---: |" + " ---: |" * len(names)]
    for r in rows:
        chosen = ", ".join(f"{k.rsplit('.', 1)[1]} {format_value(v)}" for k, v in (r["chosen"] or {}).items()) or "-"
        val = "-" if r["val"] is None else f"{r['metric']} {r['val']:.2f} ({r['selected_on']})"
        tests = " | ".join(format_value(r["test"][k]) if r["test"][k] is None else f"{r['test'][k]:.2f}"
                           for k in TABLE_METRICS)
        method = r["method"] + (f" (refit on {r['refit']})" if r["refit"] else "")
        lines.append(f"| {method} | {r['trials']} | {chosen} | {val} | {tests} |")
    return "\n".join(lines) + "\n"
