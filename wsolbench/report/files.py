"""Reading result files safely: every result is checked against its documented schema before use.

``report`` and ``compare`` read JSON that people may have edited, truncated or produced with another
tool. Before any number is used, a result is checked in two steps, and the first problem becomes
one :class:`~wsolbench.errors.FormatError` line naming the file, the JSON path and the fix:

1. the JSON itself: ``NaN``/``Infinity`` are refused (wsolbench writes ``null`` for a missing
   number; a NaN metric would print as "nan");
2. the structure and types, with the JSON Schema ``wsolbench/data/result-v1.schema.json``
   (validated by the ``jsonschema`` library): required keys, metrics as numbers in [0, 100] or
   null, non-empty threshold grids, hashes of the right form;
3. the rules JSON Schema cannot state (:func:`check_consistency`): every curve as long as its
   threshold grid, best-threshold indices inside the grid and agreeing with the recorded best
   threshold and maximum, the same IoU keys in every table, per-image lists of one length.

Besides evaluation results, ``compare`` reads the other JSON files the project writes under
``baselines/results/`` (:func:`load_entries`): *run summaries* (one file, several results:
``{"cam": {metrics, protocol_hash, dataset, ...}, "center_gaussian": {...}, ...}``) and *study
tables* (``{"study", "sections": [{"spec", "rows": [{"label", "cells": {metric: {mean, std,
values}}}]}]}``: means over training seeds). ``FILE.json#KEY`` picks one entry (a run summary's
result, or a study's section by its ``dataset`` key).
"""

from __future__ import annotations

import json
import math
import pathlib
from dataclasses import dataclass, field
from functools import lru_cache

from wsolbench.errors import FormatError

RESULT_VERSION = 1
SCHEMA_FILE = "result-v1.schema.json"
FIX = "the file must follow docs/result-json.md; write it again with 'wsolbench evaluate MAPS --gt SPEC --out FILE'"
_SUMMARY_KEYS = ("metrics", "protocol_name", "protocol_hash", "dataset")


# --------------------------------------------------------------------------- JSON

def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number (wsolbench writes null where a number is missing)")


def read_json(path) -> object:
    """Parse a JSON file, refusing ``NaN``/``Infinity``.

    Raises:
        FormatError: missing, unreadable, not UTF-8 or not JSON (naming the file and position).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FormatError(f"{path}: result file not found; write one with 'wsolbench evaluate ... --out result.json'")
    try:
        return json.loads(path.read_text(encoding="utf-8"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as e:
        raise FormatError(f"{path}: not a JSON result file ({e}); pass the file written by "
                          "'wsolbench evaluate --out' (a truncated or hand-edited file must be written again)") from None
    except OSError as e:
        raise FormatError(f"{path}: cannot read ({e.strerror})") from None


# --------------------------------------------------------------------------- schema

@lru_cache(maxsize=1)
def result_schema() -> dict:
    """The JSON Schema of a version-1 result (``wsolbench/data/result-v1.schema.json``)."""
    from importlib.resources import files

    return json.loads(files("wsolbench").joinpath("data", SCHEMA_FILE).read_text(encoding="utf-8"))


@lru_cache(maxsize=2)
def _validator(kind: str):
    import jsonschema

    schema = result_schema()
    if kind == "summary":   # a run summary's entry: the headline parts of a result
        schema = {**schema, "required": list(_SUMMARY_KEYS),
                  "properties": {k: schema["properties"][k] for k in (*_SUMMARY_KEYS, "maps", "counts")}}
    return jsonschema.Draft202012Validator(schema)


def json_path(parts) -> str:
    """``box.largest.curves.50[3]`` from a jsonschema error path."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _short(value, limit: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


_JSON_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "a number",
               float: "a number", type(None): "null"}


