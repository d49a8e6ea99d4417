"""Registered data sets: importing this package registers every one of them.

Each module declares one data set (or one family) with :func:`course_lib.registry.register`.
"""

from course_lib.datasets import genome, pum2
from course_lib.datasets import utr

__all__ = ["genome", "pum2", "utr"]
