"""Registered data sets: importing this package registers every one of them.

Each module declares one data set (or one family) with :func:`course_lib.registry.register`.
"""

from course_lib.datasets import egfp, genome, pum2, structure_refs, utr

__all__ = ["egfp", "genome", "pum2", "structure_refs", "utr"]