def _describe(error) -> str:
    """A one-line description of a jsonschema error (never the whole offending value)."""
    kind, expected, value = error.validator, error.validator_value, error.instance
    if kind == "type":
        wanted = " or ".join(expected) if isinstance(expected, list) else expected
        return f"{_JSON_TYPES.get(type(value), 'a value')} {_short(value)} where {wanted} is expected"
    if kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        op = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}[kind]
        return f"{_short(value)} is out of range (must be {op} {expected})"
    if kind == "minItems":
        return f"{len(value)} item(s), at least {expected} expected" if value else "an empty list"
    if kind == "maxItems":
        return f"{len(value)} items, at most {expected} expected"
    if kind == "const":
        return f"{_short(value)} where {_short(expected)} is expected"
    if kind == "pattern":
        return f"{_short(value)} is not of the expected form ({expected})"
    if kind == "required":
        return error.message
    if kind in ("oneOf", "anyOf"):
        return f"{_short(value)} is not of a documented form"
    message = error.message
    return message if len(message) <= 120 else message[:117] + "..."


def _schema_check(data: dict, source: str, kind: str) -> None:
    from jsonschema.exceptions import best_match

    error = best_match(_validator(kind).iter_errors(data))
    if error is not None:
        raise FormatError(f"{source}: {json_path(error.absolute_path)}: {_describe(error)}; {FIX}")


# --------------------------------------------------------------------------- consistency

def _fail(source: str, where: str, what: str):
    raise FormatError(f"{source}: {where}: {what}; {FIX}")


def _check_box_mode(source: str, box: dict, mode: str) -> None:
    section, n = box[mode], len(box["thresholds"])
    base = f"box.{mode}"
    keys = set(section["curves"])
    wanted = {str(d) for d in box["iou_thresholds"]}
    if keys != wanted:
        _fail(source, f"{base}.curves", f"has IoU keys {sorted(keys)} but iou_thresholds lists {sorted(wanted)}")
    for table in ("num_correct", "max", "best_threshold_index", "best_threshold", "top1_curves",
                  "top1_at_best_threshold"):
        if section.get(table) is not None and set(section[table]) != keys:
            _fail(source, f"{base}.{table}", f"has IoU keys {sorted(section[table])}, expected {sorted(keys)}")
    for table in ("curves", "num_correct", "top1_curves"):
        for key, curve in (section.get(table) or {}).items():
            if len(curve) != n:
                _fail(source, f"{base}.{table}.{key}", f"{len(curve)} values for {n} thresholds (the curve is cut "
                                                       "short or the threshold grid was edited)")
    for key in keys:
        index = section["best_threshold_index"][key]
        if index >= n:
            _fail(source, f"{base}.best_threshold_index.{key}", f"index {index} is outside the {n} thresholds")
        if not math.isclose(section["best_threshold"][key], box["thresholds"][index], abs_tol=1e-9):
            _fail(source, f"{base}.best_threshold.{key}", f"{section['best_threshold'][key]} is not thresholds[{index}] "
                                                          f"= {box['thresholds'][index]}")
        if not math.isclose(section["max"][key], section["curves"][key][index], abs_tol=1e-6):
            _fail(source, f"{base}.max.{key}", f"{section['max'][key]} is not the curve's value at the best "
                                               f"threshold index {index} ({section['curves'][key][index]})")


def _check_box(source: str, box: dict) -> None:
    t = box["thresholds"]
    if any(b < a for a, b in zip(t, t[1:])):
        _fail(source, "box.thresholds", "thresholds are not in increasing order")
    for mode in ("largest", "all"):
        if box.get(mode) is not None:
            _check_box_mode(source, box, mode)


def _check_mask(source: str, mask: dict) -> None:
    n = len(mask["thresholds"]) - 1
    for key in ("precision", "recall", "iou_curve"):
        if len(mask[key]) != n:
            _fail(source, f"mask.{key}", f"{len(mask[key])} values, expected {n} (one fewer than mask.thresholds)")


