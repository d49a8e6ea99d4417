"""The course's ViennaRNA labels on all of ``utr_mfe`` and ``utrlm_sample``; what settings change.

Folds the 20,000 Smart5UTR UTRs and the 500 UTR-LM records with the course's own code
(:func:`course_lib.structure.fold_sequences`, as chapter 5 labels its corpus), prints the
agreement with the independent labels, then refolds a subset with one ViennaRNA setting
changed at a time (:data:`course_lib.chapters.ch5_structure_check.DEFAULT_VARIANTS`) to show
how far each moves the labels. Prints the seconds each step took.

    OMP_NUM_THREADS=1 python benchmarks/bench_structure_labels.py --shared ../shared/data
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd

from course_lib.chapters.ch5_structure_check import (
    check_utr_mfe,
    check_utrlm_sample,
    variant_agreement,
)
from course_lib.datasets.structure_refs import (
    UTR_MFE_FILE,
    UTRLM_SAMPLE_FILE,
    load_utr_mfe,
    load_utrlm_records,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--shared", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--variant-size", type=int, default=2000)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    table = load_utr_mfe(args.shared / "utr_mfe" / UTR_MFE_FILE, verbose=False)
    records = load_utrlm_records(args.shared / "utrlm_sample" / UTRLM_SAMPLE_FILE)
    start = time.perf_counter()
    mfe = check_utr_mfe(table, processes=args.processes, show_progress=False)
    print(f"utr_mfe, all {mfe.n}: {mfe} ({time.perf_counter() - start:.1f} s)")
    start = time.perf_counter()
    sample = check_utrlm_sample(records, processes=args.processes, show_progress=False)
    print(f"utrlm_sample, all {sample.n}: {sample} ({time.perf_counter() - start:.1f} s)")
    subset = table.sample(args.variant_size, random_state=0)
    start = time.perf_counter()
    variants = variant_agreement(
        subset["utr"].tolist(), subset["energy_5utr"].to_numpy(), processes=args.processes
    )
    print(f"\nutr_mfe, {args.variant_size} random rows, one setting changed at a time:")
    columns = ["pearson_r", "fraction_mfe_within", "mean_difference", "max_abs_difference"]
    with pd.option_context("display.width", 200):
        print(variants[columns].astype(float).round(4).to_string())
    print(f"({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
