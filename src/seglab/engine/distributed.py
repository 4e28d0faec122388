"""Several processes, one run: process groups, global batches, sharding and SyncBatchNorm.

``torchrun --nproc_per_node N -m seglab train ...`` starts N copies of seglab and sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` for each. This
module reads those variables, joins the process group (NCCL on CUDA, gloo on the CPU) and
gives the training loop what it needs to behave like one process with a bigger batch:

- :class:`GlobalBatchSampler`: ``--batch-size`` is the **global** batch. Every process draws
  the same permutation and takes its own slice of each global batch, so N processes see
  exactly the batches that one process would see.
- :class:`SampleSeededDataset`: augmentation is seeded from ``(seed, epoch, index)`` per
  sample, so a sample is augmented the same way whichever process or worker reads it.
- :func:`convert_sync_batchnorm`: batch statistics over the global batch.
  ``torch.nn.SyncBatchNorm`` runs on CUDA only; on the CPU :class:`CpuSyncBatchNorm` does the
  same with two all-reduces.

With those three, one epoch on N processes matches one process to float rounding when the loss
is a per-pixel mean (``ce``); a Dice term is computed on each process's share of the batch, as
in every data-parallel setup, and differs a little.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Dataset, Sampler

__all__ = [
    "DistributedContext",
    "GlobalBatchSampler",
    "SampleSeededDataset",
    "CpuSyncBatchNorm",
    "convert_sync_batchnorm",
    "env_world",
    "init_distributed",
    "shard",
]


def env_world() -> tuple[int, int, int]:
    """``(rank, world_size, local_rank)`` from torchrun's environment; ``(0, 1, 0)`` outside it.

    Raises:
        ValueError: if the variables are inconsistent (e.g. ``RANK >= WORLD_SIZE``).
    """
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError as error:
        raise ValueError(f"RANK/WORLD_SIZE/LOCAL_RANK must be integers: {error}") from error
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return rank, world, local


@dataclass(frozen=True)
class DistributedContext:
    """Where this process stands in a multi-process run (a single process by default).

    Attributes:
        rank: global index of this process, 0 .. world_size - 1.
        world_size: number of processes.
        local_rank: index on this machine (picks the GPU).
        owns_group: True when this process created the process group (and must destroy it).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """True when several processes train together."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes checkpoints, logs, plots and progress bars."""
        return self.rank == 0

    def _reduce(self, values: list[float], op: dist.ReduceOp) -> list[float]:
        if not self.enabled:
            return values
        tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
        dist.all_reduce(tensor, op=op)
        return tensor.tolist()

    def sum(self, *values: float) -> list[float]:
        """Sum each value over all processes (the values themselves in one process)."""
        return self._reduce(list(values), dist.ReduceOp.SUM)

    def max(self, value: float) -> float:
        """The largest ``value`` over all processes."""
        return self._reduce([value], dist.ReduceOp.MAX)[0]

    def sum_array(self, array: np.ndarray) -> np.ndarray:
        """Element-wise sum of a NumPy array over all processes, same dtype."""
        if not self.enabled:
            return array
        tensor = torch.from_numpy(np.ascontiguousarray(array)).to(_collective_device())
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.cpu().numpy().astype(array.dtype, copy=False)

    def barrier(self) -> None:
        """Wait until every process gets here."""
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        """Leave the process group if this context created it."""
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _collective_device() -> torch.device:
    # NCCL reduces CUDA tensors only; gloo reduces CPU tensors.
    if dist.is_initialized() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def init_distributed(device: str = "auto") -> tuple[DistributedContext, torch.device]:
    """Join torchrun's process group (if there is one) and pick this process's device.

    Args:
        device: ``auto``, ``cpu`` or ``cuda``. Under torchrun, CUDA means ``cuda:LOCAL_RANK``
            with NCCL; the CPU uses gloo.

    Returns:
        The context and the device this process computes on.

    Raises:
        RuntimeError: ``cuda`` without a GPU, or fewer GPUs on this machine than processes.
    """
    from seglab.engine.device import resolve_device

    rank, world, local = env_world()
    resolved = resolve_device(device)
    if world == 1:
        return DistributedContext(), resolved
    if resolved.type == "cuda":
        if local >= torch.cuda.device_count():
            raise RuntimeError(
                f"LOCAL_RANK {local} has no GPU: this machine has {torch.cuda.device_count()}; "
                "start at most that many processes per node (--nproc_per_node)"
            )
        torch.cuda.set_device(local)
        resolved = torch.device("cuda", local)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
        owns = True
    return DistributedContext(rank, world, local, owns_group=owns), resolved


def shard(length: int, rank: int, world_size: int) -> list[int]:
    """Indices ``rank, rank + world_size, ...``: every index in exactly one shard, none padded."""
    return list(range(rank, length, world_size))


