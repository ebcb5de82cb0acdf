"""The leaderboard: protocol-stamped CSV submissions, validation, ranking, verification, rendering.

Modules: :mod:`~.schema` (columns, datasets, protocols, hashes), :mod:`~.validate` (every check,
located by file:line:column), :mod:`~.submission` (rows from results), :mod:`~.board` (adding and
ranking), :mod:`~.verify` (recomputing a verified row), :mod:`~.build`, :mod:`~.render_md`,
:mod:`~.render_html` (the README and the static page), :mod:`~.browser` (headless Chromium, through
Playwright).
The format is documented in ``leaderboard/SCHEMA.md``.
"""

from wsolbench.leaderboard.problems import Problem
from wsolbench.leaderboard.schema import COLUMNS, METRIC_COLUMNS, SCHEMA_VERSION

__all__ = ["Problem", "COLUMNS", "METRIC_COLUMNS", "SCHEMA_VERSION"]
