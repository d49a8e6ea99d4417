"""The RNA-FM backbone (Chen et al. 2022) through the ``rna-fm`` package (``import fm``).

:func:`load_rnafm` reads a local checkpoint in the real ``RNA-FM_pretrained.pth`` format
(a dict with an ``argparse.Namespace`` under ``"args"`` and a fairseq-style state dict under
``"model"``). It works on torch >= 2.6, where ``torch.load`` refuses a pickled ``Namespace``
unless it is allow-listed, and it never downloads anything: ``fm.pretrained.rna_fm_t12``
silently fetches 1.1 GB when its path is missing, and decides by the file's *name* whether a
contact-regression file must sit next to it, so it is not called here.

:func:`build_small_rnafm` writes a randomly initialised RNA-FM-architecture model (few
layers, small width) in exactly that format, so the same loader is exercised in tests and in
the ``smoke`` profile. Its embeddings carry no pretrained knowledge.
"""

from __future__ import annotations

import argparse
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import fm
import numpy as np
import torch
from torch import nn

from course_lib.encoding import to_codes
from course_lib.models.checkpoint import checkpoint_error, load_torch_file
from course_lib.registry import sha256sum
from course_lib.training import select_device

CHECKPOINT_NAME = "RNA-FM_pretrained.pth"
CHECKPOINT_URL = "https://proj.cse.cuhk.edu.hk/rnafm/api/download?filename=RNA-FM_pretrained.pth"
PROJECT_URL = "https://github.com/ml4bio/RNA-FM"
#: Architecture of the published model: 12 layers, width 640, 20 heads, FFN 5120.
RNAFM_T12 = {"layers": 12, "embed_dim": 640, "ffn_embed_dim": 5120, "attention_heads": 20}
#: Set in the ``args`` of checkpoints written by :func:`build_small_rnafm`.
UNTRAINED_FLAG = "course_untrained"


@dataclass
class RNAFMBackbone:
    """A frozen RNA-FM model with its alphabet and where it came from.

    Attributes
    ----------
    model
        ``fm.BioBertModel`` in eval mode with ``requires_grad`` off.
    alphabet
        ``fm.Alphabet`` (RNA theme): ``<cls>`` prepended, ``<eos>`` appended.
    checkpoint
        The file it was loaded from.
    checkpoint_sha256
        sha256 of that file (keys the embedding cache).
    pretrained
        ``False`` for checkpoints written by :func:`build_small_rnafm`.
    """

    model: nn.Module
    alphabet: fm.Alphabet
    checkpoint: Path
    checkpoint_sha256: str
    pretrained: bool

    @property
    def embed_dim(self) -> int:
        """Width of the embeddings (640 for RNA-FM)."""
        return int(self.model.args.embed_dim)

    @property
    def num_layers(self) -> int:
        """Number of transformer layers; the last one's output is the embedding."""
        return int(self.model.args.layers)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def label(self) -> str:
        """What the embeddings are, for tables: pretrained RNA-FM, or random weights."""
        return "RNA-FM, pretrained" if self.pretrained else "RNA-FM architecture, random weights"

    def describe(self) -> str:
        kind = (
            "pretrained"
            if self.pretrained
            else "UNTRAINED (random weights, no pretrained knowledge)"
        )
        return (
            f"RNA-FM backbone from {self.checkpoint.name}: {self.num_layers} layers, width "
            f"{self.embed_dim}, {sum(p.numel() for p in self.model.parameters()):,} "
            f"parameters, {kind}"
        )

    def tokenize(self, seqs: Sequence[str]) -> tuple[torch.Tensor, np.ndarray]:
        """Token ids ``[n, L_max + 2]`` (``<cls>`` seq ``<eos>``, then ``<pad>``), lengths ``[n]``.

        DNA or RNA alphabet; T is read as U; N maps to RNA-FM's ``N`` token.
        """
        codes = to_codes(seqs, alphabet="ACGT")  # [n, L]: 0..3, 4 = N, -1 = padding
        lengths = (codes >= 0).sum(axis=1)
        lut = np.array([self.alphabet.get_idx(t) for t in "ACGUN"], dtype=np.int64)
        body = np.where(codes >= 0, lut[np.maximum(codes, 0)], self.alphabet.padding_idx)
        tokens = np.full((len(codes), codes.shape[1] + 2), self.alphabet.padding_idx, np.int64)
        tokens[:, 0] = self.alphabet.cls_idx
        tokens[:, 1:-1] = body
        tokens[np.arange(len(codes)), lengths + 1] = self.alphabet.eos_idx
        return torch.from_numpy(tokens), lengths

    @torch.no_grad()
    def embed(self, seqs: Sequence[str]) -> torch.Tensor:
        """Last-layer embeddings ``[n, L_max, embed_dim]`` without ``<cls>``/``<eos>``.

        Positions beyond a sequence's length are zero.
        """
        tokens, lengths = self.tokenize(seqs)
        out = self.model(tokens.to(self.device), repr_layers=[self.num_layers])
        emb = out["representations"][self.num_layers][:, 1:-1]
        valid = (
            torch.arange(emb.shape[1], device=emb.device)[None, :]
            < torch.as_tensor(lengths, device=emb.device)[:, None]
        )
        return emb * valid[..., None]


