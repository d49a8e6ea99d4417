"""A frozen backbone's nucleotide states, computed once per UTR (chapter 5).

When a pretrained arm of the sample-efficiency curve keeps its backbone frozen
(``freeze_backbone``), every training step would push the same UTRs through the same fixed
weights again. :class:`FrozenStates` runs each distinct UTR through the backbone once
(:meth:`~course_lib.models.utr_lm.UTRLMForMRL.head_inputs`, eval mode, no gradients) and hands
the ResNet head its input, ``[n, W, H]``, for any list of those UTRs; training the head on
them is training the frozen model (tested), tens of times fewer backbone passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from course_lib.models.utr_lm import UTRLMForMRL

#: UTRs per backbone pass.
STATE_BATCH = 256


@dataclass(frozen=True)
class FrozenStates:
    """Head inputs of a frozen backbone for a fixed set of UTRs.

    Attributes
    ----------
    index
        ``{utr: row of states}``.
    states
        ``[u, W, H]`` float32: every nucleotide's last-layer state, zero-padded to ``W``
        positions, one row per distinct UTR.
    """

    index: dict[str, int]
    states: torch.Tensor

    @classmethod
    def compute(
        cls,
        model: UTRLMForMRL,
        utrs: Sequence[str],
        device: torch.device | str = "cpu",
        show_progress: bool = True,
        description: str = "frozen backbone states",
    ) -> FrozenStates:
        """Run every distinct UTR of ``utrs`` through ``model``'s backbone once (eval mode,
        batches of similar length, :data:`STATE_BATCH` UTRs each)."""
        from course_lib.models.utr_lm import MAX_TOKENS, encode_utrs, utr_vocabulary
        from course_lib.progress import progress

        if model.config.head != "resnet":
            raise ValueError(
                f"frozen states feed the 'resnet' head, this model has {model.config.head!r}; "
                "build it with mrl_model(..., head='resnet')"
            )
        distinct = sorted(set(utrs), key=lambda u: (len(u), u))
        if not distinct:
            raise ValueError("no UTRs to compute frozen states for")
        was_training, device = model.training, torch.device(device)
        model.to(device).eval()
        vocab, parts = utr_vocabulary(), []
        starts = range(0, len(distinct), STATE_BATCH)
        with torch.no_grad():
            for start in progress(starts, desc=description, disable=not show_progress):
                tokens = encode_utrs(distinct[start : start + STATE_BATCH], vocab, MAX_TOKENS)
                width = int(tokens.attention_mask.sum(1).max())
                batch = {k: v[:, :width].to(device) for k, v in tokens.to_torch().items()}
                parts.append(model.head_inputs(**batch).float().cpu())
        model.train(was_training)
        return cls({u: i for i, u in enumerate(distinct)}, torch.cat(parts))

    def __call__(self, utrs: Sequence[str]) -> torch.Tensor:
        """``[n, W, H]`` head inputs of ``utrs``, in their order."""
        missing = [u for u in utrs if u not in self.index]
        if missing:
            raise KeyError(
                f"{len(missing)} UTR(s) have no frozen state (e.g. {missing[0][:30]!r}); "
                "compute the states on every UTR the curve trains, selects and tests on"
            )
        return self.states[np.fromiter((self.index[u] for u in utrs), int, len(utrs))]
