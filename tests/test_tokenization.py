"""Tests of course_lib.tokenization: DNABERT vocabulary order, encoding, HF parity, masking."""

from itertools import product

import numpy as np
import pytest
import torch

from course_lib.tokenization import (
    ESM_STYLE,
    IGNORE_INDEX,
    build_vocabulary,
    kmer_string,
    mask_tokens,
    read_vocabulary,
)

# First 21 lines of DNABERT's bert-config-3/vocab.txt (jerryji1993/DNABERT).
DNABERT3_HEAD = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "AAA", "AAT", "AAC", "AAG", "ATA", "ATT", "ATC", "ATG",
    "ACA", "ACT", "ACC", "ACG", "AGA", "AGT", "AGC", "AGG",
]  # fmt: skip


def write_dnabert_vocab(folder, k):
    """Write a vocab.txt the way DNABERT's files are laid out, without the module under test."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tokens += ["".join(p) for p in product("ATCG", repeat=k)]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(tokens))
    return folder


def random_seqs(rng, n, low, high, alphabet="ACGT"):
    return ["".join(rng.choice(list(alphabet), rng.integers(low, high))) for _ in range(n)]


def test_dnabert_vocabulary_order_and_size():
    vocab = build_vocabulary(3)
    assert list(vocab.tokens[:21]) == DNABERT3_HEAD
    assert vocab.tokens[-1] == "GGG" and len(vocab) == 69
    assert len(build_vocabulary(6)) == 4101
    assert build_vocabulary(6).tokens[5:9] == ("AAAAAA", "AAAAAT", "AAAAAC", "AAAAAG")
    assert vocab.pad_id == 0 and vocab.mask_id == 4
    assert vocab.special_ids.tolist() == [0, 1, 2, 3, 4]


def test_written_vocab_matches_dnabert_file(tmp_path):
    for k in (3, 4, 6):
        reference = write_dnabert_vocab(tmp_path / f"ref{k}", k)
        ours = build_vocabulary(k).write(tmp_path / f"ours{k}")
        assert ours.read_text().split() == (reference / "vocab.txt").read_text().split()
        assert read_vocabulary(reference, k).tokens == build_vocabulary(k).tokens


def test_encode_exact_ids_and_mask():
    vocab = build_vocabulary(3)
    batch = vocab.encode(["AATCG", "acgtnac", "ACGUA"])
    # AAT=6, ATC=11, TCG=32; ACG=16, CGT=50, GTA=57; N-containing k-mers are [UNK]=1
    assert batch.input_ids.tolist() == [
        [2, 6, 11, 32, 3, 0, 0],
        [2, 16, 50, 1, 1, 1, 3],
        [2, 16, 50, 57, 3, 0, 0],
    ]
    assert batch.attention_mask.tolist() == [[1] * 5 + [0] * 2, [1] * 7, [1] * 5 + [0] * 2]
    plain = vocab.encode(["AATCG"], add_special_tokens=False, max_length=4)
    assert plain.input_ids.tolist() == [[6, 11, 32, 0]]
    assert plain.attention_mask.tolist() == [[1, 1, 1, 0]]


def test_encode_length_errors_and_truncation():
    vocab = build_vocabulary(3)
    with pytest.raises(ValueError, match="truncate=True"):
        vocab.encode(["ACGTACGT"], max_length=5)
    cut = vocab.encode(["AATCGAA"], max_length=4, truncate=True)
    assert cut.input_ids.tolist() == [[2, 6, 11, 3]]
    with pytest.raises(ValueError, match="unknown character"):
        vocab.encode(["ACGRT"])


@pytest.mark.parametrize("k", [3, 5])
def test_hf_bert_tokenizer_gives_identical_ids(tmp_path, k):
    from transformers import BertTokenizer

    folder = write_dnabert_vocab(tmp_path / "dnabert", k)
    hf = BertTokenizer.from_pretrained(str(folder), do_lower_case=False)
    vocab = build_vocabulary(k)
    rng = np.random.default_rng(k)
    seqs = random_seqs(rng, 40, 8, 30, "ACGTN")
    ours = vocab.encode(seqs, max_length=32)
    theirs = hf([kmer_string(s, k) for s in seqs], padding="max_length", max_length=32)
    np.testing.assert_array_equal(ours.input_ids, np.array(theirs["input_ids"]))
    np.testing.assert_array_equal(ours.attention_mask, np.array(theirs["attention_mask"]))
    built = vocab.hf_tokenizer(tmp_path / "built")
    assert (
        built(kmer_string(seqs[0], k))["input_ids"]
        == theirs["input_ids"][0][: ours.attention_mask[0].sum()]
    )


def test_esm_style_vocabulary_k1(tmp_path):
    vocab = build_vocabulary(1, alphabet="ACGU", **ESM_STYLE)
    assert vocab.tokens == ("<cls>", "<pad>", "<eos>", "<unk>", "A", "C", "G", "U", "<mask>")
    batch = vocab.encode(["ACGUN", "AU"])
    assert batch.input_ids.tolist() == [[0, 4, 5, 6, 7, 3, 2], [0, 4, 7, 2, 1, 1, 1]]
    hf = vocab.hf_tokenizer(tmp_path)
    ids = hf(
        [kmer_string(s, 1, rna=True) for s in ["ACGUN", "AU"]], padding="max_length", max_length=7
    )
    assert ids["input_ids"] == batch.input_ids.tolist()


def test_vocabulary_errors(tmp_path):
    with pytest.raises(ValueError, match="1 to 6"):
        build_vocabulary(7)
    with pytest.raises(ValueError, match="four bases"):
        build_vocabulary(3, alphabet="ACGX")
    with pytest.raises(ValueError, match="mask_token"):
        build_vocabulary(3, specials=("[PAD]", "[UNK]", "[CLS]", "[SEP]"))
    (tmp_path / "vocab.txt").write_text("[PAD]\nAAA\nAAC\n")
    with pytest.raises(ValueError, match="64"):
        read_vocabulary(tmp_path, 3)
    with pytest.raises(KeyError, match="ZZZ"):
        build_vocabulary(3).id_of("ZZZ")


def test_mask_tokens_spans_and_specials():
    vocab = build_vocabulary(3)
    ids = torch.from_numpy(vocab.encode(["ACGT" * 50] * 64, max_length=210).input_ids)
    corrupted, labels = mask_tokens(ids, vocab, 0.15, generator=torch.Generator().manual_seed(0))
    masked = labels != IGNORE_INDEX
    special = torch.isin(ids, torch.tensor([0, 1, 2, 3, 4]))
    assert not (masked & special).any()
    assert torch.equal(labels[masked], ids[masked])
    assert torch.equal(corrupted[~masked], ids[~masked])
    fraction = masked.float().sum() / (~special).float().sum()
    assert 0.10 < fraction < 0.17
    assert 0.7 < (corrupted[masked] == vocab.mask_id).float().mean() < 0.9
    # masked positions come in runs of k = 3 (or longer where spans touch)
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, masked[0].int().numpy(), 0])))[::2]
    assert runs.min() >= 3


def _random_kmer_ids(vocab, n=400, length=120, seed=0):
    rng = np.random.default_rng(seed)
    seqs = ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]
    return torch.from_numpy(vocab.encode(seqs).input_ids)


def _runs(row: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of True in a 1-D boolean array."""
    edges = np.flatnonzero(np.diff(np.r_[0, row.astype(int), 0]))
    return list(zip(edges[::2], edges[1::2], strict=True))


