"""The board: ``reported.csv`` plus ``submissions/*.csv`` under one folder; adding to it, ranking it.

Rows are grouped by (dataset, split, protocol, protocol hash) and ranked only inside a group, so
numbers measured under different protocols are never ranked together.

Example:
    >>> from wsolbench.leaderboard.board import load_board, rank_groups
    >>> board = load_board("leaderboard")                       # doctest: +SKIP
    >>> [g.title for g in rank_groups(board.rows)][:1]          # doctest: +SKIP
    ['CUB-200-2011 · test · wsoleval']
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.atomic import write_text_atomic
from wsolbench.leaderboard.problems import Problem
from wsolbench.leaderboard.validate import Row, find_duplicates, validate_file, validate_files

REPORTED_FILE = "reported.csv"
SUBMISSIONS_DIR = "submissions"


class SubmissionRejected(SubmissionError):
    """A submission (or the board) failed validation; ``problems`` holds every located problem."""

    exit_code = 1

    def __init__(self, summary: str, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(summary + "".join(f"\n  {p}" for p in self.problems))


@dataclass
class Board:
    """Every row of a board folder, with the problems found while reading it."""

    root: Path
    files: list[Path]
    rows: list[Row]
    problems: list[Problem]


def board_files(root) -> list[Path]:
    """``reported.csv`` (if present) and ``submissions/*.csv``, in a stable order."""
    root = Path(root)
    files = [root / REPORTED_FILE] if (root / REPORTED_FILE).is_file() else []
    folder = root / SUBMISSIONS_DIR
    if folder.is_dir():
        files += sorted(p for p in folder.glob("*.csv") if p.is_file())
    return files


def load_board(root, *, exclude: Path | None = None) -> Board:
    """Read and validate every file of the board at ``root`` (a missing folder is an empty board)."""
    root = Path(root)
    files = [f for f in board_files(root) if exclude is None or f.resolve() != exclude.resolve()]
    rows, problems = validate_files([str(f) for f in files])
    return Board(root, files, rows, problems)


def add_submission(root, path, *, name: str | None = None, replace: bool = False) -> Path:
    """Validate a submission and copy it into ``root/submissions/`` atomically.

    Args:
        root: the board folder (``leaderboard/``).
        path: the submission CSV.
        name: file name on the board (default: the submission's own name).
        replace: allow replacing a board file of that name (its rows are then not duplicates).

    Returns:
        The path of the file on the board.

    Raises:
        SubmissionRejected: the submission, or the board it joins, has problems; nothing is written.
        SubmissionError: the target name is taken (without ``replace``) or not a plain ``.csv`` name.
    """
    target = Path(root) / SUBMISSIONS_DIR / _target_name(path, name)
    if target.exists() and not replace:
        raise SubmissionError(f"{target} already exists; pass --replace to update that submission, or --name "
                              "to add this one under another file name")
    rows, problems = validate_file(path)
    if problems:
        raise SubmissionRejected(f"{path}: {len(problems)} problem(s); nothing was added:", problems)
    board = load_board(root, exclude=target)
    if board.problems:
        raise SubmissionRejected(f"the board at {root} has {len(board.problems)} problem(s) of its own; fix "
                                 "them first (wsolbench leaderboard validate):", board.problems)
    duplicates = find_duplicates(rows, against=board.rows)
    if duplicates:
        raise SubmissionRejected(f"{path}: rows already on the board; nothing was added:", duplicates)
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    write_text_atomic(target, text)
    return target


def _target_name(path, name: str | None) -> str:
    name = name or os.path.basename(os.fspath(path))
    if os.path.basename(name) != name or not name.endswith(".csv") or name.startswith("."):
        raise SubmissionError(f"board file name {name!r} must be a plain file name ending in .csv, "
                              "e.g. cam-resnet50-cub.csv")
    return name


# ----------------------------------------------------------------------------------------------
# ranking


@dataclass
class RankedRow:
    """A row of a group with its rank (``None``: unranked) and ranking value."""

    row: Row
    rank: int | None
    value: float | None


@dataclass
class Group:
    """Rows measured identically: same dataset, split, protocol and protocol hash.

    Attributes:
        metric: the column the group is ranked (and charted) by; ``None`` if no row has any.
        rankable: whether ranks are shown (``False`` for protocols whose rows are not comparable).
        columns: the metric columns with at least one value, in :data:`schema.METRIC_COLUMNS` order.
    """

    dataset: str
    split: str
    protocol: str
    protocol_hash: str
    protocol_options: str
    metric: str | None
    rankable: bool
    rows: list[RankedRow] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.dataset, self.split, self.protocol, self.protocol_hash)

    @property
    def anchor(self) -> str:
        """A stable id for links: ``cub-test-wsoleval-<hash>``."""
        return "-".join(self.key).replace(".", "_")

    @property
    def title(self) -> str:
        options = f" ({self.protocol_options})" if self.protocol_options else ""
        return f"{schema.DATASETS.get(self.dataset, self.dataset)} · {self.split} · {self.protocol}{options}"


def rank_groups(rows: list[Row]) -> list[Group]:
    """Group rows by (dataset, split, protocol, hash) and rank each group by its ranking metric.

    Ranks are competition ranks (equal values share a rank: 1, 2, 2, 4); rows without the ranking
    metric, and all rows of unrankable protocols, have rank ``None``.
    """
    buckets: dict[tuple, list[Row]] = {}
    for row in rows:
        buckets.setdefault((row["dataset"], row["split"], row["protocol"], row["protocol_hash"]), []).append(row)
    groups = [_make_group(key, members) for key, members in buckets.items()]
    return sorted(groups, key=_group_order)


def _group_order(group: Group):
    datasets, protocols = list(schema.DATASETS), list(schema.PROTOCOLS)
    return (datasets.index(group.dataset) if group.dataset in datasets else len(datasets), group.dataset,
            group.split, protocols.index(group.protocol) if group.protocol in protocols else len(protocols),
            group.protocol_options, group.protocol_hash)


def _make_group(key: tuple, members: list[Row]) -> Group:
    dataset, split, protocol, protocol_hash = key
    info = schema.PROTOCOLS.get(protocol)
    metric = choose_metric(members, info.ranking if info else schema.METRIC_COLUMNS)
    columns = [c for c in schema.METRIC_COLUMNS if any(r.metric(c) is not None for r in members)]
    rankable = bool(info and info.rankable)
    values = [(r, r.metric(metric) if metric else None) for r in members]
    values.sort(key=lambda rv: (rv[1] is None, -(rv[1] or 0.0), rv[0]["method"].casefold(),
                                rv[0]["backbone"], rv[0]["source"]))
    ranked = [RankedRow(r, _rank(v, values) if rankable and v is not None else None, v) for r, v in values]
    return Group(dataset, split, protocol, protocol_hash, members[0]["protocol_options"], metric, rankable,
                 ranked, columns)


def _rank(value: float, values) -> int:
    return 1 + sum(1 for _, v in values if v is not None and v > value)


def choose_metric(rows: list[Row], preference) -> str | None:
    """The preferred metric that most rows have (ties go to the earlier preference)."""
    best, best_count = None, 0
    for column in preference:
        count = sum(1 for r in rows if r.metric(column) is not None)
        if count > best_count:
            best, best_count = column, count
    return best
