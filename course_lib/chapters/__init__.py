"""One module per chapter notebook: its settings per profile, its anchors and its recipes.

Each module defines ``NOTEBOOK`` (the notebook it serves), ``SETTINGS``
(``{profile: {setting: value}}`` for :func:`course_lib.profiles.chapter_settings`, the same keys
in every profile), ``ANCHORS`` (published figures with their protocol labels) and the glue that
is specific to that chapter. Nothing outside this package imports a chapter module.
"""
