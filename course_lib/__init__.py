"""course_lib: the tested code behind the course *Deep learning for RNA and DNA sequences*.

Every chapter notebook imports from this package; each module has one purpose:

- :mod:`course_lib.encoding` -- one-hot, padding, RNA/DNA conversion, k-mers
- :mod:`course_lib.fasta` -- FASTA reading and genome random access
- :mod:`course_lib.profiles` -- the ``smoke`` / ``laptop`` / ``full`` run profiles
- :mod:`course_lib.training` -- one fit/evaluate loop for every chapter
- :mod:`course_lib.metrics` -- exactly named regression and classification metrics
- :mod:`course_lib.plotting` -- learning curves, scatter plots, ROC curves
- :mod:`course_lib.registry` -- data sets, downloads, checksums and provenance
- :mod:`course_lib.results` -- the ``results/<chapter>.json`` files
- :mod:`course_lib.run` -- the papermill runner behind ``make book``
"""

__version__ = "0.1.0"
