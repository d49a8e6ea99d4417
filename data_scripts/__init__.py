"""Command-line data preparation: ``python -m data_scripts {list,fetch,synth,seed,prepare}``."""
