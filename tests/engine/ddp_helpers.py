"""Code that runs inside the worker processes of the distributed tests.

Kept out of the test module so that ``torch.multiprocessing.spawn`` and ``torchrun`` can
import it by name in a fresh interpreter.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from seglab.engine.distributed import convert_sync_batchnorm
from seglab.models import create_model


def fixed_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Eight float64 images ``(8, 3, 32, 32)`` and labels ``(8, 32, 32)`` in {0, 1, 2}."""
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(8, 3, 32, 32, generator=generator, dtype=torch.float64)
    return images, torch.randint(0, 3, (8, 32, 32), generator=generator)


def fixed_model() -> torch.nn.Module:
    """A small float64 U-Net with BatchNorm, the same weights in every process."""
    torch.manual_seed(0)
    return create_model("unet", num_classes=3, base_channels=8).double()


def sync_bn_gradient_worker(rank: int, init_file: str, out: str) -> None:
    """One of two gloo processes: DDP + CpuSyncBatchNorm on half of the batch, save grads."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        model = convert_sync_batchnorm(fixed_model(), torch.device("cpu"))
        ddp = torch.nn.parallel.DistributedDataParallel(model)
        images, labels = fixed_batch()
        half = slice(rank * 4, rank * 4 + 4)
        output = ddp(images[half])
        torch.nn.functional.cross_entropy(output, labels[half]).backward()
        torch.save(
            {
                "grads": {name: p.grad for name, p in model.named_parameters()},
                "buffers": {name: b.clone() for name, b in model.named_buffers()},
                "output": output.detach(),
            },
            f"{out}.rank{rank}",
        )
    finally:
        dist.destroy_process_group()


def record_writes_and_train() -> int:
    """``seglab train`` with every file-writing step of the trainer recorded per rank.

    Run as ``torchrun ... ddp_helpers.py RECORD_DIR seglab-train-args...``; each rank appends
    the names of the writers it called to ``RECORD_DIR/rank<R>.txt``.
    """
    import seglab.engine.loop as loop
    import seglab.engine.report as report
    from seglab.cli import main

    record_dir, args = Path(sys.argv[1]), sys.argv[2:]
    record = record_dir / f"rank{os.environ.get('RANK', '0')}.txt"

    def recorded(name, function):
        def wrapper(*call_args, **call_kwargs):
            with record.open("a") as handle:
                handle.write(f"{name}\n")
            return function(*call_args, **call_kwargs)

        return wrapper

    loop.save_checkpoint = recorded("checkpoint", loop.save_checkpoint)
    loop._write_csv = recorded("csv", loop._write_csv)
    report.write_report = recorded("report", report.write_report)
    return main(["train", *args])


if __name__ == "__main__":
    raise SystemExit(record_writes_and_train())