def _check_per_image(source: str, result: dict) -> None:
    lists = {k: v for k, v in (result.get("per_image") or {}).items() if isinstance(v, list)}
    lengths = {len(v) for v in lists.values()}
    if len(lengths) > 1:
        shown = ", ".join(f"{k} {len(v)}" for k, v in lists.items())
        _fail(source, "per_image", f"lists of different lengths ({shown})")
    count = (result.get("counts") or {}).get("n_images")
    if lengths and count is not None and lengths != {count}:
        _fail(source, "per_image", f"{lengths.pop()} entries but counts.n_images is {count}")


def check_consistency(result: dict, *, source: str = "result") -> None:
    """The cross-field rules of a schema-valid result (see the module docstring).

    Raises:
        FormatError: naming ``source``, the JSON path and what disagrees.
    """
    protocol = result["protocol"]
    if protocol["name"] != result["protocol_name"]:
        _fail(source, "protocol_name", f"{result['protocol_name']!r} but protocol.name is {protocol['name']!r}")
    if protocol["maxboxacc_iou"] not in protocol["iou_thresholds"]:
        _fail(source, "protocol.maxboxacc_iou", f"{protocol['maxboxacc_iou']} is not one of protocol.iou_thresholds")
    if result.get("box") is not None:
        _check_box(source, result["box"])
    if result.get("mask") is not None:
        _check_mask(source, result["mask"])
    _check_per_image(source, result)


def check_result(result, *, source: str = "result") -> dict:
    """Check a version-1 result dict (schema, then consistency); return it unchanged.

    Raises:
        FormatError: naming ``source``, the JSON path of the first problem and the fix.
    """
    if not isinstance(result, dict):
        raise FormatError(f"{source}: expected a JSON object (a wsolbench result), found {_JSON_TYPES.get(type(result))}; "
                          f"{FIX}")
    version = result.get("result_version")
    if version != RESULT_VERSION:
        raise FormatError(f"{source}: expected result_version {RESULT_VERSION}, found {version!r}; "
                          "re-run 'wsolbench evaluate' with this wsolbench version")
    _schema_check(result, source, "result")
    check_consistency(result, source=source)
    return result


def load_result(path) -> dict:
    """Read and check a result JSON written by ``wsolbench evaluate --out``.

    Returns:
        The result as a dict (``docs/result-json.md``).

    Raises:
        FormatError: the file is missing, is not JSON, or does not follow the schema.
    """
    return check_result(read_json(path), source=str(path))


# --------------------------------------------------------------------------- compare's inputs

@dataclass
class Entry:
    """One column of a comparison: a result (full or headline parts only) and where it came from.

    Attributes:
        result: a result dict (a run summary's or study row's has only metrics, protocol name/hash,
            dataset and maps; a study row's ``protocol_hash`` is ``None``).
        source: ``FILE`` or ``FILE#KEY``.
        kind: ``result``, ``run-summary`` or ``study``.
        label: a default display name (``None``: derived from the result).
        extra: study columns that are not standard metrics (``{label: mean}``).
        note: what the numbers are (e.g. "mean of 3 seeds").
    """

    result: dict
    source: str
    kind: str
    label: str | None = None
    extra: dict = field(default_factory=dict)
    note: str = ""


def file_kind(data) -> str:
    """``result``, ``run-summary``, ``study`` or ``unknown``."""
    if isinstance(data, dict) and "result_version" in data:
        return "result"
    if isinstance(data, dict) and "study" in data and isinstance(data.get("sections"), list):
        return "study"
    if isinstance(data, dict) and _summary_entries(data):
        return "run-summary"
    return "unknown"


def _summary_entries(data: dict) -> dict:
    return {k: v for k, v in data.items() if isinstance(v, dict) and all(key in v for key in _SUMMARY_KEYS)}


