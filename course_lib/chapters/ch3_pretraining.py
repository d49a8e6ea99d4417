"""Chapter 3's pretraining corpus and backbones (``notebooks/03_pum2_dnabert_lstm.ipynb``).

The small BERT is pretrained **once per profile**, not per fold, by masked k-mer modelling
(:func:`course_lib.kmer_pretraining.pretrain_masked_kmers`) on real unlabelled sequence that
lies outside every test fold: overlapping windows of the human genome excerpt (registry data
set ``hg38_chr22_excerpt``) on both strands, as long as the PUM2 sequences, without any window
that shares a stretch of :data:`SHARED_STRETCH` nucleotides with a PUM2 sequence
(:func:`genome_corpus`). The last part of the excerpt (after a gap) gives the held-out windows
on which masked-token accuracy is set against the copy baseline.

The **negative control** is the same BERT pretrained identically on i.i.d. random sequence of
the training windows' nucleotide composition (:func:`random_like`). Each backbone is cached
under a hash of its recipe (:func:`backbone_recipe`,
:func:`course_lib.weights.recipe_folder` ``("bert_mlm", recipe)``), the recipe written beside
the weights as :data:`course_lib.weights.RECIPE_FILE`.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from course_lib.atomic import build_lock
from course_lib.chapters.ch3_config import Ch3Config
from course_lib.distributed import is_main
from course_lib.kmer_pretraining import (
    accuracy_against_copy,
    accuracy_difference,
    masked_hits,
    pretrain_masked_kmers,
)
from course_lib.tokenization import KmerVocabulary

#: Windows sharing a stretch this long (nt, either strand) with a PUM2 sequence are removed.
SHARED_STRETCH = 20
#: Gap (nt) between the training part of the excerpt and its held-out part.
HELD_OUT_GAP = 200
#: The ``built_by`` label of the recipes of this module.
BUILT_BY = "course_lib.chapters.ch3_pretraining"
#: Share of the excerpt (its end) whose windows are held out of pretraining.
HELD_OUT_FRACTION = 0.1
#: Share of the pretraining steps the learning rate warms up over.
WARMUP_FRACTION = 0.06
#: Share of tokens masked (in spans of k tokens).
MASK_PROBABILITY = 0.15
#: The two pretraining corpora: the genome windows and the composition-matched random control.
CORPORA = ("genome", "random")
#: Display name of each backbone's fine-tuned arm.
ARM_NAMES = {"genome": "BERT (genome MLM)", "random": "BERT (random-sequence control)"}
#: The token sets the held-out accuracy is scored on, and their column suffix in
#: :func:`course_lib.kmer_pretraining.masked_hits`.
TOKEN_SETS = (("all scored tokens", ""), ("tokens shown as [MASK]", " at [MASK]"))
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def reverse_complement(seq: str) -> str:
    """The reverse complement of an upper-case DNA sequence."""
    return seq.translate(_COMPLEMENT)[::-1]


def shared_stretch_starts(genome: str, others: Sequence[str], stretch: int) -> np.ndarray:
    """``[len(genome) - stretch + 1]`` bool: the ``stretch``-mer starting here occurs in
    ``others`` on either strand."""
    found = set()
    for seq in others:
        for s in (seq, reverse_complement(seq)):
            found.update(s[i : i + stretch] for i in range(len(s) - stretch + 1))
    starts = range(len(genome) - stretch + 1)
    return np.fromiter((genome[i : i + stretch] in found for i in starts), bool, len(starts))


def window_starts(
    flagged: np.ndarray, begin: int, end: int, length: int, stride: int, stretch: int
) -> tuple[np.ndarray, int]:
    """Starts of the ``length``-nt windows in ``[begin, end)`` every ``stride`` nt that hold no
    flagged ``stretch``-mer (:func:`shared_stretch_starts`), and how many were removed."""
    starts = np.arange(begin, end - length + 1, stride)
    cumulative = np.concatenate([[0], np.cumsum(flagged)])
    last = np.minimum(starts + length - stretch + 1, len(flagged))
    clean = cumulative[last] - cumulative[starts] == 0
    return starts[clean], int((~clean).sum())


@dataclass(frozen=True)
class PretrainingCorpus:
    """Genome windows for masked k-mer pretraining (both strands) and held-out windows.

    Attributes
    ----------
    train, held_out
        Window sequences of the training and held-out parts of the excerpt.
    removed
        Windows dropped for sharing a stretch with a PUM2 sequence.
    provenance
        ``real`` or ``synthetic`` (of the genome excerpt).
    description
        A sentence saying what the corpus is.
    """

    train: list[str]
    held_out: list[str]
    removed: int
    provenance: str
    description: str


def genome_corpus(
    genome: str,
    exclude: Sequence[str],
    length: int,
    stride: int,
    held_out_fraction: float,
    provenance: str,
) -> PretrainingCorpus:
    """Windows of ``genome`` on both strands without any shared stretch with ``exclude``.

    The first ``1 - held_out_fraction`` of the excerpt gives overlapping training windows
    (every ``stride`` nt); after :data:`HELD_OUT_GAP` nt, the rest gives non-overlapping
    held-out windows (stride ``length``), so no held-out base is seen in pretraining.
    """
    flagged = shared_stretch_starts(genome, exclude, SHARED_STRETCH)
    split = int(len(genome) * (1 - held_out_fraction))
    train, removed_train = window_starts(flagged, 0, split, length, stride, SHARED_STRETCH)
    held, removed_held = window_starts(
        flagged, split + HELD_OUT_GAP, len(genome), length, length, SHARED_STRETCH
    )
    forward = [genome[s : s + length] for s in train]
    held_out = [genome[s : s + length] for s in held]
    removed = 2 * removed_train + removed_held
    description = (
        f"{provenance} genome excerpt: {2 * len(forward):,} overlapping {length}-nt windows "
        f"(every {stride} nt, both strands) for pretraining, {len(held_out):,} held-out windows "
        f"from the excerpt's last {held_out_fraction:.0%}; {removed:,} windows sharing a "
        f"{SHARED_STRETCH}-nt stretch with a PUM2 sequence removed"
    )
    train_seqs = forward + [reverse_complement(s) for s in forward]
    return PretrainingCorpus(train_seqs, held_out, removed, provenance, description)


def random_like(seqs: Sequence[str], seed: int = 0) -> list[str]:
    """I.i.d. random sequences with the lengths and the pooled base composition of ``seqs``."""
    joined = "".join(seqs)
    bases = np.array(list("ACGT"))
    composition = np.array([joined.count(b) for b in bases], dtype=float)
    draws = np.random.default_rng(seed).choice(
        4, size=len(joined), p=composition / composition.sum()
    )
    letters = "".join(bases[draws])
    ends = np.cumsum([len(s) for s in seqs])
    return [letters[e - len(s) : e] for s, e in zip(seqs, ends, strict=True)]


def excluded_hash(seqs: Sequence[str]) -> str:
    """A short hash of the set of sequences kept out of the corpus (part of the recipe)."""
    from course_lib.weights import recipe_hash

    return recipe_hash({"sequences": sorted(set(seqs))})


def backbone_recipe(
    settings: Ch3Config, corpus: str, window_length: int, data: Mapping[str, str], seed: int
) -> dict[str, Any]:
    """Every value that changes a backbone: architecture, corpus, schedule, data, seed.

    Parameters
    ----------
    settings
        The chapter's configuration (``k``, ``bert_*`` sizes, ``pretrain_*``).
    corpus
        ``"genome"`` or ``"random"`` (:data:`CORPORA`).
    window_length
        Length of the windows (nt), that of the PUM2 sequences.
    data
        Provenance of the genome excerpt and hash of the excluded PUM2 sequences.
    seed
        Seed of the initialisation, the batches, the masks and the random control.

    Returns
    -------
    dict
        JSON-ready; its hash names the backbone's folder.
    """
    if corpus not in CORPORA:
        raise ValueError(f"corpus must be one of {CORPORA}, got {corpus!r}")
    names = ("k", "bert_hidden", "bert_layers", "bert_heads", "bert_intermediate")
    names = (*names, "bert_local_kernel")
    schedule = ("pretrain_steps", "pretrain_lr", "pretrain_batch_size", "pretrain_stride")
    return {
        "built_by": BUILT_BY,
        "corpus": corpus,
        "window_length": int(window_length),
        "shared_stretch": SHARED_STRETCH,
        "held_out_gap": HELD_OUT_GAP,
        "held_out_fraction": HELD_OUT_FRACTION,
        "warmup_fraction": WARMUP_FRACTION,
        "mask_probability": MASK_PROBABILITY,
        "dropout": 0.0,
        "data": dict(data),
        "seed": int(seed),
        **{name: settings[name] for name in (*names, *schedule)},
    }


def pretraining_config(vocab: KmerVocabulary, settings: Ch3Config, width: int):
    """The ``BertConfig`` of the backbones: the fine-tuned BERT's sizes, no dropout."""
    from course_lib.models.bert import small_bert_config

    sizes = (settings.bert_hidden, settings.bert_layers, settings.bert_heads)
    return small_bert_config(
        vocab,
        *sizes,
        settings.bert_intermediate,
        width,
        dropout=0.0,
        local_kernel=settings.bert_local_kernel,
    )


