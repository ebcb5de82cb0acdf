"""Drop-in modules with other tools' APIs, built on wsolbench's public API.

* :mod:`wsolbench.compat.wsolevaluation`: the ``evaluation`` module of clovaai/wsolevaluation
  (``BoxEvaluator``, ``MaskEvaluator``, ``compute_bboxes_from_scoremaps``, ...).
"""