def test_mask_tokens_draws_one_decision_per_span():
    vocab = build_vocabulary(3)
    ids = _random_kmer_ids(vocab, n=1000)
    corrupted, labels = mask_tokens(ids, vocab, 0.06, generator=torch.Generator().manual_seed(1))
    masked = (labels != IGNORE_INDEX).numpy()
    is_mask = (corrupted == vocab.mask_id).numpy()
    kept = (corrupted == ids).numpy()
    decisions = []
    for i in range(len(ids)):
        for start, stop in _runs(masked[i]):
            if stop - start != 3:  # only isolated spans of one centre are unambiguous
                continue
            span_mask, span_kept = is_mask[i, start:stop], kept[i, start:stop]
            assert span_mask.all() or not span_mask.any(), "a span mixes [MASK] and visible"
            if span_mask.all():
                decisions.append("mask")
            else:
                decisions.append("kept" if span_kept.all() else "random")
    decisions = np.array(decisions)
    assert len(decisions) > 1500
    assert abs((decisions == "mask").mean() - 0.8) < 0.04
    assert abs((decisions == "kept").mean() - 0.1) < 0.03
    assert abs((decisions == "random").mean() - 0.1) < 0.03
    # a random span writes k-mers that are (nearly always) not the original ones
    random_spans = (masked & ~is_mask & ~kept).sum()
    assert random_spans > 0.8 * 3 * (decisions == "random").sum()


def test_mask_tokens_single_nucleotides_decide_per_token():
    vocab = build_vocabulary(1, alphabet="ACGU", **ESM_STYLE)
    ids = _random_kmer_ids(vocab, n=200, length=100)
    corrupted, labels = mask_tokens(ids, vocab, 0.5, generator=torch.Generator().manual_seed(2))
    masked = labels != IGNORE_INDEX
    is_mask = corrupted == vocab.mask_id
    pairs = masked[:, 1:] & masked[:, :-1]
    both = (is_mask[:, 1:] & is_mask[:, :-1])[pairs].float().mean()
    assert abs(both - 0.64) < 0.02  # independent decisions: 0.8 ** 2, not 0.8
    assert abs(is_mask[masked].float().mean() - 0.8) < 0.01
    random_kmers = corrupted[masked & ~is_mask]
    assert torch.isin(random_kmers, torch.from_numpy(vocab.kmer_lookup)).all()


def test_mask_tokens_is_seeded_and_keeps_labels():
    vocab = build_vocabulary(3)
    ids = _random_kmer_ids(vocab, n=50)
    first = mask_tokens(ids, vocab, generator=torch.Generator().manual_seed(3))
    again = mask_tokens(ids, vocab, generator=torch.Generator().manual_seed(3))
    other = mask_tokens(ids, vocab, generator=torch.Generator().manual_seed(4))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert not torch.equal(first[1], other[1])
    corrupted, labels = first
    masked = labels != IGNORE_INDEX
    assert torch.equal(labels[masked], ids[masked])
    assert torch.equal(corrupted[~masked], ids[~masked])
    with pytest.raises(ValueError, match="span"):
        mask_tokens(ids, vocab, span=0)