def _select(entries: dict, key: str | None, source: str, what: str) -> dict:
    if key is None:
        return entries
    if key not in entries:
        raise FormatError(f"{source}: no {what} {key!r}; this file holds {', '.join(map(repr, entries))} "
                          f"(pick one as FILE.json#KEY)")
    return {key: entries[key]}


def _summary(data: dict, path: str, key: str | None) -> list[Entry]:
    out = []
    for name, entry in _select(_summary_entries(data), key, path, "result").items():
        source = f"{path}#{name}"
        _schema_check(entry, source, "summary")
        result = {**entry, "maps": {"n_maps": entry.get("n_maps"), **(entry.get("maps") or {})}}
        out.append(Entry(result, source, "run-summary", label=f"{pathlib.Path(path).stem}#{name}"))
    return out


def _study_row(row, section: dict, source: str, columns: dict, n_seeds: int) -> Entry:
    from wsolbench.metric_names import METRIC_KEYS

    cells = row.get("cells") if isinstance(row, dict) else None
    if not isinstance(cells, dict) or not isinstance(row.get("label"), str):
        raise FormatError(f"{source}: a row without 'label' and 'cells'; a study table is written by "
                          "'wsolbench study NAME'")
    means = {}
    for key, cell in cells.items():
        mean = cell.get("mean") if isinstance(cell, dict) else None
        if mean is not None and (isinstance(mean, bool) or not isinstance(mean, (int, float))):
            raise FormatError(f"{source}: rows[{row['label']!r}].cells.{key}.mean: {_short(mean)} is not a number")
        means[key] = mean
    spec = section.get("spec") or ""
    result = {"metrics": {k: means.get(k) for k in METRIC_KEYS}, "protocol_name": "study", "protocol_hash": None,
              "protocol": None,
              "dataset": {"spec": spec, "name": spec.partition(":")[0] or None, "split": "test", "n_images": None},
              "maps": {}}
    extra = {columns.get(k, k): v for k, v in means.items() if k not in METRIC_KEYS}
    return Entry(result, source, "study", label=row["label"], extra=extra, note=f"mean of {n_seeds} seed(s)")


def _study(data: dict, path: str, key: str | None) -> list[Entry]:
    sections = {s.get("dataset"): s for s in data["sections"] if isinstance(s, dict)}
    columns = {c.get("key"): c.get("label") for c in data.get("columns") or [] if isinstance(c, dict)}
    n_seeds = len(data.get("seeds") or [])
    out = []
    for name, section in _select(sections, key, path, "section").items():
        rows = section.get("rows")
        if not isinstance(rows, list) or not rows:
            raise FormatError(f"{path}#{name}: the section has no rows; a study table is written by 'wsolbench study'")
        out += [_study_row(r, section, f"{path}#{name}", columns, n_seeds) for r in rows]
    return out


def load_entries(spec: str) -> list[Entry]:
    """Read ``FILE.json`` or ``FILE.json#KEY`` for ``compare``: a result, a run summary's results or a
    study's rows, each checked before use.

    Raises:
        FormatError: not JSON, not one of the three kinds, an unknown ``#KEY``, or a schema problem.
    """
    path, _, key = spec.partition("#") if not pathlib.Path(spec).is_file() else (spec, "", "")
    key = key or None
    data = read_json(path)
    if not isinstance(data, dict):
        raise FormatError(f"{path}: expected a JSON object (a wsolbench result), found {_JSON_TYPES.get(type(data))}; "
                          f"{FIX}")
    kind = file_kind(data)
    if kind == "result":
        if key is not None:
            raise FormatError(f"{spec}: a result file holds one result; drop '#{key}'")
        return [Entry(check_result(data, source=path), path, "result")]
    if kind == "run-summary":
        return _summary(data, path, key)
    if kind == "study":
        return _study(data, path, key)
    raise FormatError(f"{path}: not a wsolbench result file: expected a result JSON (evaluate --out, a run's "
                      "result.json), a run summary or a study table (baselines/results/*.json)")
