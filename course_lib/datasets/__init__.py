"""Registered data sets: importing this package registers every one of them.

Each module declares one data set (or one family) with :func:`course_lib.registry.register`;
:mod:`~course_lib.datasets.pretrained_weights` registers the large pretrained weights with
:func:`course_lib.weights.register_weights`.
"""

from course_lib.datasets import (
    egfp,
    genome,
    pretrained_weights,
    published_models,
    pum2,
    structure_refs,
    utr,
    utr_testsets,
)

__all__ = [
    "egfp",
    "genome",
    "pretrained_weights",
    "published_models",
    "pum2",
    "structure_refs",
    "utr",
    "utr_testsets",
]
