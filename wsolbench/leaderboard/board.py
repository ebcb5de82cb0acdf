"""The board: ``reported.csv`` plus ``submissions/*.csv`` under one folder; adding to it, ranking it.

Rows are grouped by (dataset, split, protocol, protocol hash) and ranked only inside a group, so
numbers measured under different protocols are never ranked together. Inside a group only rows of
category ``method`` are ranked; sanity baselines and fully supervised rows are reference lines,
listed after the ranked rows. ``add`` checks and writes under an exclusive lock on the board
(:mod:`~wsolbench.leaderboard.lock`), so two submissions added at once cannot overwrite or
duplicate each other.

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

from wsolbench.atomic import write_bytes_atomic
from wsolbench.errors import SubmissionError
from wsolbench.leaderboard import schema
from wsolbench.leaderboard.csvio import read_bytes
from wsolbench.leaderboard.lock import board_lock
from wsolbench.leaderboard.problems import Problem
from wsolbench.leaderboard.validate import Row, find_duplicates, validate_file, validate_files

REPORTED_FILE = "reported.csv"
SUBMISSIONS_DIR = "submissions"


class SubmissionRejected(SubmissionError):
    """A submission (or the board) failed validation; ``problems`` holds every located problem.

    ``str(error)`` is the one-line summary; :meth:`details` adds one line per problem.
    """

    def __init__(self, summary: str, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__(summary)

    def details(self) -> str:
        return str(self) + "".join(f"\n  {p}" for p in self.problems)


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


def is_board(root) -> bool:
    """Whether ``root`` is a board folder (it has ``reported.csv`` or a ``submissions/`` folder)."""
    root = Path(root)
    return (root / REPORTED_FILE).is_file() or (root / SUBMISSIONS_DIR).is_dir()


def require_board(root) -> Path:
    """``root`` as a Path, if it is a board folder.

    Raises:
        SubmissionError: it is not (a typo in ``--board`` must not create a new board silently).
    """
    root = Path(root)
    if not is_board(root):
        what = "does not exist" if not root.exists() else "is not a board (no reported.csv, no submissions/)"
        raise SubmissionError(f"{root} {what}; pass the board folder with --board DIR (default: leaderboard), or "
                              "--new-board to start a new board there")
    return root


def load_board(root, *, exclude: Path | None = None) -> Board:
    """Read and validate every file of the board at ``root`` (a missing folder is an empty board)."""
    root = Path(root)
    files = [f for f in board_files(root) if exclude is None or f.resolve() != exclude.resolve()]
    rows, problems = validate_files([str(f) for f in files])
    return Board(root, files, rows, problems)


def add_submission(root, path, *, name: str | None = None, replace: bool = False, new_board: bool = False,
                   locked: bool = False) -> Path:
    """Validate a submission and copy it into ``root/submissions/`` atomically, under the board's lock.

    Args:
        root: the board folder (``leaderboard/``).
        path: the submission CSV.
        name: file name on the board (default: the submission's own name).
        replace: allow replacing a board file of that name (its rows are then not duplicates).
        new_board: create ``root`` if it is not a board yet (otherwise that is an error).
        locked: the caller already holds :func:`~wsolbench.leaderboard.lock.board_lock` on ``root``.

    Returns:
        The path of the file on the board.

    Raises:
        SubmissionRejected: the submission, or the board it joins, has problems; nothing is written.
        SubmissionError: ``root`` is not a board, the target name is taken (without ``replace``) or is
            not a plain ``.csv`` name.
    """
    root = Path(root)
    target = root / SUBMISSIONS_DIR / _target_name(path, name)
    try:
        data = read_bytes(path)
    except OSError as e:
        raise SubmissionError(f"{path}: cannot read the submission ({e.strerror or e})") from None
    rows, problems = validate_file(path, data)
    if problems:
        raise SubmissionRejected(f"{path}: {len(problems)} problem(s); nothing was added", problems)
    if new_board:
        root.mkdir(parents=True, exist_ok=True)
    else:
        require_board(root)
    if locked:
        return _add_checked(root, path, target, rows, data, replace=replace)
    with board_lock(root):
        return _add_checked(root, path, target, rows, data, replace=replace)


def _add_checked(root: Path, path, target: Path, rows: list[Row], data: bytes, *, replace: bool) -> Path:
    """The board-side checks and the write; the caller holds the lock."""
    if target.exists() and not replace:
        raise SubmissionError(f"{target} already exists; pass --replace to update that submission, or --name "
                              "to add this one under another file name")
    board = load_board(root, exclude=target)
    if board.problems:
        raise SubmissionRejected(f"the board at {root} has {len(board.problems)} problem(s) of its own; fix "
                                 "them first (wsolbench leaderboard validate); nothing was added", board.problems)
    duplicates = find_duplicates(rows, against=board.rows)
    if duplicates:
        raise SubmissionRejected(f"{path}: {len(duplicates)} row(s) already on the board; nothing was added",
                                 duplicates)
    write_bytes_atomic(target, data)
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
    """A row of a group with its rank (``None``: unranked) and ranking value.

    Attributes:
        reference: True for reference lines (sanity baselines, fully supervised rows): listed after the
            ranked rows, never ranked.
        tied: True when another ranked row has the same rank.
    """

    row: Row
    rank: int | None
    value: float | None
    reference: bool = False
    tied: bool = False


@dataclass
class Group:
    """Rows measured identically: same dataset, split, protocol and protocol hash.

    Attributes:
        metric: the column the group is ranked (and charted) by; ``None`` if no row has any.
        rankable: whether ranks are shown (``False`` for protocols whose rows are not comparable).
        rows: method rows in rank order, then reference lines (``RankedRow.reference``).
        columns: the metric columns the table shows: every metric the protocol produces for this dataset
            (:func:`schema.table_columns`, the ranking metric first), plus any other metric a row has.
        tiebreak: the metrics that order rows of equal ranking value, then the method name.
        ties: one sentence per set of tied rows, saying why they share a rank and how they are listed.
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
    tiebreak: list[str] = field(default_factory=list)
    ties: list[str] = field(default_factory=list)

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

    @property
    def method_rows(self) -> list[RankedRow]:
        return [r for r in self.rows if not r.reference]

    @property
    def reference_rows(self) -> list[RankedRow]:
        return [r for r in self.rows if r.reference]


def rank_groups(rows: list[Row]) -> list[Group]:
    """Group rows by (dataset, split, protocol, hash) and rank each group's method rows by its ranking metric.

    Ranks are competition ranks (equal values share a rank: 1, 2, 2, 4); rows without the ranking
    metric, reference lines and all rows of unrankable protocols have rank ``None``. Rows of equal
    value are listed by the protocol's next ranking metrics, then by name (``Group.ties`` says so).
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
    preference = info.ranking if info else schema.METRIC_COLUMNS
    metric = choose_metric(members, preference)
    shown = schema.table_columns(protocol, dataset, metric)
    columns = shown + [c for c in schema.METRIC_COLUMNS
                       if c not in shown and any(r.metric(c) is not None for r in members)]
    tiebreak = [c for c in preference if c != metric and c in columns]
    rankable = bool(info and info.rankable)
    group = Group(dataset, split, protocol, protocol_hash, members[0]["protocol_options"], metric, rankable,
                  columns=columns, tiebreak=tiebreak)
    methods = sorted((r for r in members if r["category"] not in schema.REFERENCE_CATEGORIES),
                     key=lambda r: _order(r, metric, tiebreak))
    references = sorted((r for r in members if r["category"] in schema.REFERENCE_CATEGORIES),
                        key=lambda r: _order(r, metric, tiebreak))
    values = [r.metric(metric) if metric else None for r in methods]
    for row, value in zip(methods, values):
        rank = _rank(value, values) if rankable and value is not None else None
        tied = rank is not None and values.count(value) > 1
        group.rows.append(RankedRow(row, rank, value, tied=tied))
    group.rows += [RankedRow(r, None, r.metric(metric) if metric else None, reference=True) for r in references]
    group.ties = _explain_ties(group)
    return group


def _order(row: Row, metric: str | None, tiebreak: list[str]):
    keys = [row.metric(c) if c else None for c in [metric, *tiebreak]]
    return ([(v is None, -(v or 0.0)) for v in keys], row["method"].casefold(), row["backbone"], row["source"])


def _rank(value: float, values) -> int:
    return 1 + sum(1 for v in values if v is not None and v > value)


def _explain_ties(group: Group) -> list[str]:
    from wsolbench.leaderboard.display import display_number, metric_label

    by_rank: dict[int, list[RankedRow]] = {}
    for ranked in group.method_rows:
        if ranked.tied:
            by_rank.setdefault(ranked.rank, []).append(ranked)
    then = ", then ".join(metric_label(c) for c in group.tiebreak[:2])
    order = f"listed by {then}, then by name" if then else "listed by name"
    out = []
    for rank, tied in by_rank.items():
        names = ", ".join(f"{r.row['method']} ({r.row['backbone']})" for r in tied)
        value = display_number(tied[0].row[group.metric])
        out.append(f"Rank {rank} is shared by {names}: equal {metric_label(group.metric)} ({value}); {order}.")
    return out


def choose_metric(rows: list[Row], preference) -> str | None:
    """The preferred metric that most rows have (ties go to the earlier preference)."""
    best, best_count = None, 0
    for column in preference:
        count = sum(1 for r in rows if r.metric(column) is not None)
        if count > best_count:
            best, best_count = column, count
    return best
