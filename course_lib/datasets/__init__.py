"""Registered data sets: importing this package registers every one of them.

Each module declares one data set (or one family) with :func:`course_lib.registry.register`.
"""

from course_lib.datasets import (
    egfp,
    genome,
    published_models,
    pum2,
    structure_refs,
    utr,
    utr_testsets,
)

__all__ = ["egfp", "genome", "published_models", "pum2", "structure_refs", "utr", "utr_testsets"]
