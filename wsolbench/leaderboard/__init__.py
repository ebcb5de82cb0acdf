"""The leaderboard: protocol-stamped CSV submissions, validation, ranking, verification, rendering.

Modules: :mod:`~.schema` (columns, datasets, protocols, categories, hashes, limits), :mod:`~.validate`
(every check, located by file:line:column, including the official ground truth of verified rows),
:mod:`~.submission` (rows from results), :mod:`~.board` (adding and ranking), :mod:`~.lock` (the
board's lock), :mod:`~.verify` (recomputing a verified row), :mod:`~.migrate` (schema v1 -> v2),
:mod:`~.build`, :mod:`~.render_md`, :mod:`~.render_html` (the README and the static page),
:mod:`~.display` (shared formatting, terminal fitting), :mod:`~.browser` (headless Chromium, through
Playwright).
The format is documented in ``leaderboard/SCHEMA.md``.
"""

from wsolbench.leaderboard.problems import Problem
from wsolbench.leaderboard.schema import COLUMNS, METRIC_COLUMNS, SCHEMA_VERSION

__all__ = ["Problem", "COLUMNS", "METRIC_COLUMNS", "SCHEMA_VERSION"]