def missing_checkpoint_message(path: Path) -> str:
    return (
        f"no RNA-FM checkpoint at {path}. Download {CHECKPOINT_NAME} (about 1.1 GB) by hand "
        f"from {CHECKPOINT_URL} (linked from {PROJECT_URL}), save it anywhere and pass its "
        "path; the course never downloads weights on its own. To run without it, pass "
        "checkpoint=None: a small untrained RNA-FM-architecture model is built instead."
    )


def _read_checkpoint(path: Path) -> dict:
    expected = f"an RNA-FM checkpoint ({CHECKPOINT_NAME} format)"
    fix = f"Pass the path of {CHECKPOINT_NAME} ({CHECKPOINT_URL}), or None for a small model."
    data = load_torch_file(path, expected, fix, safe_globals=[argparse.Namespace])
    if not (
        isinstance(data, dict)
        and isinstance(data.get("args"), argparse.Namespace)
        and isinstance(data.get("model"), dict)
    ):
        keys = sorted(data) if isinstance(data, dict) else type(data).__name__
        raise checkpoint_error(
            path,
            expected,
            f"expected a dict with an argparse.Namespace under 'args' and a state dict under "
            f"'model', found {keys}",
            fix,
        )
    return data


def load_rnafm(path: str | Path, device: str | torch.device = "cpu") -> RNAFMBackbone:
    """Load a local RNA-FM checkpoint (real or :func:`build_small_rnafm`) and freeze it.

    Parameters
    ----------
    path
        An ``RNA-FM_pretrained.pth``-format file.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``...

    Raises
    ------
    FileNotFoundError
        The path does not exist; the message says where to get the weights.
    course_lib.models.checkpoint.CheckpointError
        The file is not an RNA-FM checkpoint (garbage, truncated, another model).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(missing_checkpoint_message(path))
    data = _read_checkpoint(path)
    # the package's own core loader: renames fairseq keys, checks for missing/unexpected ones
    with warnings.catch_warnings():  # RNA-FM ships no contact-regression weights by design
        warnings.filterwarnings("ignore", message="Regression weights not found")
        model, alphabet = fm.pretrained.load_model_and_alphabet_core("rna-fm", data, None, "rna")
    model.eval().requires_grad_(False)
    device = select_device(device)
    return RNAFMBackbone(
        model=model.to(device),
        alphabet=alphabet,
        checkpoint=path,
        checkpoint_sha256=sha256sum(path),
        pretrained=not getattr(data["args"], UNTRAINED_FLAG, False),
    )


def build_small_rnafm(
    path: str | Path,
    layers: int = 2,
    embed_dim: int = 64,
    ffn_embed_dim: int = 128,
    attention_heads: int = 4,
    seed: int = 0,
) -> Path:
    """Write a randomly initialised RNA-FM-architecture checkpoint in the real format.

    The file holds ``{"args": Namespace(arch="roberta_large", encoder_layers=...,
    encoder_embed_dim=..., ...), "model": {"encoder.sentence_encoder.<param>": ...,
    "encoder.lm_head.<param>": ...}}`` like ``RNA-FM_pretrained.pth`` (a fairseq RoBERTa
    checkpoint), plus ``course_untrained=True`` in ``args``.
    """
    if embed_dim % attention_heads:
        raise ValueError("embed_dim must be a multiple of attention_heads")
    path = Path(path)
    alphabet = fm.Alphabet.from_architecture("roberta_large", theme="rna")
    model_args = argparse.Namespace(
        arch="roberta_large",
        layers=layers,
        embed_dim=embed_dim,
        ffn_embed_dim=ffn_embed_dim,
        attention_heads=attention_heads,
        max_positions=1024,
        emb_layer_norm_before=False,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = fm.BioBertModel(model_args, alphabet)
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("contact_head."):
            continue  # RNA-FM ships no contact regression weights
        prefix = "encoder." if key.startswith("lm_head.") else "encoder.sentence_encoder."
        state[prefix + key] = value.clone()
    args = argparse.Namespace(
        arch="roberta_large",
        encoder_layers=layers,
        encoder_embed_dim=embed_dim,
        encoder_ffn_embed_dim=ffn_embed_dim,
        encoder_attention_heads=attention_heads,
        max_positions=1024,
        **{UNTRAINED_FLAG: True},
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    torch.save({"args": args, "model": state}, part)
    part.replace(path)
    return path


def get_backbone(
    checkpoint: str | Path | None,
    folder: str | Path,
    device: str | torch.device = "cpu",
    **small_kwargs: int,
) -> RNAFMBackbone:
    """The real backbone from ``checkpoint``, or (``None``) a small untrained one.

    With ``checkpoint=None`` the small model is written once to
    ``folder/RNA-FM_small-untrained.pth`` (its hyper-parameters in ``small_kwargs``) and
    loaded through :func:`load_rnafm` like the real file.
    """
    if checkpoint is not None:
        return load_rnafm(checkpoint, device)
    tag = "-".join(f"{k}{v}" for k, v in sorted(small_kwargs.items()))
    path = Path(folder) / f"RNA-FM_small-untrained{('-' + tag) if tag else ''}.pth"
    if not path.exists():
        build_small_rnafm(path, **small_kwargs)
    return load_rnafm(path, device)
