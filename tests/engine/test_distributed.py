"""Multi-process training: samplers and SyncBN against one process, and torchrun end to end.

The torchrun tests start real ``torchrun --nproc_per_node 2`` runs on the CPU (gloo) and
compare them with one-process runs of the same global batch and seed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from seglab.checkpoint import load_checkpoint
from seglab.engine.distributed import (
    CpuSyncBatchNorm,
    DistributedContext,
    GlobalBatchSampler,
    SampleSeededDataset,
    convert_sync_batchnorm,
    env_world,
    shard,
)

HELPERS = Path(__file__).with_name("ddp_helpers.py")
# Spawned workers import the helpers by module name (pytest runs with --import-mode=importlib,
# which leaves sys.path alone); spawn hands this sys.path to the children.
sys.path.insert(0, str(HELPERS.parent))
from ddp_helpers import fixed_batch, fixed_model, sync_bn_gradient_worker  # noqa: E402

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --- samplers and datasets -------------------------------------------------------------------


@pytest.mark.parametrize(("length", "batch", "world"), [(12, 4, 2), (255, 16, 2), (50, 12, 3)])
def test_process_slices_add_up_to_the_single_process_batches(length, batch, world):
    single = GlobalBatchSampler(length, batch, seed=3)
    parts = [
        GlobalBatchSampler(length, batch, rank=r, world_size=world, seed=3) for r in range(world)
    ]
    for sampler in (single, *parts):
        sampler.set_epoch(5)
    rebuilt = [sum(pieces, []) for pieces in zip(*[list(p) for p in parts], strict=True)]
    assert rebuilt == list(single)
    assert len(single) == length // batch == len(parts[0])
    assert all(len(piece) == batch // world for piece in parts[0])


def test_global_batches_are_a_seeded_permutation_per_epoch():
    sampler = GlobalBatchSampler(10, 3, drop_last=False, seed=1)
    sampler.set_epoch(0)
    first = list(sampler)
    assert sorted(sum(first, [])) == list(range(10))  # every index once, last batch of 1 kept
    assert [len(batch) for batch in first] == [3, 3, 3, 1]
    assert list(sampler) == first  # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != first


def test_incomplete_last_batch_is_split_without_padding():
    parts = [
        list(GlobalBatchSampler(10, 4, rank=r, world_size=2, shuffle=False, drop_last=False))
        for r in range(2)
    ]
    assert parts == [[[0, 1], [4, 5], [8]], [[2, 3], [6, 7], [9]]]


def test_global_batch_must_split_evenly():
    with pytest.raises(
        ValueError, match="global batch size 16 must be a positive multiple of the 3"
    ):
        GlobalBatchSampler(100, 16, rank=0, world_size=3)


def test_shards_cover_every_index_once():
    shards = [shard(23, r, 3) for r in range(3)]
    assert sorted(sum(shards, [])) == list(range(23))
    assert [len(s) for s in shards] == [8, 8, 7]


class _RandomItems(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.rand(3)  # stands in for random augmentation


def test_sample_seeded_augmentation_ignores_read_order_and_keeps_caller_rng():
    dataset = SampleSeededDataset(_RandomItems(), seed=7)
    dataset.set_epoch(2)
    forward = [dataset[i] for i in range(6)]
    torch.manual_seed(123)
    before = torch.get_rng_state()
    backward = [dataset[i] for i in reversed(range(6))][::-1]
    assert torch.equal(torch.get_rng_state(), before)
    for a, b in zip(forward, backward, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert not torch.equal(forward[0], forward[1])
    dataset.set_epoch(3)
    assert not torch.equal(dataset[0], forward[0])


def test_env_world_reads_torchrun_variables(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert env_world() == (0, 1, 0)
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert env_world() == (3, 4, 1)
    monkeypatch.setenv("RANK", "4")
    with pytest.raises(ValueError, match="inconsistent torchrun environment: RANK=4, WORLD_SIZE=4"):
        env_world()


def test_single_process_context_passes_values_through():
    context = DistributedContext()
    assert context.is_main and not context.enabled
    assert context.sum(2.5, 3) == [2.5, 3]
    assert context.max(1.5) == 1.5
    counts = np.array([[1, 2], [3, 4]])
    assert context.sum_array(counts) is counts


# --- SyncBatchNorm on the CPU ----------------------------------------------------------------


def test_cpu_sync_batchnorm_is_batchnorm_outside_a_process_group():
    model = convert_sync_batchnorm(fixed_model(), torch.device("cpu"))
    reference = fixed_model()
    assert any(isinstance(m, CpuSyncBatchNorm) for m in model.modules())
    assert model.state_dict().keys() == reference.state_dict().keys()
    images, _ = fixed_batch()
    torch.testing.assert_close(model(images), reference(images))


def test_ddp_with_cpu_sync_batchnorm_matches_one_process_on_the_whole_batch(tmp_path):
    """Two gloo processes on half a batch each give the gradients of one process on all of it."""
    mp.spawn(
        sync_bn_gradient_worker,
        args=(str(tmp_path / "group"), str(tmp_path / "result")),
        nprocs=2,
    )
    model = fixed_model()
    images, labels = fixed_batch()
    output = model(images)
    torch.nn.functional.cross_entropy(output, labels).backward()
    results = [torch.load(tmp_path / f"result.rank{r}") for r in range(2)]
    torch.testing.assert_close(
        torch.cat([results[0]["output"], results[1]["output"]]), output.detach()
    )
    buffers = dict(model.named_buffers())
    for result in results:
        for name, parameter in model.named_parameters():
            torch.testing.assert_close(result["grads"][name], parameter.grad, msg=name)
        for name, buffer in buffers.items():
            # Running statistics of the global batch (unbiased variance), as BatchNorm2d.
            torch.testing.assert_close(result["buffers"][name], buffer, msg=name)


# --- torchrun end to end ---------------------------------------------------------------------


def _train_args(data: Path, epochs: int) -> list[str]:
    return [
        "--data",
        str(data),
        "--dataset",
        "folder",
        "--model",
        "unet",
        "--model-arg",
        "base_channels=8",
        "--img-size",
        "32",
        "--batch-size",
        "4",
        "--epochs",
        str(epochs),
        "--val-fraction",
        "0.25",
        "--warmup-epochs",
        "0",
        "--loss",
        "ce",
        "--sync-bn",
        # torchrun's own parser would take "--monitor" for its --monitor-interval.
        "--best-metric",
        "miou",
        "--quiet",
    ]


def test_torchrun_two_processes_match_one_and_only_rank_zero_writes(
    folder_dataset, tmp_path, torchrun_command
):
    epochs = 2
    args = [*_train_args(folder_dataset, epochs), "--no-augment"]
    one, two, record = tmp_path / "one", tmp_path / "two", tmp_path / "record"
    record.mkdir()
    subprocess.run(
        [sys.executable, "-m", "seglab", "train", *args, "--out", str(one)],
        check=True,
        env=ENV,
        timeout=600,
    )
    finished = subprocess.run(
        torchrun_command(str(HELPERS), str(record), *args, "--out", str(two)),
        check=True,
        env=ENV,
        timeout=600,
        capture_output=True,
        text=True,
    )
    # Rank 0 wrote every checkpoint, log and plot; rank 1 wrote nothing and printed nothing.
    rank0 = (record / "rank0.txt").read_text().split()
    assert rank0.count("csv") == epochs and rank0.count("report") == 1
    assert rank0.count("checkpoint") >= epochs + 1  # last.pt every epoch, best.pt at least once
    assert not (record / "rank1.txt").exists()
    assert finished.stdout.count("finished in") == 1
    for name in ("best.pt", "last.pt", "log.csv", "curves.png", "samples.png", "confusion.png"):
        assert (two / name).is_file(), name

    # Same global batches, seeds and synchronised BatchNorm: the runs agree to float rounding,
    # which Adam amplifies a little in weights whose gradient is near 0. Stated tolerance:
    # losses within 0.1 % and validation mIoU within 0.005.
    a = load_checkpoint(one / "last.pt")["history"]
    b = load_checkpoint(two / "last.pt")["history"]
    assert [row["train_images"] for row in b] == [row["train_images"] for row in a] == [8, 8]
    for row_a, row_b in zip(a, b, strict=True):
        assert row_b["train_loss"] == pytest.approx(row_a["train_loss"], rel=1e-3)
        assert row_b["loss"] == pytest.approx(row_a["loss"], rel=1e-3)
        assert row_b["miou"] == pytest.approx(row_a["miou"], abs=5e-3)
    assert a[0]["train_loss"] > a[-1]["train_loss"]  # it learned something


def test_torchrun_resume_after_kill_matches_uninterrupted_run(
    folder_dataset, tmp_path, torchrun_command
):
    """SIGKILL every process of a 2-process run, resume it with torchrun, compare the weights."""
    epochs = 4
    args = _train_args(folder_dataset, epochs)
    full, cut = tmp_path / "full", tmp_path / "cut"
    subprocess.run(
        torchrun_command("-m", "seglab", "train", *args, "--out", str(full)),
        check=True,
        env=ENV,
        timeout=600,
        capture_output=True,
    )
    process = subprocess.Popen(
        torchrun_command("-m", "seglab", "train", *args, "--out", str(cut)),
        env=ENV,
        start_new_session=True,  # its own process group: the kill reaches every worker
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log = cut / "log.csv"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if log.is_file() and len(log.read_text().strip().splitlines()) >= 3:  # header + 2 epochs
            break
        if process.poll() is not None:
            pytest.fail("training finished before it could be interrupted")
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    interrupted_at = load_checkpoint(cut / "last.pt")["epoch"] + 1
    assert 2 <= interrupted_at < epochs

    subprocess.run(
        torchrun_command("-m", "seglab", "train", *args, "--out", str(cut), "--resume"),
        check=True,
        env=ENV,
        timeout=600,
        capture_output=True,
    )
    a, b = load_checkpoint(full / "last.pt"), load_checkpoint(cut / "last.pt")
    assert a["epoch"] == b["epoch"] == epochs - 1
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=0, atol=1e-6, msg=key)
    assert [row["epoch"] for row in b["history"]] == list(range(1, epochs + 1))


def test_uneven_global_batch_is_refused(folder_dataset, tmp_path, torchrun_command):
    args = _train_args(folder_dataset, 1)
    args[args.index("--batch-size") + 1] = "3"
    finished = subprocess.run(
        torchrun_command("-m", "seglab", "train", *args, "--out", str(tmp_path / "run")),
        env=ENV,
        timeout=600,
        capture_output=True,
        text=True,
    )
    assert finished.returncode != 0
    assert "3 images cannot be split evenly over 2 processes" in finished.stderr
