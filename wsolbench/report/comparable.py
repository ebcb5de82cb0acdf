"""Whether results may stand side by side: the same data, and which protocol settings differ.

``compare`` once put 500 synthetic images beside 24 example images (a "+88.03" difference) without a
word. Before comparing, :func:`data_differences` lists what differs between the results' data:

* the dataset (its name, normalised as the leaderboard spells it: ``CUB`` = ``cub``);
* the split;
* the number of images evaluated;
* the ground truth's fingerprint (``dataset.fingerprint``: a hash over the image ids and their
  boxes or mask files), compared when both results record one. A result without one (written
  before fingerprints existed, a run summary, a study table) is *unknown*, and the comparison says
  so instead of assuming; for the embedded synthetic datasets the generator's full configuration
  (parsed from the spec) stands in for it.

``compare`` refuses results whose data differ (exit 2, one line saying which) unless ``--force``.
Protocols are not refused (comparing settings is a legitimate question) but every setting that
differs from the first result's is shown in that result's column (:func:`protocol_differences`).

Example:
    >>> a = {"dataset": {"name": "CUB", "split": "test", "n_images": 5794}}
    >>> b = {"dataset": {"name": "cub", "split": "test", "n_images": 24}}
    >>> data_differences([a, b], ["A", "B"]).differences
    ['image count: 5794 (A); 24 (B)']
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wsolbench.errors import WsolbenchError

IDENTITY = (("dataset", "dataset"), ("split", "split"), ("n_images", "image count"),
            ("fingerprint", "ground-truth fingerprint"), ("embedded", "synthetic dataset configuration"))


class ComparisonError(WsolbenchError):
    """Results of different data were given to ``compare`` without ``--force``."""


@dataclass
class DataCheck:
    """What :func:`data_differences` found: ``differences`` (refuse unless forced) and ``notes`` (unknowns)."""

    differences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _normalize_dataset(name):
    if not name:
        return None
    from wsolbench.leaderboard.schema import normalize_dataset

    return normalize_dataset(str(name))


def _embedded_config(spec) -> dict | None:
    """The generator configuration of a ``synthetic:``/``synthetic1d:`` spec (no data generated), or None."""
    if not isinstance(spec, str):
        return None
    name, _, path = spec.partition(":")
    if name not in ("synthetic", "synthetic1d") or path.partition("?")[0]:
        return None
    try:
        if name == "synthetic":
            from wsolbench.datasets.synthetic import _FIELDS, _RANGES, parse_knobs
            from wsolbench.datasets.synthgen import SyntheticConfig as Config
        else:
            from wsolbench.datasets.synthetic1d import _FIELDS, _RANGES, Synthetic1DConfig as Config
            from wsolbench.datasets.synthetic import parse_knobs
        _, knobs = parse_knobs(name, path, {}, _FIELDS, _RANGES)
        return {"adapter": name, **Config(**knobs).to_dict()}
    except (ImportError, WsolbenchError, TypeError, ValueError):
        return None


def identity(result: dict) -> dict:
    """The data a result was computed on: ``dataset``, ``split``, ``n_images``, ``fingerprint``,
    ``embedded`` (a synthetic configuration); ``None`` where unknown."""
    dataset = result.get("dataset") or {}
    n_images = dataset.get("n_images")
    if n_images is None:
        n_images = (result.get("counts") or {}).get("n_images")
    return {"dataset": _normalize_dataset(dataset.get("name")), "split": dataset.get("split") or None,
            "n_images": n_images, "fingerprint": dataset.get("fingerprint") or None,
            "embedded": _embedded_config(dataset.get("spec"))}


def _shown(value) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, dict):
        return "(" + ", ".join(f"{k}={v}" for k, v in value.items() if k != "adapter") + ")"
    text = str(value)
    return text[:12] if len(text) == 64 else text


def _grouped(labels: list[str], shown: list[str]) -> str:
    """``"value1 (A, B); value2 (C)"``: each distinct value once, with the results that have it."""
    groups: dict[str, list[str]] = {}
    for label, text in zip(labels, shown):
        groups.setdefault(text, []).append(label)
    return "; ".join(f"{text} ({', '.join(names) if len(names) <= 3 else f'{names[0]} and {len(names) - 1} more'})"
                     for text, names in groups.items())


def _embedded_difference(idents: list[dict], labels: list[str]) -> str | None:
    configs = [i["embedded"] for i in idents]
    if any(c is None for c in configs) or all(c == configs[0] for c in configs):
        return None
    keys = sorted({k for c in configs for k in c if any(c.get(k) != o.get(k) for o in configs)})
    return "synthetic dataset configuration: " + _grouped(labels, [", ".join(f"{k}={c.get(k)}" for k in keys)
                                                                   for c in configs])


def data_differences(results: list[dict], labels: list[str]) -> DataCheck:
    """What differs between the data of several results, and what is unknown.

    Args:
        results: result dicts (full results, or a run summary's / study row's headline parts).
        labels: their display names.
    """
    idents = [identity(r) for r in results]
    check = DataCheck()
    for key, what in IDENTITY[:4]:
        values = [i[key] for i in idents]
        if len({v for v in values if v is not None}) > 1:
            check.differences.append(f"{what}: " + _grouped(labels, [_shown(v) for v in values]))
    fingerprints = [i["fingerprint"] for i in idents]
    if not all(fingerprints):
        embedded = _embedded_difference(idents, labels)
        if embedded:
            check.differences.append(embedded)
        elif not all(i["embedded"] for i in idents):
            missing = [lb for lb, f in zip(labels, fingerprints) if not f]
            check.notes.append(f"ground truth not verified for {', '.join(missing)}: no fingerprint recorded, so only "
                               "dataset name, split and image count were compared")
    unknown = [lb for lb, i in zip(labels, idents) if i["n_images"] is None]
    if unknown:
        check.notes.append(f"image count unknown for {', '.join(unknown)}")
    return check


def refuse_unless_forced(check: DataCheck, sources: list[str], *, force: bool) -> None:
    """Raise :class:`ComparisonError` (one line) when the data differ and ``force`` is not set."""
    if check.differences and not force:
        raise ComparisonError(f"{', '.join(dict.fromkeys(s.partition('#')[0] for s in sources))}: the results are not on the same data ("
                              f"{'; '.join(check.differences)}); their numbers are not comparable: compare results "
                              "of one dataset split, or pass --force to show them side by side anyway")


def protocol_differences(results: list[dict]) -> list[dict]:
    """Per result, the protocol settings that differ from the first result's (``{}`` for the first).

    Results without a ``protocol`` section (run summaries, study rows) report
    ``{"protocol_hash": hash}`` when their hash differs, or ``{"protocol": "unknown"}``.
    """
    first = results[0] if results else {}
    base = first.get("protocol") or {}
    out = [{}]
    for r in results[1:]:
        proto = r.get("protocol") or {}
        if proto and base:
            out.append({k: v for k, v in proto.items() if base.get(k) != v})
        elif r.get("protocol_hash") is None or first.get("protocol_hash") is None:
            out.append({"protocol": "unknown"} if r.get("protocol_hash") != first.get("protocol_hash") else {})
        else:
            out.append({"protocol_hash": r["protocol_hash"]} if r["protocol_hash"] != first["protocol_hash"] else {})
    return out