class GlobalBatchSampler(Sampler[list[int]]):
    """Global batches of a seeded permutation; each process yields its slice of every batch.

    One process (``world_size=1``) yields whole batches. With N processes, process ``r`` yields
    items ``r*b .. (r+1)*b - 1`` of each global batch, ``b = batch_size / N``, so the union over
    processes is exactly the single-process batch.

    Args:
        length: dataset size.
        batch_size: the global batch; must be divisible by ``world_size``.
        rank, world_size: this process and the number of processes.
        shuffle: a new permutation per epoch (call :meth:`set_epoch`), from ``seed`` and the
            epoch alone.
        drop_last: drop the last incomplete global batch.
        seed: base seed of the permutation.

    Raises:
        ValueError: if ``batch_size`` is not a multiple of ``world_size``.

    Example:
        >>> list(GlobalBatchSampler(10, 4, rank=1, world_size=2, shuffle=False))
        [[2, 3], [6, 7]]
    """

    def __init__(
        self,
        length: int,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        shuffle: bool = True,
        drop_last: bool = True,
        seed: int = 0,
    ) -> None:
        if batch_size < 1 or batch_size % world_size:
            raise ValueError(
                f"the global batch size {batch_size} must be a positive multiple of the "
                f"{world_size} processes"
            )
        self.length, self.batch_size = length, batch_size
        self.rank, self.world_size = rank, world_size
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.epoch, self.start = 0, 0

    def set_epoch(self, epoch: int, *, start: int = 0) -> None:
        """Choose the permutation of this epoch, and skip its first ``start`` batches."""
        self.epoch, self.start = epoch, start

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.length))
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return torch.randperm(self.length, generator=generator).tolist()

    def __iter__(self) -> Iterator[list[int]]:
        order = self._order()
        local = self.batch_size // self.world_size
        first = self.start * self.batch_size
        for start in range(first, len(self) * self.batch_size, self.batch_size):
            batch = order[start : start + self.batch_size]
            # An incomplete last batch (drop_last=False) is split as evenly as it goes.
            mine = (
                batch[self.rank * local : (self.rank + 1) * local]
                if len(batch) == self.batch_size
                else batch[self.rank :: self.world_size]
            )
            if mine:
                yield mine

    def __len__(self) -> int:
        if self.drop_last:
            return self.length // self.batch_size
        return -(-self.length // self.batch_size)


class SampleSeededDataset(Dataset):
    """Reads each item with torch's RNG seeded from ``(seed, epoch, index)``.

    Random augmentation then depends on the sample alone, not on which process or DataLoader
    worker reads it or in which order; the caller's RNG state is left untouched.

    Args:
        dataset: a map-style dataset whose transforms draw from torch's global generator.
        seed: base seed.
    """

    def __init__(self, dataset: Dataset, seed: int = 0) -> None:
        self.dataset, self.seed, self.epoch = dataset, seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's augmentation."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        sample_seed = (self.seed * 1_000_003 + self.epoch) * 10_000_019 + int(index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(sample_seed % 2**63)
            return self.dataset[index]


class _AllReduceSum(torch.autograd.Function):
    """Sum over processes; the gradient of a sum is the sum of the gradients."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # noqa: D102
        tensor = tensor.clone()
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class CpuSyncBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics cover the batches of all processes (gloo, CPU).

    ``torch.nn.SyncBatchNorm`` refuses CPU tensors. This layer all-reduces the per-channel sum,
    sum of squares and count, normalises with the global mean and (biased) variance, and
    updates the running statistics with the unbiased variance, as BatchNorm2d does. Gradients
    flow through the all-reduce. Outside a process group, or in eval mode, it is BatchNorm2d.
    """

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (BatchNorm2d's name)
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(input)
        channels = input.shape[1]
        dims = [0, *range(2, input.ndim)]
        count = torch.tensor([input.numel() / channels], dtype=input.dtype, device=input.device)
        stats = torch.cat([input.sum(dims), (input * input).sum(dims), count])
        stats = _AllReduceSum.apply(stats)
        total = stats[-1]
        mean = stats[:channels] / total
        var = (stats[channels : 2 * channels] / total - mean * mean).clamp_min(0.0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = (
                    1.0 / float(self.num_batches_tracked)
                    if self.momentum is None
                    else self.momentum
                )
                unbiased = var * (total / (total - 1).clamp_min(1.0))
                self.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
                self.running_var.mul_(1 - momentum).add_(unbiased.detach(), alpha=momentum)
        shape = (1, channels) + (1,) * (input.ndim - 2)
        output = (input - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            output = output * self.weight.view(shape) + self.bias.view(shape)
        return output


def convert_sync_batchnorm(model: nn.Module, device: torch.device) -> nn.Module:
    """Replace every BatchNorm with its synchronised form, keeping weights and statistics.

    Args:
        model: any module.
        device: CUDA uses ``torch.nn.SyncBatchNorm``; the CPU uses :class:`CpuSyncBatchNorm`.

    Returns:
        The converted model (the same object unless ``model`` itself is a BatchNorm).
    """
    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if isinstance(model, nn.BatchNorm2d) and not isinstance(model, CpuSyncBatchNorm):
        synced = CpuSyncBatchNorm(
            model.num_features,
            eps=model.eps,
            momentum=model.momentum,
            affine=model.affine,
            track_running_stats=model.track_running_stats,
        )
        # Same device and float dtype as the layer it replaces (running_mean is float).
        like = model.weight if model.affine else model.running_mean
        if like is not None:
            synced = synced.to(device=like.device, dtype=like.dtype)
        synced.load_state_dict(model.state_dict())
        synced.train(model.training)
        return synced
    for name, child in model.named_children():
        setattr(model, name, convert_sync_batchnorm(child, device))
    return model
