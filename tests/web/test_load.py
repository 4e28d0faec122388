"""Load: 20 concurrent predictions from a second process, all correct, server memory bounded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

REQUESTS = 20
# The server holds one model and one request at work (the queue's concurrency), so
# its memory must not grow with the number of requests in the queue.
MAX_GROWTH_MB = 600


def rss_mb(pid: int, field: str = "VmRSS") -> float | None:
    """Resident memory of a process from /proc (Linux), in MiB; None elsewhere."""
    status = Path(f"/proc/{pid}/status")
    if not status.is_file():
        return None
    for line in status.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return None


def test_concurrent_predictions(server):
    pytest.importorskip("gradio_client", reason="gradio_client comes with gradio")
    before = rss_mb(server.pid)
    samples: list[float] = []
    done = threading.Event()

    def sample_memory():
        while not done.wait(0.2):  # a measurement cadence, not a synchronisation
            value = rss_mb(server.pid)
            if value is not None:
                samples.append(value)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    client = Path(__file__).with_name("load_client.py")
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    try:
        completed = subprocess.run(
            [sys.executable, str(client), server.url, "--requests", str(REQUESTS)],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
        )
    finally:
        done.set()
        sampler.join(timeout=5)
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout)
    results = report["results"]
    failures = [result for result in results if not result["ok"]]
    assert not failures, [(result["index"], result.get("error")) for result in failures]
    assert len(results) == REQUESTS
    for kind, shape in (("upload", [300, 451]), ("sample", [400, 600])):
        group = [result for result in results if result["input"] == kind]
        assert group and all(result["mask_shape"] == shape for result in group), group
        assert all(0.05 < result["pet_fraction"] < 0.95 for result in group), group
        # The same input gives the same mask every time: no cross-talk between requests.
        assert len({result["mask_sum"] for result in group}) == 1, group
        assert all("pet model (shipped)" in result["info"] for result in group)

    seconds = sorted(result["seconds"] for result in results)
    figures = {
        "requests": REQUESTS,
        "total_s": round(report["total_seconds"], 2),
        "throughput_per_s": round(REQUESTS / report["total_seconds"], 2),
        "latency_median_s": round(seconds[len(seconds) // 2], 2),
        "latency_max_s": round(seconds[-1], 2),
        "rss_before_mb": None if before is None else round(before),
        "rss_peak_mb": round(max(samples)) if samples else None,
        "rss_hwm_mb": None
        if rss_mb(server.pid, "VmHWM") is None
        else round(rss_mb(server.pid, "VmHWM")),
    }
    print("web load:", json.dumps(figures))
    if before is not None and samples:
        assert max(samples) - before < MAX_GROWTH_MB, figures
