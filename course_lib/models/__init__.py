"""Neural network architectures used in the chapters, one module per model family."""
