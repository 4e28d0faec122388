"""CPU inference speed: onnxruntime on the exported graph against PyTorch eager.

For each registered model at its CPU width (the widths of ``benchmarks/train_pets.py``; FCN-32s
and FCN-16s like FCN-8s), the model is exported once with :func:`seglab.export.export_onnx`
(dynamic N, H, W, as ``seglab export`` writes it) and both backends run the same random
batches:

- 128 x 128, batch 1 (one image at the training size of the shipped model);
- 128 x 128, batch 16;
- 512 x 512, batch 1.

PyTorch runs the eval-mode model under ``torch.inference_mode()`` with
``torch.set_num_threads(T)``; onnxruntime runs a session with graph optimisation
``ORT_ENABLE_ALL``, ``intra_op_num_threads=T`` and ``inter_op_num_threads=1``. Each
configuration is warmed up, then timed ``--repeats`` times, alternating the two backends so
that a change in the machine's load hits both alike; the table shows medians. Before timing,
the two outputs are compared (max abs difference of the logits).

Usage:
    nice .venv/bin/python benchmarks/bench_onnx.py
    nice .venv/bin/python benchmarks/bench_onnx.py --threads 2 1 --repeats 7 --models unet
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from seglab.export import export_onnx
from seglab.models import create_model, list_models

MODELS = {
    "fcn32s": {"width": 0.25},
    "fcn16s": {"width": 0.25},
    "fcn8s": {"width": 0.25},
    "deconvnet": {"width": 0.25},
    "unet": {"base_channels": 16},
    "deeplabv3plus": {"backbone": "resnet18", "width": 0.5},
}
CASES = [((128, 128), 1), ((128, 128), 16), ((512, 512), 1)]


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _time(function, repeats: int) -> float:
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats


def bench_model(name: str, threads_list: list[int], repeats: int, warmup: int, folder: Path):
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, **MODELS.get(name, {})).eval()
    path = export_onnx(model, folder / f"{name}.onnx", input_size=(128, 128))
    rows = []
    for threads in threads_list:
        torch.set_num_threads(threads)
        session = _session(path, threads)
        for (height, width), batch in CASES:
            image = torch.rand(batch, 3, height, width, generator=torch.Generator().manual_seed(0))
            array = image.numpy()

            def run_torch(image=image):
                with torch.inference_mode():
                    return model(image)

            def run_ort(array=array, session=session):
                return session.run(None, {"image": array})[0]

            error = float(np.abs(run_ort() - run_torch().numpy()).max())
            for _ in range(warmup):
                run_torch()
                run_ort()
            torch_times, ort_times = [], []
            for _ in range(repeats):  # alternate, so that load changes hit both backends
                torch_times.append(_time(run_torch, 1))
                ort_times.append(_time(run_ort, 1))
            torch_speed = batch / statistics.median(torch_times)
            ort_speed = batch / statistics.median(ort_times)
            rows.append((name, f"{height}x{width}", batch, threads, torch_speed, ort_speed, error))
            print(
                f"  {name} {height}x{width} b{batch} t{threads}: torch {torch_speed:.3g}/s, "
                f"onnxruntime {ort_speed:.3g}/s (x{ort_speed / torch_speed:.2f}), "
                f"max |diff| {error:.1e}",
                file=sys.stderr,
            )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=list_models(), choices=list_models())
    parser.add_argument("--threads", nargs="+", type=int, default=[2, 1])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per configuration")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs per configuration")
    args = parser.parse_args(argv)
    print(
        f"torch {torch.__version__}, onnxruntime {ort.__version__}, {platform.processor() or ''} "
        f"{platform.machine()}, {args.repeats} repeats, {args.warmup} warm-up runs",
        file=sys.stderr,
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            rows += bench_model(name, args.threads, args.repeats, args.warmup, Path(folder))
    print("| model | input | batch | threads | torch eager (img/s) | onnxruntime (img/s) | ratio |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name, size, batch, threads, torch_speed, ort_speed, _ in rows:
        print(
            f"| {name} | {size} | {batch} | {threads} | {torch_speed:.3g} | {ort_speed:.3g} "
            f"| {ort_speed / torch_speed:.2f}x |"
        )
    ratios = [ort_speed / torch_speed for *_, torch_speed, ort_speed, _ in rows]
    print(
        f"\nmedian ratio {statistics.median(ratios):.2f}x (min {min(ratios):.2f}x, "
        f"max {max(ratios):.2f}x); max |logit diff| {max(row[-1] for row in rows):.1e}"
    )


if __name__ == "__main__":
    main()
