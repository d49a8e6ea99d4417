"""The distributed path on CPU: two gloo processes against one process, a worker killed mid-run.

Two spawned processes (``torch.multiprocessing``, gloo) pretrain tiny UTR-LM and BERT models,
fine-tune a tiny UTR-LM on MRL (chapter 5's loop, frozen warm-up included) and train a small
classifier with :func:`course_lib.training.fit` (the loop of the heads and of chapter 3's folds),
with the same seed and global batch as the single process of this test; without dropout the
loss curves and final weights must agree to float rounding (:data:`TOLERANCE`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.multiprocessing as mp

from course_lib import distributed
from course_lib.atomic import atomic_path
from course_lib.chapters.ch5_mrl_finetuning import FinetuneRecipe, train_steps
from course_lib.distributed import TrainingJob
from course_lib.kmer_pretraining import pretrain_masked_kmers
from course_lib.launch import WorkerLost, run_job
from course_lib.models.bert import small_bert_config
from course_lib.models.utr_lm import (
    UTRLMForPretraining,
    encode_utrs,
    mrl_model,
    set_mfe_scale,
    utr_lm_config,
)
from course_lib.models.utr_lm import utr_vocabulary as utr_vocab
from course_lib.pretraining import OBJECTIVES, PretrainingData, pretrain
from course_lib.structure import FoldedRNA
from course_lib.token_batches import mrl_loader
from course_lib.tokenization import build_vocabulary
from course_lib.training import fit

#: Largest absolute difference allowed between the one- and two-process runs (losses and
#: weights): float32 sums taken in another order, over a few steps.
TOLERANCE = 2e-5
UTR_VOCAB = utr_vocab()
KMER_VOCAB = build_vocabulary(3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _utr_data(n: int, seed: int) -> PretrainingData:
    """Random UTRs of 20-36 nt with made-up hairpin structures and energies."""
    rng = np.random.default_rng(seed)
    seqs, structures = [], []
    for _ in range(n):
        length = int(rng.integers(20, 37))
        arm = int(rng.integers(0, length // 3))
        seqs.append("".join(rng.choice(list("ACGU"), length)))
        structures.append("(" * arm + "." * (length - 2 * arm) + ")" * arm)
    mfe = -rng.uniform(0, 12, n).astype(np.float32)
    return PretrainingData.from_sequences(seqs, UTR_VOCAB, FoldedRNA(seqs, structures, mfe), 64)


def utr_run(
    objectives: tuple[str, ...] = OBJECTIVES,
) -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Tiny UTR-LM pretraining (all three objectives): history and final weights."""
    train, val = _utr_data(44, 0), _utr_data(12, 1)
    sizes = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_length": 64}
    config = utr_lm_config(UTR_VOCAB, **sizes, dropout=0.0, head_dropout=0.0)
    config = set_mfe_scale(config, train.mfe.numpy())
    torch.manual_seed(0)
    model = UTRLMForPretraining(config)
    args = (model, UTR_VOCAB, train, val)
    options = {"steps": 6, "eval_every": 3, "batch_size": 12, "lr": 3e-3, "device": "cpu"}
    result = pretrain(*args, objectives=objectives, show_progress=False, **options)
    return result.history, model.state_dict()


