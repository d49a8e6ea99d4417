"""Compute a frozen backbone's embeddings once, keep them on disk, train every head from them.

The backbone never changes while a head trains, so running it on every batch of every epoch
(as the RNA-FM tutorial did) repeats the same work. :func:`build_embedding_cache` runs it once
per sequence (batched, ``torch.no_grad``, sorted by length to waste little on padding) and
stores float16 embeddings in a ``numpy.memmap`` whose name holds the data set, the
checkpoint's sha256 and the sequences' sha256, so a different checkpoint or subset can never
be read by mistake. :class:`UTRBatches` serves ``(inputs, target)`` batches from the cache
(or, for comparison, from the backbone on the fly) for :func:`course_lib.training.fit`.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from course_lib.atomic import write_text_atomic
from course_lib.encoding import Padding, one_hot, to_dna
from course_lib.models.utr_resnet import embedding_type
from course_lib.paths import data_dir
from course_lib.progress import progress

InputType = Literal["seq", "emb-rnafm", "emb-utrlm"]


class FrozenBackbone(Protocol):
    """What the cache runs: :class:`~course_lib.models.rnafm.RNAFMBackbone` or chapter 5's
    :class:`~course_lib.models.utr_lm.UTRLMBackbone`."""

    checkpoint: Path
    checkpoint_sha256: str  # keys the cache: other weights, other file
    pretrained: bool

    @property
    def embed_dim(self) -> int:
        """Width ``D`` of the embeddings."""

    def embed(self, seqs: Sequence[str]) -> torch.Tensor:
        """``[n, L_max, D]`` per-nucleotide states, zero beyond each sequence's length."""


def sequences_sha256(sequences: Sequence[str]) -> str:
    """sha256 of the sequences in order (upper case, U as T), newline-separated."""
    digest = hashlib.sha256()
    for seq in sequences:
        digest.update(to_dna(seq.upper()).encode() + b"\n")
    return digest.hexdigest()


def cache_key(dataset: str, checkpoint_sha256: str, sequences: Sequence[str], max_len: int) -> str:
    """File stem ``<data set>__ckpt<12 hex>__seqs<12 hex>__L<max_len>``."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset)
    seqs = sequences_sha256(sequences)
    return f"{safe}__ckpt{checkpoint_sha256[:12]}__seqs{seqs[:12]}__L{max_len}"


def left_align(batch: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Move each row's first ``length`` positions to the end: ``[b, L, ...]`` -> ``[b, L, ...]``.

    Turns right-padded rows (sequence at the start) into left-padded ones (sequence ending at
    the last position, i.e. at the start codon); padding stays zero.
    """
    width = batch.shape[1]
    lengths = np.asarray(lengths)
    if (lengths > width).any():
        raise ValueError(f"a length exceeds the padded width {width}")
    source = np.arange(width)[None, :] - (width - lengths)[:, None]  # [b, L]
    valid = source >= 0
    index = np.where(valid, source, 0).reshape(source.shape + (1,) * (batch.ndim - 2))
    out = np.take_along_axis(batch, index, axis=1)
    return out * valid.reshape(valid.shape + (1,) * (batch.ndim - 2)).astype(out.dtype)


