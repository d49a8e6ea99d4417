"""k-mer vocabularies and tokenizers for nucleotide language models (DNABERT, UTR-LM).

A :class:`KmerVocabulary` is a list of special tokens followed by all ``4**k`` k-mers (and,
optionally, trailing specials), with the role of each special named (pad, unk, cls, sep, mask).
The default reproduces DNABERT's ``vocab.txt`` exactly: ``[PAD] [UNK] [CLS] [SEP] [MASK]``
then the k-mers in lexicographic order of the alphabet ``"ATCG"`` (``AAA, AAT, AAC, AAG, ATA,
...`` for k = 3), as in ``jerryji1993/DNABERT`` ``src/transformers/dnabert-config``.

Encoding is vectorized (:func:`course_lib.encoding.kmer_ids` plus a lookup table), and a Hugging
Face ``BertTokenizer`` built on the written ``vocab.txt`` gives the same ids; so does DNABERT's
own checkpoint folder. An ESM-style vocabulary (UTR-LM: ``<cls> <pad> <eos> <unk>``, the four
nucleotides, ``<mask>``) is one call::

    vocab = build_vocabulary(1, alphabet="ACGU", **ESM_STYLE)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import torch

from course_lib.encoding import kmer_ids, kmer_vocabulary

#: DNABERT's special tokens, in the order of its ``vocab.txt``.
DNABERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: DNABERT's k-mer alphabet order.
DNABERT_ALPHABET = "ATCG"
#: Keyword arguments of :func:`build_vocabulary` for an ESM-style vocabulary (UTR-LM).
ESM_STYLE: dict[str, Any] = {
    "specials": ("<cls>", "<pad>", "<eos>", "<unk>"),
    "trailing_specials": ("<mask>",),
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "cls_token": "<cls>",
    "sep_token": "<eos>",
    "mask_token": "<mask>",
}
ROLES = ("pad", "unk", "cls", "sep", "mask")
#: Label value that ``torch.nn.CrossEntropyLoss`` (and Hugging Face models) ignore.
IGNORE_INDEX = -100


@dataclass(frozen=True)
class TokenBatch:
    """Token ids and attention mask of ``n`` sequences, both ``int64`` arrays ``[n, T]``."""

    input_ids: np.ndarray
    attention_mask: np.ndarray

    def __len__(self) -> int:
        return len(self.input_ids)

    def to_torch(self) -> dict[str, torch.Tensor]:
        """``{"input_ids", "attention_mask"}`` as tensors, ready for ``model(**batch)``."""
        return {
            "input_ids": torch.from_numpy(self.input_ids),
            "attention_mask": torch.from_numpy(self.attention_mask),
        }


@dataclass(frozen=True)
class KmerVocabulary:
    """Special tokens plus all ``4**k`` k-mers; build it with :func:`build_vocabulary`.

    Attributes
    ----------
    k
        k-mer size (1..6).
    alphabet
        Order of the four bases in the k-mer list, e.g. ``"ATCG"`` (DNABERT) or ``"ACGU"``.
    tokens
        All tokens in id order.
    roles
        ``{"pad"|"unk"|"cls"|"sep"|"mask": token or None}``.
    """

    k: int
    alphabet: str
    tokens: tuple[str, ...]
    roles: dict[str, str | None]
    _index: dict[str, int] = field(repr=False, compare=False)
    _lookup: np.ndarray = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.tokens)

    def id_of(self, token: str) -> int:
        """Id of one token; raises ``KeyError`` naming the token."""
        try:
            return self._index[token]
        except KeyError:
            raise KeyError(f"token {token!r} is not in this k={self.k} vocabulary") from None

    def role_id(self, role: str) -> int:
        """Id of the special token with ``role`` (pad, unk, cls, sep, mask)."""
        token = self.roles.get(role)
        if token is None:
            raise ValueError(f"this vocabulary has no {role} token; pass {role}_token=...")
        return self._index[token]

    @property
    def pad_id(self) -> int:
        return self.role_id("pad")

    @property
    def mask_id(self) -> int:
        return self.role_id("mask")

    @property
    def special_ids(self) -> np.ndarray:
        """Ids of every token that is not a k-mer, sorted."""
        kmer = set(self._lookup.tolist())
        return np.array([i for i in range(len(self)) if i not in kmer], dtype=np.int64)

    @property
    def kmer_lookup(self) -> np.ndarray:
        """``[4**k]`` vocabulary id of each k-mer indexed by its ACGT rank (see ``kmer_ids``)."""
        return self._lookup.copy()

    def kmer_token_ids(self, seqs: str | Sequence[str], names: Sequence[str] | None = None):
        """Vocabulary ids of the overlapping k-mers, ``[n, L - k + 1]``; ``-1`` past the end.

        k-mers containing N map to the unk token (an error if there is none).
        """
        seqs = [seqs] if isinstance(seqs, str) else list(seqs)
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        width = max(int(lengths.max(initial=0)) - self.k + 1, 0)
        if width == 0:
            return np.full((len(seqs), 0), -1, dtype=np.int64)
        ranks = kmer_ids(seqs, self.k, names=names)
        inside = np.arange(width)[None, :] < (lengths - self.k + 1)[:, None]
        ids = np.where(ranks >= 0, self._lookup[np.maximum(ranks, 0)], -1)
        unknown = inside & (ranks < 0)
        if unknown.any():
            ids[unknown] = self.role_id("unk")
        ids[~inside] = -1
        return ids

    def encode(
        self,
        seqs: str | Sequence[str],
        max_length: int | None = None,
        add_special_tokens: bool = True,
        truncate: bool = False,
        names: Sequence[str] | None = None,
    ) -> TokenBatch:
        """Tokenize sequences into padded ids and an attention mask (vectorized).

        Parameters
        ----------
        seqs
            ``n`` DNA or RNA sequences (U is read as T; N gives the unk token).
        max_length
            Output width ``T`` including special tokens; default the longest encoded sequence.
        add_special_tokens
            Wrap each sequence as ``cls k-mers sep`` (as Hugging Face tokenizers do).
        truncate
            Drop k-mers beyond ``max_length`` (the sep token is kept); otherwise raise.

        Returns
        -------
        TokenBatch
            ``input_ids`` and ``attention_mask``, ``int64`` ``[n, T]``, padded on the right with
            the pad id (mask 0).
        """
        body = self.kmer_token_ids(seqs, names=names)
        n, width = body.shape
        counts = (body >= 0).sum(1)
        extra = 2 if add_special_tokens else 0
        needed = int(counts.max(initial=0)) + extra
        total = needed if max_length is None else int(max_length)
        if total < extra:
            raise ValueError(f"max_length={total} leaves no room for the special tokens")
        if needed > total:
            if not truncate:
                raise ValueError(
                    f"a sequence needs {needed} tokens but max_length={total}; "
                    "raise max_length or pass truncate=True"
                )
            body = body[:, : total - extra]
            counts = np.minimum(counts, total - extra)
            width = body.shape[1]
        ids = np.full((n, total), self.pad_id, dtype=np.int64)
        start = 1 if add_special_tokens else 0
        ids[:, start : start + width] = np.where(body >= 0, body, self.pad_id)
        if add_special_tokens:
            ids[:, 0] = self.role_id("cls")
            ids[np.arange(n), counts + 1] = self.role_id("sep")
        lengths = counts + extra
        mask = (np.arange(total)[None, :] < lengths[:, None]).astype(np.int64)
        return TokenBatch(ids, mask)

    def decode(self, ids: Sequence[int] | np.ndarray) -> list[str]:
        """Tokens of a 1-D id sequence (for inspection)."""
        return [self.tokens[int(i)] for i in np.asarray(ids).ravel()]

    def write(self, folder: str | Path) -> Path:
        """Write ``vocab.txt`` (one token a line, id order) into ``folder``; return its path."""
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        out = path / "vocab.txt"
        out.write_text("\n".join(self.tokens) + "\n")
        return out

    def hf_tokenizer(self, folder: str | Path):
        """A Hugging Face ``BertTokenizer`` on this vocabulary (written into ``folder``).

        Feed it space-separated k-mers (:func:`kmer_string`, ``rna=True`` for an RNA alphabet);
        it gives the ids of :meth:`encode`. Case is kept (``do_lower_case=False``), as DNABERT does.
        """
        from transformers import BertTokenizer

        self.write(folder)
        missing = [r for r in ROLES if self.roles.get(r) is None]
        if missing:
            raise ValueError(f"a BertTokenizer needs all five special roles; missing {missing}")
        return BertTokenizer.from_pretrained(
            str(folder),
            do_lower_case=False,
            **{f"{role}_token": self.roles[role] for role in ROLES},
        )


def _kmer_tokens(k: int, alphabet: str) -> list[str]:
    return ["".join(p) for p in product(alphabet, repeat=k)]


def _check_alphabet(alphabet: str) -> str:
    canon = alphabet.upper().replace("U", "T")
    if len(alphabet) != 4 or sorted(canon) != sorted("ACGT"):
        raise ValueError(
            f"alphabet must order the four bases A, C, G and T (or U), got {alphabet!r}"
        )
    return canon


def build_vocabulary(
    k: int = 3,
    specials: Sequence[str] = DNABERT_SPECIALS,
    alphabet: str = DNABERT_ALPHABET,
    trailing_specials: Sequence[str] = (),
    pad_token: str | None = "[PAD]",
    unk_token: str | None = "[UNK]",
    cls_token: str | None = "[CLS]",
    sep_token: str | None = "[SEP]",
    mask_token: str | None = "[MASK]",
) -> KmerVocabulary:
    """Build a k-mer vocabulary: ``specials``, the ``4**k`` k-mers, ``trailing_specials``.

    Parameters
    ----------
    k
        k-mer size, 1 to 6.
    specials, trailing_specials
        Special tokens placed before and after the k-mers.
    alphabet
        Base order of the k-mer list (lexicographic in it); ``"ATCG"`` is DNABERT's. Tokens
        are written with these letters, so ``"ACGU"`` gives RNA k-mers.
    pad_token, unk_token, cls_token, sep_token, mask_token
        Which special plays each role (``None``: no such role). Each must be in the specials.
    """
    if not isinstance(k, int | np.integer) or not 1 <= k <= 6:
        raise ValueError(f"k must be an integer from 1 to 6, got {k!r}")
    canon = _check_alphabet(alphabet)
    all_specials = list(specials) + list(trailing_specials)
    if len(set(all_specials)) != len(all_specials):
        raise ValueError(f"special tokens repeat: {all_specials}")
    roles = {
        "pad": pad_token,
        "unk": unk_token,
        "cls": cls_token,
        "sep": sep_token,
        "mask": mask_token,
    }
    for role, token in roles.items():
        if token is not None and token not in all_specials:
            raise ValueError(
                f"{role}_token {token!r} is not among the special tokens {all_specials}; "
                f"add it or pass {role}_token=None"
            )
    kmer_list = _kmer_tokens(k, alphabet)
    clash = set(kmer_list) & set(all_specials)
    if clash:
        raise ValueError(f"special tokens {sorted(clash)} collide with k-mers")
    tokens = tuple(list(specials) + kmer_list + list(trailing_specials))
    index = {t: i for i, t in enumerate(tokens)}
    # ACGT rank (as in course_lib.encoding.kmer_ids) -> id of the same k-mer in this alphabet
    to_alphabet = str.maketrans(canon, alphabet)
    lookup = np.array([index[m.translate(to_alphabet)] for m in kmer_vocabulary(k)], dtype=np.int64)
    return KmerVocabulary(k, alphabet, tokens, roles, index, lookup)


def read_vocabulary(path: str | Path, k: int, **roles: str | None) -> KmerVocabulary:
    """Read a ``vocab.txt`` and check it is a k-mer vocabulary this module can reproduce.

    The specials before and after the k-mer block, and the block's alphabet order, are taken
    from the file; ``roles`` are passed to :func:`build_vocabulary` (DNABERT's by default).
    Raises ``ValueError`` when the file is not specials + all ``4**k`` k-mers in one order.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "vocab.txt"
    if not path.exists():
        raise FileNotFoundError(f"no vocabulary file at {path}")
    tokens = path.read_text().splitlines()
    is_kmer = [len(t) == k and set(t.upper()) <= set("ACGTU") for t in tokens]
    first = is_kmer.index(True) if any(is_kmer) else -1
    if first < 0 or sum(is_kmer) != 4**k:
        raise ValueError(f"{path} does not hold all {4**k} {k}-mers (found {sum(is_kmer)})")
    block = tokens[first : first + 4**k]
    alphabet = "".join(dict.fromkeys("".join(block[i * 4 ** (k - 1)][0] for i in range(4))))
    vocab = build_vocabulary(
        k,
        specials=tokens[:first],
        alphabet=alphabet,
        trailing_specials=tokens[first + 4**k :],
        **roles,
    )
    if list(vocab.tokens) != tokens:
        raise ValueError(f"{path} lists the {k}-mers in an order that is not lexicographic")
    return vocab


def kmer_string(seq: str, k: int, rna: bool = False) -> str:
    """Space-separated overlapping k-mers (DNABERT's ``seq2kmer``), upper case.

    The text a Hugging Face tokenizer on a :class:`KmerVocabulary` expects: DNA letters by
    default, RNA letters (T read as U) with ``rna=True`` for a vocabulary over ``"ACGU"``.
    """
    seq = seq.upper()
    seq = seq.replace("T", "U") if rna else seq.replace("U", "T")
    return " ".join(seq[i : i + k] for i in range(len(seq) - k + 1))


def mask_tokens(
    input_ids: torch.Tensor,
    vocab: KmerVocabulary,
    probability: float = 0.15,
    span: int | None = None,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Masked-language-model corruption in the BERT 80/10/10 recipe, with k-mer spans.

    Overlapping k-mers give a masked token away through its neighbours, so DNABERT masks
    ``span`` contiguous tokens around each chosen centre; spans that overlap merge into one.
    The 80/10/10 decision is drawn once per (merged) span: a span is all mask, all random
    k-mers (each token drawn independently from the ``4**k`` k-mers) or all kept. DNABERT's
    ``run_pretrain.py`` draws it per token instead, which leaves about a fifth of the tokens
    of a masked span visible and lets them reveal their masked neighbours. With ``span = 1``
    (k = 1, chapter 5) every token is its own span: the classic per-token recipe. Special and
    pad tokens are never masked. Introduced in chapter 3, used by chapter 5.

    Parameters
    ----------
    input_ids
        ``[n, T]`` ids from :meth:`KmerVocabulary.encode`.
    probability
        About this fraction of the k-mer tokens ends up masked (span centres are drawn with
        ``probability / span``; overlapping spans make it a little less).
    span
        Contiguous tokens masked per centre; default ``vocab.k``.
    generator
        Source of randomness; the same seed gives the same corruption.

    Returns
    -------
    (corrupted_ids, labels)
        Both ``[n, T]``; labels hold the original id where masked and ``-100`` elsewhere.
    """
    if not 0 < probability < 1:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    span = vocab.k if span is None else int(span)
    if span < 1:
        raise ValueError(f"span must be a positive number of tokens, got {span}")
    device = input_ids.device
    ids = input_ids.cpu()
    maskable = ~torch.isin(ids, torch.from_numpy(vocab.special_ids))
    centres = (torch.rand(ids.shape, generator=generator) < probability / span) & maskable
    group = _span_groups(centres, span)
    chosen = (group >= 0) & maskable
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE_INDEX))
    n_groups = int(group.max()) + 1 if chosen.any() else 0
    draw = torch.rand(n_groups, generator=generator)[group.clamp(min=0)]
    corrupted = ids.clone()
    corrupted[chosen & (draw < 0.8)] = vocab.mask_id
    swap = chosen & (draw >= 0.8) & (draw < 0.9)
    kmers = torch.from_numpy(vocab.kmer_lookup)
    random_kmers = kmers[torch.randint(len(kmers), ids.shape, generator=generator)]
    corrupted[swap] = random_kmers[swap]
    return corrupted.to(device), labels.to(device)


def _span_groups(centres: torch.Tensor, span: int) -> torch.Tensor:
    """``[n, T]`` span number of each token covered by a centre's window, ``-1`` elsewhere.

    The window of centre ``c`` is ``c - span // 2 .. c - span // 2 + span - 1``; windows that
    overlap (centres less than ``span`` apart in one row) share one number.
    """
    n, width = centres.shape
    row, col = torch.nonzero(centres, as_tuple=True)  # row-major, so sorted
    flat = row * (width + span) + col  # rows never come within ``span`` of each other
    new = torch.ones_like(flat, dtype=torch.bool)
    new[1:] = flat[1:] - flat[:-1] >= span
    centre_group = torch.full((n, width), -1, dtype=torch.long)
    centre_group[row, col] = torch.cumsum(new.long(), 0) - 1
    group = torch.full((n, width), -1, dtype=torch.long)
    for shift in range(-(span // 2), span - span // 2):
        lo, hi = max(shift, 0), width + min(shift, 0)
        group[:, lo:hi] = torch.maximum(group[:, lo:hi], centre_group[:, lo - shift : hi - shift])
    return group