def kmer_run() -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Tiny masked 3-mer pretraining of a BERT: history and final weights."""
    rng = np.random.default_rng(2)
    seqs = ["".join(rng.choice(list("ACGT"), 30)) for _ in range(40)]
    tokens = KMER_VOCAB.encode(seqs).to_torch()
    config = small_bert_config(KMER_VOCAB, 16, 1, 2, 32, tokens["input_ids"].shape[1], dropout=0.0)
    model, result = pretrain_masked_kmers(
        config,
        tokens["input_ids"],
        tokens["attention_mask"],
        KMER_VOCAB,
        steps=5,
        batch_size=10,
        log_every=1,
        device="cpu",
        show_progress=False,
    )
    return result.history, model.state_dict()


def finetune_run() -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """Tiny UTR-LM fine-tuned on made-up MRL by chapter 5's loop: 2 frozen steps, then all
    weights at two learning rates; history and final weights."""
    sizes = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_length": 64}
    config = utr_lm_config(UTR_VOCAB, **sizes, dropout=0.0, head_dropout=0.0)
    torch.manual_seed(0)
    model = mrl_model(config, pooling="mean", head_hidden=8, head_dropout=0.0)

    def loader(n: int, seed: int, shuffle: bool):
        rng = np.random.default_rng(seed)
        seqs = ["".join(rng.choice(list("ACGU"), rng.integers(20, 37))) for _ in range(n)]
        mrl = np.array([s.count("G") / len(s) for s in seqs], dtype=np.float32)
        return mrl_loader(encode_utrs(seqs, UTR_VOCAB, 64), mrl, 10, shuffle=shuffle, seed=0)

    recipe = FinetuneRecipe(lr=3e-3, backbone_lr_factor=0.5, frozen_steps=2, steps=6, eval_every=3)
    result = train_steps(model, loader(40, 3, True), loader(16, 4, False), recipe, "cpu", False)
    return result.history.drop(columns="seconds"), model.state_dict()


def fit_run() -> tuple[pd.DataFrame, dict[str, torch.Tensor]]:
    """A small classifier on made-up one-hot data trained by :func:`course_lib.training.fit`
    (ROC AUC on validation, a per-batch schedule, clipping); history and final weights."""
    rng = np.random.default_rng(5)
    x = torch.from_numpy(rng.normal(size=(70, 4, 12)).astype(np.float32))
    y = (x[:, 0].sum(1) > 0).float()
    data = torch.utils.data.TensorDataset(x, y)
    train = torch.utils.data.Subset(data, range(50))
    val = torch.utils.data.DataLoader(torch.utils.data.Subset(data, range(50, 70)), 20)
    generator = torch.Generator().manual_seed(0)
    loader = torch.utils.data.DataLoader(train, 12, shuffle=True, generator=generator)
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv1d(4, 6, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(60, 1)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.1, total_iters=15)

    def forward(net: torch.nn.Module, inputs: torch.Tensor) -> torch.Tensor:
        return net(inputs).squeeze(-1)

    def auc(truth: np.ndarray, scores: np.ndarray) -> float:
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(truth, scores))

    options = {"optimizer": optimizer, "scheduler": scheduler, "scheduler_per_batch": True}
    options.update(forward=forward, val_score=auc, grad_clip=1.0, show_progress=False)
    result = fit(model, loader, val, loss_fn=torch.nn.BCEWithLogitsLoss(), epochs=3, **options)
    return result.history.drop(columns="seconds"), model.state_dict()


def _all_runs() -> dict[str, tuple[pd.DataFrame, dict[str, torch.Tensor]]]:
    """Every run the two-rank test compares with one process."""
    runs = {"utr": utr_run(), "mlm": utr_run(("mlm",)), "kmer": kmer_run()}
    return runs | {"finetune": finetune_run(), "fit": fit_run()}


def _job(name: str, folder: Path) -> TrainingJob:
    """A launcher job: :func:`utr_run`, then rank 0 writes the weights (and logs the write)."""

    def build(device: torch.device, show_progress: bool) -> None:
        state = utr_run()[1]
        if distributed.is_main():
            with atomic_path(folder / "weights.pt") as part:
                torch.save(state, part)
            with open(folder.parent / "writes.log", "a") as log:
                log.write(f"{name} by rank {distributed.active().rank}\n")

    return TrainingJob(name, folder, build)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    """One rank: both runs (rank 0 saves them), a launcher job, then a job in which rank 1
    dies at its third update; rank 0 records the error it gets."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank))
    os.environ.update(WORLD_SIZE=str(world), LOCAL_RANK=str(rank), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    out = Path(out)
    with distributed.running(accumulation=2, timeout_s=60) as plan:
        runs = _all_runs()
        if plan.is_main:
            torch.save(runs, out / "runs.pt")
        run_job(_job("whole", out / "whole"), plan, show_progress=False)
        if rank == 1:
            _die_at_update(3)
        try:
            run_job(_job("killed", out / "killed"), plan, show_progress=False)
        except WorkerLost as err:
            (out / f"error{rank}.txt").write_text(str(err))
            raise


def _die_at_update(number: int) -> None:
    """Make this process exit abruptly in its ``number``-th optimizer update from now."""
    update, calls = distributed.sharded_update, []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == number:
            os._exit(3)
        return update(*args, **kwargs)

    distributed.sharded_update = dying


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory) -> tuple[Path, list[int | None]]:
    """The two-rank run of :func:`_worker`: its folder and each rank's exit code."""
    out = tmp_path_factory.mktemp("two_ranks")
    args = (2, _free_port(), str(out))
    context = mp.start_processes(_worker, args=args, nprocs=2, join=False, start_method="spawn")
    for process in context.processes:
        process.join(120)
    return out, [process.exitcode for process in context.processes]


