"""The synthetic chromatin task, the teacher's seeded filters and disjoint genome windows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_lib.chapters.ch4_beluga_multiplexer import (
    pretrain_teacher,
    seed_first_layer,
    teacher_pearson,
)
from course_lib.chapters.ch4_chromatin import (
    ChromatinTask,
    chromatin_dataset,
    encode_windows,
    make_task,
    plant_motifs,
    regions_text,
    sample_sequences,
    site_mismatches,
    split_regions,
    window_sampler,
)
from course_lib.chapters.ch4_config import Ch4Config
from course_lib.encoding import reverse_complement
from course_lib.fasta import Genome, write_fasta
from course_lib.models.beluga import Beluga
from course_lib.profiles import PROFILE_NAMES


def test_site_mismatches_on_both_strands():
    # AAAC and its reverse complement GTTT
    mm = site_mismatches(["TTTTGTTTTT", "GGTAAAAC"], "AAAC")
    assert mm.shape == (2, 2, 7)
    assert mm[0, 1].tolist() == [1, 2, 2, 2, 0, 1, 1]  # GTTT at offset 4
    assert mm[0, 0].min() == 4
    assert mm[1, 0, 4] == 0  # AAAC at offset 4
    assert site_mismatches(["NAAC"], "AAAC")[0, 0, 0] == 1  # N is a mismatch


def test_labels_follow_the_planted_rules():
    task = ChromatinTask(("AAAC", "GGTA"), cooperative=(0, 1), penalty=2.5)
    y = task.labels(["TTTTGTTTTT", "GGTAAAAC", "CCCCCCCC"])
    assert y.shape == (3, 3) and y.dtype == np.float32
    assert y[0, 0] == pytest.approx(1.0, abs=1e-6)  # reverse-strand exact site
    assert y[1, 0] == pytest.approx(1.0, abs=1e-6) and y[1, 1] == pytest.approx(1.0, abs=1e-6)
    assert y[2].max() < 0.05  # no site within one mismatch
    np.testing.assert_allclose(y[:, 2], y[:, 0] * y[:, 1], rtol=1e-6)
    # one site with one mismatch (forward) and one with four (TTTT on the reverse strand)
    single = ChromatinTask(("AAAA",), penalty=2.5).labels(["AAAG"])[0, 0]
    assert single == pytest.approx(1 - (1 - np.exp(-2.5)) * (1 - np.exp(-10.0)), rel=1e-5)
    assert task.feature_names == ["AAAC motif", "GGTA motif", "AAAC + GGTA"]
    assert task.n_features == 3


def test_make_task_draws_distinct_non_palindromic_motifs():
    task = make_task(8, np.random.default_rng(0), motif_length=6)
    assert task.n_features == 8 and len(task.motifs) == 7 and task.cooperative == (0, 1)
    sites = set(task.motifs) | {reverse_complement(m) for m in task.motifs}
    assert len(sites) == 14
    assert all(len(m) == 6 and m != reverse_complement(m) for m in task.motifs)
    assert make_task(3, np.random.default_rng(0), cooperative=False).n_features == 3
    with pytest.raises(ValueError, match="at least 3"):
        make_task(2, np.random.default_rng(0))


def test_planting_with_probability_one_switches_every_feature_on():
    rng = np.random.default_rng(0)
    task = make_task(4, rng)
    backgrounds = ["C" * 30] * 5
    planted = plant_motifs(backgrounds, task, rng, probability=1.0)
    assert all(len(s) == 30 for s in planted)
    assert task.labels(planted)[:, :3].min() > 0.99
    assert plant_motifs(backgrounds, task, rng, probability=0.0) == backgrounds
    data = chromatin_dataset(backgrounds, task, rng, probability=1.0)
    x, y = data.tensors
    assert x.shape == (5, 4, 30) and y.shape == (5, 4)
    assert torch.equal(x.sum(1), torch.ones(5, 30))
    with pytest.raises(ValueError, match="too short"):
        plant_motifs(["C" * 17], task, rng, probability=1.0)


def test_seeded_filters_fire_on_their_motif():
    rng = np.random.default_rng(0)
    task = make_task(3, rng)
    teacher = Beluga(320, 3, (6, 8, 8), 8)
    assert seed_first_layer(teacher, task.motifs) == 4
    conv = teacher.model[0][0]
    for i, site in enumerate([task.motifs[0], reverse_complement(task.motifs[0])]):
        x = encode_windows(["TTTT" + site + "TTTT"]).unsqueeze(2)
        with torch.no_grad():
            response = conv(x)[0, i, 0]
        assert response.argmax() == 3  # site at 4 sits at offset 1 of the 8-wide filter
        assert response.max() > 2.0
    with pytest.raises(ValueError, match="widen"):
        seed_first_layer(Beluga(320, 3, (2, 8, 8), 8), task.motifs)


def test_teacher_learns_the_planted_task():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    task = make_task(3, rng)
    backgrounds = ["".join(rng.choice(list("ACGT"), 320)) for _ in range(600)]
    train = chromatin_dataset(backgrounds[:500], task, rng)
    val = chromatin_dataset(backgrounds[500:], task, rng)
    teacher = Beluga(320, 3, (8, 8, 16), 16, dropout=(0.0, 0.0, 0.0))
    seed_first_layer(teacher, task.motifs)
    result = pretrain_teacher(teacher, train, val, epochs=4, batch_size=32, lr=3e-3)
    assert len(result.history) == 4
    assert result.history["val_loss"].min() < result.history["val_loss"].iloc[0]
    assert max(teacher_pearson(teacher, val)) > 0.3  # an untrained teacher scores ~0
    assert not teacher.training


def test_split_regions_by_coordinates_are_disjoint():
    regions = split_regions({"chr22": 300_000})
    assert regions == {
        "train": {"chr22": (0, 210_000)},
        "validation": {"chr22": (210_000, 255_000)},
        "test": {"chr22": (255_000, 300_000)},
    }
    with pytest.raises(ValueError, match="fractions"):
        split_regions({"chr22": 100}, fractions=(0.5, 0.5, 0.5))
    assert regions_text(regions) == (
        "train chr22:0-210,000; validation chr22:210,000-255,000; test chr22:255,000-300,000"
    )


def test_split_regions_by_chromosome_on_a_whole_genome():
    sizes = {"chr1": 1000, "chr8": 500, "chr9": 400, "chrX": 300, "chrUn_gl000220": 50}
    regions = split_regions(sizes)
    assert regions["train"] == {"chr1": (0, 1000), "chrX": (0, 300)}
    assert regions["validation"] == {"chr8": (0, 500)}
    assert regions["test"] == {"chr9": (0, 400)}


def test_windows_come_from_their_own_range(tmp_path):
    rng = np.random.default_rng(0)
    sequence = "".join(rng.choice(list("ACGT"), 3000))
    sequence = sequence[:2000] + "N" * 500 + sequence[2500:]
    path = write_fasta(tmp_path / "g.fa", ["chrT"], [sequence])
    genome = Genome(path)
    regions = split_regions(genome.chromosomes, fractions=(0.6, 0.2, 0.2))
    assert regions["test"] == {"chrT": (2400, 3000)}
    x = window_sampler(genome, regions["train"], 100)(6, rng)
    assert x.shape == (6, 4, 100) and torch.equal(x.sum(1), torch.ones(6, 100))
    # test-range windows overlapping the N block (2000-2500) are redrawn: at most 10 N
    test_windows = genome.sample_windows(20, 100, rng, chromosomes=regions["test"])
    assert all(2400 <= start and start + 100 <= 3000 for _, start, _ in test_windows)
    assert all(seq.count("N") <= 10 for _, _, seq in test_windows)
    backgrounds = sample_sequences(genome, {"chrT": (1950, 2600)}, 5, 100, rng)
    assert all(len(s) == 100 and "N" not in s for s in backgrounds)


def test_every_profile_resolves():
    for profile in PROFILE_NAMES:
        settings = Ch4Config.resolve(profile)
        assert settings.sequence_length >= 310
        assert settings.teacher_channels[0] >= 2 * (settings.n_features - 1)  # seeded filters
        assert settings.pool_size >= max(settings.fresh_windows, settings.batch_windows)