def save_backbone(model: nn.Module, folder: Path, record: Mapping[str, Any]) -> Path:
    """Write ``model`` (``save_pretrained``) and ``record`` to ``folder`` atomically."""
    import shutil
    import tempfile

    from course_lib.weights import RECIPE_FILE

    folder.parent.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".building-"))
    model.save_pretrained(temporary)
    (temporary / RECIPE_FILE).write_text(json.dumps(record, indent=2, default=str))
    if folder.exists():  # another process built it meanwhile: keep theirs
        shutil.rmtree(temporary)
    else:
        temporary.rename(folder)
    return folder


@dataclass
class Backbone:
    """A pretrained masked k-mer model of one corpus, read from or written to its folder.

    Attributes
    ----------
    corpus
        ``"genome"`` or ``"random"``.
    folder
        Its recipe folder.
    model
        The ``BertForMaskedLM`` (eval mode).
    record
        Its recipe with who built it, the steps' history (``history``), seconds and corpus.
    built
        Whether this run built it (``False``: read from the cache).
    """

    corpus: str
    folder: Path
    model: nn.Module
    record: dict[str, Any]
    built: bool

    @property
    def history(self) -> pd.DataFrame:
        """``step, mlm_loss, masked_accuracy`` of the pretraining (training batches)."""
        return pd.DataFrame(self.record["history"])


