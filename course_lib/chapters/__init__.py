"""One module per chapter notebook (its anchors and recipes), each with its configuration.

Each chapter module ``chN_<name>`` defines ``NOTEBOOK`` (the notebook it serves), ``ANCHORS``
(published figures with their protocol labels) and the glue that is specific to that chapter.
Beside it, ``chN_config`` defines ``ChNConfig``, the chapter's parameters per profile (a
:class:`course_lib.config.ChapterConfig`), which the notebook resolves once in the cell after
its parameters cell. Nothing outside this package imports a chapter module.
"""
