"""One module per chapter notebook (its recipes), each with its configuration and report.

Each chapter module ``chN_<name>`` defines ``NOTEBOOK`` (the notebook it serves) and the glue
that is specific to that chapter. Beside it, ``chN_config`` defines ``ChNConfig``, the
chapter's parameters per profile (a :class:`course_lib.config.ChapterConfig`), which the
notebook resolves once in the cell after its parameters cell, and ``chN_report`` defines
``ANCHORS`` (published figures as :class:`course_lib.report.Anchor`, with their protocol
labels) and ``report(...)``, the one function that writes ``results/<stem>.json``. Nothing
outside this package imports a chapter module.
"""