def _max_difference(one: tuple, other: tuple, columns: list[str]) -> float:
    (h1, s1), (h2, s2) = one, other
    assert list(h1.columns) == list(h2.columns) and len(h1) == len(h2)
    curve = np.abs(h1[columns].to_numpy(float) - h2[columns].to_numpy(float)).max()
    weights = max(float((s1[k].float() - s2[k].float()).abs().max()) for k in s1)
    return max(float(curve), weights)


@pytest.fixture(scope="module")
def single() -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield _all_runs()
    torch.set_num_threads(threads)


def test_one_process_has_no_plan():
    assert distributed.active() is None and distributed.is_main()


def test_micro_rows_cover_the_global_batch_once():
    rows = [distributed.Plan(rank=r, world_size=2, accumulation=3).micro_rows(10) for r in range(2)]
    flat = torch.cat([chunk for rank in rows for chunk in rank])
    assert flat.tolist() == list(range(10))
    assert [len(c) for c in rows[0]] == [2, 2, 2] and [len(c) for c in rows[1]] == [2, 1, 1]
    small = distributed.Plan(rank=1, world_size=2, accumulation=2)
    assert [real for _, real in distributed.micro_batches(small, 3)] == [True, False]


def test_accumulation_in_one_process_matches_one_batch(single):
    """One process, the global batch in 3 micro-batches: the same run as one batch."""
    with distributed.running(accumulation=3, precision="fp32") as plan:
        assert plan.world_size == 1
        runs = _all_runs()
    assert distributed.active() is None
    assert _max_difference(single["utr"], runs["utr"], ["train_loss", "val_loss"]) < TOLERANCE
    assert _max_difference(single["kmer"], runs["kmer"], ["mlm_loss"]) < TOLERANCE
    for name in ("finetune", "fit"):
        assert _max_difference(single[name], runs[name], ["train_loss", "val_loss"]) < TOLERANCE


def test_two_processes_match_one(single, two_ranks):
    """Two gloo ranks (each a micro-batch pair): the same losses and weights as one process."""
    runs = torch.load(two_ranks[0] / "runs.pt", weights_only=False)
    utr_columns = ["train_loss", "val_loss", "train_mlm", "train_mfe", "train_structure"]
    assert _max_difference(single["utr"], runs["utr"], utr_columns) < TOLERANCE
    kmer_columns = ["mlm_loss", "masked_accuracy"]
    assert _max_difference(single["kmer"], runs["kmer"], kmer_columns) < TOLERANCE
    # masked modelling alone: the folding heads get no gradient on either path
    assert _max_difference(single["mlm"], runs["mlm"], ["train_loss", "val_loss"]) < TOLERANCE
    untouched = _initial()["structure_head.weight"]
    assert torch.equal(runs["mlm"][1]["structure_head.weight"], untouched)
    assert torch.equal(single["mlm"][1]["structure_head.weight"], untouched)
    # fine-tuning (frozen warm-up, two parameter groups) and fit (schedule, clipping, AUC)
    finetune_columns = ["train_loss", "val_loss", "val_R2", "lr"]
    assert _max_difference(single["finetune"], runs["finetune"], finetune_columns) < TOLERANCE
    fit_columns = ["train_loss", "val_loss", "val_score", "lr"]
    assert _max_difference(single["fit"], runs["fit"], fit_columns) < TOLERANCE
    sizes = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_length": 64}
    torch.manual_seed(0)
    fresh = mrl_model(utr_lm_config(UTR_VOCAB, **sizes), pooling="mean", head_hidden=8)
    backbone = [k for k in fresh.state_dict() if k.startswith("esm.encoder")]
    moved = max(
        float((runs["finetune"][1][k] - fresh.state_dict()[k]).abs().max()) for k in backbone
    )
    assert moved > 100 * TOLERANCE  # the backbone trained after its frozen warm-up
    # the control that makes the tolerance meaningful: training moved the weights far more
    initial = _initial()
    moved = max(float((runs["utr"][1][k] - initial[k]).abs().max()) for k in initial)
    assert moved > 100 * TOLERANCE