@dataclass(frozen=True)
class EmbeddingCache:
    """Float16 embeddings ``[n, max_len, dim]`` on disk, right-padded with zeros.

    Attributes
    ----------
    path
        The ``.f16`` memory-map file; ``path.with_suffix(".json")`` holds its metadata.
    lengths
        ``[n]`` sequence lengths (rows beyond them are zero).
    rows
        ``[n]`` rows of the file this cache reads (:meth:`take`); ``None``: all, in order.
    """

    path: Path
    lengths: np.ndarray
    max_len: int
    dim: int
    checkpoint_sha256: str
    rows: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.lengths)

    @cached_property
    def array(self) -> np.memmap:
        """Read-only view ``[n_file, max_len, dim]`` float16 of the whole file (opened once)."""
        n_file = self.path.stat().st_size // (self.max_len * self.dim * 2)
        return np.memmap(self.path, np.float16, "r", shape=(n_file, self.max_len, self.dim))

    @property
    def nbytes(self) -> int:
        return len(self) * self.max_len * self.dim * 2

    def take(self, rows: np.ndarray) -> EmbeddingCache:
        """The cache of ``rows`` (``[m]`` indices): row ``i`` of the result is row ``rows[i]``.

        Nothing is copied or recomputed; the result reads the same file, so one cache of all
        sequences serves every part of every fold.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if rows.ndim != 1 or (rows.size and (rows.min() < 0 or rows.max() >= len(self))):
            raise IndexError(f"rows must be a 1-d index into the cache's {len(self)} rows")
        file_rows = rows if self.rows is None else self.rows[rows]
        return EmbeddingCache(
            self.path, self.lengths[rows], self.max_len, self.dim, self.checkpoint_sha256, file_rows
        )

    def batch(self, rows: np.ndarray, padding: Padding = "right") -> np.ndarray:
        """Embeddings of ``rows`` as float32 ``[b, max_len, dim]``, right or left padded."""
        rows = np.asarray(rows)
        file_rows = rows if self.rows is None else self.rows[rows]
        out = np.asarray(self.array[file_rows], dtype=np.float32)
        return left_align(out, self.lengths[rows]) if padding == "left" else out


def open_embedding_cache(path: str | Path) -> EmbeddingCache:
    """Open a finished cache from its ``.f16`` path (its ``.json`` must exist)."""
    path = Path(path)
    meta = json.loads(path.with_suffix(".json").read_text())
    return EmbeddingCache(
        path=path,
        lengths=np.asarray(meta["lengths"], dtype=np.int64),
        max_len=int(meta["max_len"]),
        dim=int(meta["dim"]),
        checkpoint_sha256=meta["checkpoint_sha256"],
    )


def _write_embeddings(
    backbone: FrozenBackbone,
    sequences: list[str],
    lengths: np.ndarray,
    path: Path,
    max_len: int,
    batch_size: int,
    description: str | None,
) -> None:
    """Embed in batches of similar length into a float16 memmap ``[n, max_len, D]`` at
    ``path`` (written as ``.part`` and renamed at the end, so no partial file remains); a
    progress bar labelled ``description`` unless it is ``None``."""
    part = path.with_name(path.name + ".part")
    shape = (len(sequences), max_len, backbone.embed_dim)
    store = np.memmap(part, np.float16, "w+", shape=shape)
    order = np.argsort(lengths, kind="stable")  # similar lengths share a batch: little padding
    starts = range(0, len(order), batch_size)
    for start in progress(starts, desc=description, disable=description is None):
        rows = np.sort(order[start : start + batch_size])
        emb = backbone.embed([sequences[i] for i in rows]).float().cpu().numpy()
        store[rows, : emb.shape[1]] = emb.astype(np.float16)
    store.flush()
    del store
    part.replace(path)


def build_embedding_cache(
    backbone: FrozenBackbone,
    sequences: Sequence[str],
    dataset: str,
    folder: str | Path | None = None,
    max_len: int = 100,
    batch_size: int = 64,
    show_progress: bool = True,
) -> EmbeddingCache:
    """Embed ``sequences`` once with the frozen ``backbone`` and store them (or reuse them).

    Parameters
    ----------
    backbone
        From :func:`~course_lib.models.rnafm.load_rnafm` or
        :func:`~course_lib.models.rnafm.get_backbone`, or chapter 5's UTR-LM
        (:meth:`~course_lib.models.utr_lm.UTRLMBackbone.from_checkpoint`).
    sequences
        ``n`` sequences of at most ``max_len`` nt (DNA or RNA alphabet).
    dataset
        Name of the data set and part, e.g. ``"utr_varying_length/train"``; part of the key.
    folder
        Cache folder; default ``$COURSE_DATA_DIR/embedding_cache``.

    Returns
    -------
    EmbeddingCache
        Row ``i`` holds ``sequences[i]``.
    """
    sequences = list(sequences)
    lengths = np.fromiter((len(s) for s in sequences), dtype=np.int64, count=len(sequences))
    if not len(sequences):
        raise ValueError("no sequences to embed")
    if lengths.max() > max_len:
        raise ValueError(f"a sequence has {lengths.max()} nt, more than max_len={max_len}")
    folder = Path(folder) if folder is not None else data_dir() / "embedding_cache"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (cache_key(dataset, backbone.checkpoint_sha256, sequences, max_len) + ".f16")
    if path.with_suffix(".json").exists() and path.exists():
        found = _reusable(path, sequences, backbone.embed_dim)
        if found is not None:
            return found
    description = f"embedding {dataset}" if show_progress else None
    _write_embeddings(backbone, sequences, lengths, path, max_len, batch_size, description)
    meta = {
        "dataset": dataset,
        "checkpoint": backbone.checkpoint.name,
        "checkpoint_sha256": backbone.checkpoint_sha256,
        "pretrained": backbone.pretrained,
        "sequences_sha256": sequences_sha256(sequences),
        "max_len": max_len,
        "dim": backbone.embed_dim,
        "lengths": lengths.tolist(),
    }
    write_text_atomic(path.with_suffix(".json"), json.dumps(meta))
    return open_embedding_cache(path)


def _reusable(path: Path, sequences: list[str], dim: int) -> EmbeddingCache | None:
    """The cache at ``path`` when it is whole and holds ``sequences``; else ``None``, after a
    warning, with its files removed (a killed run or a corrupted disk: it is built again)."""
    try:
        cache = open_embedding_cache(path)
        meta = json.loads(path.with_suffix(".json").read_text())
        expected = len(sequences) * cache.max_len * dim * 2  # float16
        if meta["sequences_sha256"] != sequences_sha256(sequences) or cache.dim != dim:
            raise ValueError("it holds other sequences or another width")
        if path.stat().st_size != expected:
            raise ValueError(f"{path.stat().st_size:,} bytes instead of {expected:,}")
        return cache
    except (OSError, ValueError, KeyError) as err:
        warnings.warn(
            f"the embedding cache {path} is unusable ({err}); removing it and embedding again",
            stacklevel=3,
        )
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        return None


class UTRBatches:
    """``(inputs, target)`` batches for the UTR head (``Human5PrimeUTRPredictor``).

    ``inputs`` is a dict with ``"seq"`` (one-hot ``[b, max_len, 4]``) and/or ``"emb"``
    (``[b, max_len, dim]``), both padded on the same side; ``target`` is ``[b]`` float32.

    Parameters
    ----------
    sequences, labels
        ``n`` UTRs and their (scaled) labels.
    input_types
        ``"seq"`` and/or one embedding type (``"emb-rnafm"``, ``"emb-utrlm"``).
    embeddings
        An :class:`EmbeddingCache` aligned with ``sequences`` (fast), or a frozen backbone
        (:data:`FrozenBackbone`) run on every batch (the tutorial's way).
    padding
        ``"right"`` (UTR starts at position 0, as in the RNA-FM tutorial) or ``"left"``
        (UTR ends at the last position, next to the start codon, as in Optimus 5-Prime).
    """

    def __init__(
        self,
        sequences: Sequence[str],
        labels: np.ndarray,
        input_types: Sequence[InputType] = ("seq",),
        embeddings: EmbeddingCache | FrozenBackbone | None = None,
        padding: Padding = "right",
        max_len: int = 100,
        batch_size: int = 64,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        embedding = embedding_type(input_types)
        if embedding is not None and embeddings is None:
            raise ValueError(f"input type {embedding!r} needs an EmbeddingCache or a backbone")
        if isinstance(embeddings, EmbeddingCache) and len(embeddings) != len(sequences):
            raise ValueError(
                f"the cache has {len(embeddings)} rows but there are {len(sequences)} sequences"
            )
        self.sequences = list(sequences)
        self.labels = np.asarray(labels, dtype=np.float32)
        if len(self.labels) != len(self.sequences):
            raise ValueError("sequences and labels differ in length")
        self.lengths = np.fromiter((len(s) for s in self.sequences), np.int64, len(self.sequences))
        self.input_types = tuple(input_types)
        self.embeddings = embeddings
        self.padding = padding
        self.max_len = max_len
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.rng = np.random.default_rng(seed)
        self.one_hot = (
            one_hot(self.sequences, length=max_len, padding=padding, dtype=np.uint8)
            if "seq" in self.input_types
            else None
        )

    def __len__(self) -> int:
        return -(-len(self.sequences) // self.batch_size)

    def _embeddings(self, rows: np.ndarray) -> np.ndarray:
        if isinstance(self.embeddings, EmbeddingCache):
            return self.embeddings.batch(rows, self.padding)
        emb = self.embeddings.embed([self.sequences[i] for i in rows]).float().cpu().numpy()
        full = np.zeros((len(rows), self.max_len, emb.shape[2]), np.float32)
        full[:, : emb.shape[1]] = emb
        return left_align(full, self.lengths[rows]) if self.padding == "left" else full

    def batch(self, rows: np.ndarray) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """The batch of the given example indices (sorted for fast memory-map reads)."""
        rows = np.sort(np.asarray(rows))
        inputs = {}
        if self.one_hot is not None:
            inputs["seq"] = torch.from_numpy(self.one_hot[rows].astype(np.float32))
        if embedding_type(self.input_types) is not None:
            inputs["emb"] = torch.from_numpy(self._embeddings(rows))
        return inputs, torch.from_numpy(self.labels[rows])

    def __iter__(self) -> Iterator[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        n = len(self.sequences)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            yield self.batch(order[start : start + self.batch_size])
