"""Which nucleotides drive a prediction: mutagenesis in two layouts, attributions, logos.

- :mod:`course_lib.interpret.position_mutagenesis` -- position-by-base changes ``[n, L, 4]`` of a
  scalar score, ACGT order (chapter 3)
- :mod:`course_lib.interpret.variant_mutagenesis` -- every variant ``4p + b`` of a window for a
  many-feature model, maps ``[F, 4, L]`` in Beluga's AGCT order (chapter 4)
- :mod:`course_lib.interpret.attribution` -- gradient x input, k-mer attributions spread over
  nucleotides, the explanation of a token model (chapter 3)
- :mod:`course_lib.interpret.integrated_gradients` -- integrated gradients (Gauss-Legendre
  path integral), checked against captum
- :mod:`course_lib.interpret.logos` -- aligned windows, frequency and information matrices,
  sequence logos (chapter 3)
"""
