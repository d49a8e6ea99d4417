"""Tests of course_lib.paths.resolve_checkpoint: one meaning for every chapter's checkpoint."""

from __future__ import annotations

import pytest

from course_lib.paths import resolve_checkpoint


def test_resolve_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    assert resolve_checkpoint(None) is None
    assert resolve_checkpoint("default", "RNA-FM_pretrained.pth") == (
        tmp_path / "ckpt" / "RNA-FM_pretrained.pth"
    )
    assert resolve_checkpoint("DNA_bert_3") == tmp_path / "ckpt" / "DNA_bert_3"
    assert resolve_checkpoint(tmp_path / "abs.pth") == tmp_path / "abs.pth"
    with pytest.raises(ValueError, match="no default"):
        resolve_checkpoint("default")
