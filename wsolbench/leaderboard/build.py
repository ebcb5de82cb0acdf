"""Rendering the board folder into ``README.md`` and ``index.html`` (``wsolbench leaderboard build``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from wsolbench.atomic import write_text_atomic
from wsolbench.leaderboard.board import SubmissionRejected, load_board, rank_groups
from wsolbench.leaderboard.lock import board_lock
from wsolbench.leaderboard.render_html import render_html
from wsolbench.leaderboard.render_md import render_markdown

README = "README.md"
PAGE = "index.html"


@dataclass
class BuildReport:
    """What ``build`` did: the files it wrote, or (with ``check``) the files that are out of date."""

    root: Path
    written: list[Path]
    stale: list[Path]
    n_rows: int
    n_groups: int


def render_board(root) -> tuple[dict[str, str], int, int]:
    """The rendered files of the board at ``root`` (``{"README.md": text, "index.html": text}``), its
    number of rows and of tables.

    Raises:
        SubmissionRejected: a board file has problems (each located by file:line:column).
    """
    root = Path(root)
    board = load_board(root)
    if board.problems:
        raise SubmissionRejected(f"the board at {root} has {len(board.problems)} problem(s); fix them and build "
                                 "again", board.problems)
    groups = rank_groups(board.rows)
    sources = [f.relative_to(root).as_posix() for f in board.files]
    return {README: render_markdown(groups, sources=sources), PAGE: render_html(groups, sources=sources)}, \
        len(board.rows), len(groups)


def build(root, *, check: bool = False, locked: bool = False) -> BuildReport:
    """Write ``README.md`` and ``index.html`` into ``root`` (each atomically, under the board's lock
    unless the caller holds it: ``locked``), or with ``check`` only report which of them differ from
    what would be written."""
    root = Path(root)
    if check or locked:
        return _build(root, check=check)
    with board_lock(root):
        return _build(root, check=False)


def _build(root: Path, *, check: bool) -> BuildReport:
    rendered, n_rows, n_groups = render_board(root)
    written, stale = [], []
    for name, text in rendered.items():
        path = root / name
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        if check:
            stale.append(path)
        else:
            write_text_atomic(path, text)
            written.append(path)
    return BuildReport(root, written, stale, n_rows, n_groups)