def _initial() -> dict[str, torch.Tensor]:
    """The untrained weights of :func:`utr_run` (seed 0)."""
    train = _utr_data(44, 0)
    sizes = {"hidden_size": 16, "num_layers": 1, "num_heads": 2, "max_length": 64}
    config = set_mfe_scale(utr_lm_config(UTR_VOCAB, **sizes, dropout=0.0), train.mfe.numpy())
    torch.manual_seed(0)
    return UTRLMForPretraining(config).state_dict()


def test_rank_0_alone_writes_the_checkpoint_once(two_ranks):
    out, _ = two_ranks
    assert (out / "writes.log").read_text().splitlines()[0] == "whole by rank 0"
    assert [p.name for p in (out / "whole").iterdir()] == ["weights.pt"]


def test_a_killed_worker_fails_the_run_clearly(two_ranks):
    out, exit_codes = two_ranks
    assert exit_codes[1] == 3  # the killed rank
    assert exit_codes[0] not in (0, None)  # rank 0 failed, it did not hang or succeed
    message = (out / "error0.txt").read_text()
    assert "another rank stopped while training killed" in message
    assert "nothing was written" in message
    assert not (out / "killed").exists()  # no partial checkpoint
    assert "killed" not in (out / "writes.log").read_text()


def test_import_course_lib_needs_no_gpu_nor_torchrun():
    code = "import course_lib, course_lib.distributed as d; assert d.active() is None"
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK")}
    env["CUDA_VISIBLE_DEVICES"] = ""
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=60)


def test_launcher_builds_where_the_notebooks_look(tmp_data_dir, monkeypatch):
    """Each job's recipe folder is the one chapter 1 (backbone (c)) and chapter 3's notebook
    steps compute from the same profile: same recipe, same hash."""
    import course_lib.chapters.ch3_pretraining as pre
    import course_lib.datasets  # noqa: F401  (registers the data sets)
    from course_lib import launch
    from course_lib.chapters.ch3_config import Ch3Config
    from course_lib.chapters.ch3_pum2_dnabert_lstm import load_sites
    from course_lib.utr_lm_backbone import (
        BACKBONE_OBJECTIVES,
        BackboneConfig,
        backbone_folder,
        backbone_recipe,
    )

    chapter_1 = BackboneConfig.resolve("smoke", tiny=True)
    folder = backbone_folder(backbone_recipe(chapter_1, BACKBONE_OBJECTIVES, 0))
    assert [job.folder for job in launch.chapter_jobs(5, "smoke", tiny=True)] == [folder]
    assert folder.parent.name == "utr_lm"

    seen = []  # the notebook's steps of chapter 3, building replaced by a record of the folder

    def record(settings, name, corpus, vocab, recipe, folder, *rest):
        seen.append(folder)
        return pre.Backbone(name, folder, None, {"seconds": 0.0}, built=True)

    monkeypatch.setattr(pre, "_build", record)
    settings = Ch3Config.resolve("smoke", tiny=True)
    sites = load_sites(None, None)[0]
    corpus = pre.chapter_corpus(settings, sites.sequences, max(map(len, sites.sequences)))
    vocab = build_vocabulary(settings.k)
    pre.chapter_backbones(settings, corpus, vocab, sites.sequences, 0, "cpu")
    assert [job.folder for job in launch.chapter_jobs(3, "smoke", tiny=True)] == seen
    assert len(set(seen)) == 2

    with pytest.raises(ValueError, match=r"chapter 0 has nothing to pretrain.*\[3, 5\]"):
        launch.chapter_jobs(0, "smoke")
