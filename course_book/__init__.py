"""course_book: the book's tooling, kept apart from the library :mod:`course_lib`.

It runs the chapter notebooks, builds the website and the student versions, and shows the
measured chapter times. It lives outside ``course_lib`` so that importing the library (its
models, data sets, training and chapters) never imports papermill, nbformat or Jupyter Book;
``tests/test_layout_imports.py`` checks that. ``course_book`` imports ``course_lib``, never the
other way round. The chapters come from :data:`course_lib.manifest.CHAPTERS`.

- :mod:`course_book.run` -- the papermill runner behind ``make book`` and ``make tiny``
- :mod:`course_book.site` -- the course website from executed notebooks (``make site``)
- :mod:`course_book.student` -- student versions of the chapters (``make student-check``)
- :mod:`course_book.timings` -- measured chapter times for the setup page and chapter pages
- :mod:`course_book.concepts` -- the concept questions page from ``book/concepts/questions.yml``
- :mod:`course_book.teaching` -- the teaching plans with measured times (``book/teaching.md``)
- :mod:`course_book.schematics` -- the schematic figures of ``book/figures`` (``make figures``)
"""
