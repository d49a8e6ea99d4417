"""Random7600/Human7600 in miniature, shared by the tests of chapters 1 and 5 and their protocol.

The real table (``utr_testsets/..._V_pred.csv``) holds 100 UTRs per length 25..100 per set;
:func:`toy_varying_table` writes ``per_length`` random UTRs per length per set in the same
columns (``utr``, ``rl``, ``set``, ``len``), with a label that a test chooses.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

#: ``label(utr, rng) -> MRL`` of one UTR.
Label = Callable[[str, np.random.Generator], float]


def gc_label(utr: str, rng: np.random.Generator) -> float:
    """MRL falling with G+C content, plus noise of sd 0.3: a rule a small head can learn."""
    gc = (utr.count("G") + utr.count("C")) / len(utr)
    return 8 - 6 * gc + rng.normal(0, 0.3)


def toy_varying_table(per_length: int, label: Label, seed: int = 0) -> pd.DataFrame:
    """``per_length`` random UTRs per length 25..100 in each of the sets "random" and "human".

    Returns a table with columns ``utr, rl, set, len``, duplicated UTRs dropped.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for name in ("random", "human"):
        for length in range(25, 101):
            for _ in range(per_length):
                utr = "".join(rng.choice(list("ACGT"), length))
                rows.append({"utr": utr, "rl": label(utr, rng), "set": name})
    table = pd.DataFrame(rows).drop_duplicates("utr")
    return table.assign(len=table["utr"].str.len()).reset_index(drop=True)