def chapter_corpus(
    settings: Ch3Config, exclude: Sequence[str], window_length: int
) -> PretrainingCorpus:
    """The profile's genome windows (registry ``hg38_chr22_excerpt``) without ``exclude``."""
    from course_lib import registry

    loaded = registry.load("hg38_chr22_excerpt")
    genome = loaded.data
    chrom, size = next(iter(genome.chromosomes.items()))
    sequence = genome.fetch(chrom, 0, size)
    args = (window_length, settings.pretrain_stride, HELD_OUT_FRACTION, loaded.provenance)
    return genome_corpus(sequence, exclude, *args)


def _pretrain(
    settings: Ch3Config,
    seqs: Sequence[str],
    vocab: KmerVocabulary,
    config: Any,
    seed: int,
    device: str | torch.device,
    show_progress: bool,
    description: str,
) -> tuple[nn.Module, pd.DataFrame, float]:
    """Pretrain a fresh backbone on ``seqs``: model, history, seconds."""
    tokens = vocab.encode(list(seqs)).to_torch()
    model, result = pretrain_masked_kmers(
        config,
        tokens["input_ids"],
        tokens["attention_mask"],
        vocab,
        steps=settings.pretrain_steps,
        batch_size=settings.pretrain_batch_size,
        lr=settings.pretrain_lr,
        warmup_fraction=WARMUP_FRACTION,
        mask_probability=MASK_PROBABILITY,
        log_every=max(1, settings.pretrain_steps // 20),
        seed=seed,
        device=device,
        show_progress=show_progress,
        description=description,
    )
    return model, result.history, result.seconds


def backbone(
    settings: Ch3Config,
    corpus_name: str,
    corpus: PretrainingCorpus,
    vocab: KmerVocabulary,
    *,
    exclude_hash: str,
    seed: int = 0,
    device: str | torch.device = "auto",
    show_progress: bool = True,
) -> Backbone:
    """The backbone of ``corpus_name`` at ``settings``: read from its recipe folder, or built.

    Parameters
    ----------
    settings
        The chapter's configuration (sizes and ``pretrain_*``).
    corpus_name
        ``"genome"`` (the windows of ``corpus``) or ``"random"`` (:func:`random_like` of them).
    corpus
        :func:`chapter_corpus`.
    vocab
        The k-mer vocabulary.
    exclude_hash
        :func:`excluded_hash` of the PUM2 sequences kept out of the corpus.
    seed, device, show_progress
        The recipe's seed; where to pretrain; progress bar.
    """
    from course_lib.weights import recipe_folder

    length = len(corpus.train[0])
    data = {"genome": corpus.provenance, "excluded PUM2 sequences": exclude_hash}
    recipe = backbone_recipe(settings, corpus_name, length, data, seed)
    folder = recipe_folder("bert_mlm", recipe)
    with build_lock(folder):  # two runs needing this backbone take turns
        found = _read_backbone(corpus_name, folder)
        return found or _build(
            settings, corpus_name, corpus, vocab, recipe, folder, seed, device, show_progress
        )


def _read_backbone(corpus_name: str, folder: Path) -> Backbone | None:
    """The backbone saved in ``folder``; ``None`` when absent, or when unreadable (a killed run,
    a corrupted file: reported with a warning and removed, so that it is built again)."""
    from course_lib.models.bert import load_masked_lm
    from course_lib.weights import RECIPE_FILE

    if not folder.exists():
        return None
    try:
        record = json.loads((folder / RECIPE_FILE).read_text())
        model = load_masked_lm(folder)
    except (OSError, ValueError, RuntimeError) as err:
        warnings.warn(
            f"the pretrained backbone in {folder} is unreadable ({type(err).__name__}: {err}); "
            "removing it and pretraining it again",
            stacklevel=3,
        )
        shutil.rmtree(folder)
        return None
    return Backbone(corpus_name, folder, model, record, built=False)


def _build(
    settings: Ch3Config,
    corpus_name: str,
    corpus: PretrainingCorpus,
    vocab: KmerVocabulary,
    recipe: Mapping[str, Any],
    folder: Path,
    seed: int,
    device: str | torch.device,
    show_progress: bool,
) -> Backbone:
    """Pretrain the backbone of ``recipe`` and save it in ``folder``."""
    seqs = corpus.train if corpus_name == "genome" else random_like(corpus.train, seed)
    config = pretraining_config(vocab, settings, vocab.encode(seqs[:1]).input_ids.shape[1])
    description = f"MLM pretraining ({corpus_name})"
    model, history, seconds = _pretrain(
        settings, seqs, vocab, config, seed, device, show_progress, description
    )
    record = {
        **recipe,
        "profile": settings.profile,
        "tiny": settings.tiny,
        "corpus description": corpus.description,
        "pretraining windows": len(seqs),
        "seconds": seconds,
        "history": history.to_dict("records"),
    }
    saved = save_backbone(model, folder, record) if is_main() else folder  # torchrun: rank 0
    return Backbone(corpus_name, saved, model, record, built=True)


def chapter_backbones(
    settings: Ch3Config,
    corpus: PretrainingCorpus,
    vocab: KmerVocabulary,
    exclude: Sequence[str],
    seed: int = 0,
    device: str | torch.device = "auto",
) -> dict[str, Backbone]:
    """Both backbones (:data:`CORPORA`) of ``settings``, read or built; empty without steps.

    Prints, per backbone, whether it was read from its recipe folder or built, and how long
    building took. They are built one after the other on all of this process's threads: on 2
    cores, side by side in one-thread workers (:mod:`course_lib.training_pool`) took no less
    time (241 s against 203 s at ``laptop``, measured once).
    """
    if settings.pretrain_steps == 0:
        return {}
    found = {}
    for name in CORPORA:
        found[name] = backbone(
            settings,
            name,
            corpus,
            vocab,
            exclude_hash=excluded_hash(exclude),
            seed=seed,
            device=device,
        )
        how = "built" if found[name].built else "read from its recipe folder"
        seconds = found[name].record["seconds"]
        print(f"backbone {name}: {how}, {found[name].folder} ({seconds:.0f} s to build)")
    return found


def copy_comparison(
    backbones: Mapping[str, Backbone],
    corpus: PretrainingCorpus,
    vocab: KmerVocabulary,
    seed: int = 0,
    device: str | torch.device = "auto",
) -> pd.DataFrame:
    """Each backbone's masked 3-mer accuracy on the held-out windows against the copy baseline,
    and the genome backbone's against the random-sequence control.

    Rows ``(backbone, tokens)`` with tokens ``"all scored tokens"`` or ``"tokens shown as
    [MASK]"``; columns of :func:`course_lib.kmer_pretraining.accuracy_against_copy` (paired
    bootstrap over windows), the same corruptions for every backbone; with both backbones, the
    genome rows also hold ``minus control`` with ``minus control ci low`` and ``high``
    (:func:`~course_lib.kmer_pretraining.accuracy_difference`; NaN in the other rows).
    """
    held = vocab.encode(corpus.held_out).to_torch()
    rows, hits = {}, {}
    for name, found in backbones.items():
        hits[name] = masked_hits(
            found.model,
            held["input_ids"],
            held["attention_mask"],
            vocab,
            mask_probability=MASK_PROBABILITY,
            seed=seed,
            device=device,
        )
        for label, where in TOKEN_SETS:
            rows[(ARM_NAMES[name], label)] = accuracy_against_copy(hits[name], where, seed=seed)
    if set(CORPORA) <= set(hits):
        for label, where in TOKEN_SETS:
            margin = accuracy_difference(hits["genome"], hits["random"], where, seed=seed)
            rows[(ARM_NAMES["genome"], label)] |= {
                "minus control": margin["difference"],
                "minus control ci low": margin["ci low"],
                "minus control ci high": margin["ci high"],
            }
    return pd.DataFrame(rows).T.rename_axis(["backbone", "tokens"])


def copy_sentences(copy: pd.DataFrame, provenance: str) -> list[str]:
    """Per backbone and token set of :func:`copy_comparison`: accuracy, copy baseline, the
    paired interval of the difference and what it allows one to claim (read off the interval);
    where the genome backbone is set against the random-sequence control, that margin too."""
    lines = []
    for (name, tokens), row in copy.iterrows():
        low, high = float(row["ci low"]), float(row["ci high"])
        if low > 0:
            verdict = "above the copy baseline: it learned something beyond copying"
        elif high < 0:
            verdict = "below the copy baseline: it has not even learned to copy"
        else:
            verdict = "nothing can be concluded (the interval spans 0)"
        lines.append(
            f"{name}, {tokens} of the held-out {provenance} genome windows: masked "
            f"3-mer accuracy {float(row['model accuracy']):.3f} vs copy baseline "
            f"{float(row['copy baseline accuracy']):.3f}, difference "
            f"{float(row['model minus copy']):+.3f} [{low:+.3f}, {high:+.3f}]: {verdict}."
        )
        if pd.notna(row.get("minus control")):
            lines.append(control_sentence(row, tokens))
    return lines


def control_sentence(row: pd.Series, tokens: str) -> str:
    """The genome backbone's masked accuracy minus the random-sequence control's on ``tokens``
    (a genome row of :func:`copy_comparison`) and what its paired interval allows one to say."""
    low, high = float(row["minus control ci low"]), float(row["minus control ci high"])
    if low > 0:
        verdict = (
            "above the control: pretraining on the genome learned more than its nucleotide "
            "composition"
        )
    elif high < 0:
        verdict = "below the control: the genome taught it less than composition alone"
    else:
        verdict = (
            "nothing can be concluded (the interval spans 0): no evidence that it learned "
            "more than the composition"
        )
    return (
        f"{ARM_NAMES['genome']} minus {ARM_NAMES['random']}, {tokens}: masked 3-mer accuracy "
        f"{float(row['minus control']):+.3f} [{low:+.3f}, {high:+.3f}] (paired over windows): "
        f"{verdict}."
    )
