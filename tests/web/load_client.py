"""Load client of the web tests: N concurrent predictions through the app's HTTP API.

Runs as its own process (``python tests/web/load_client.py URL --requests 20``) so that the
server's memory is measured apart from the client's. Uses ``gradio_client`` (installed with
gradio) against the public ``/predict`` endpoint: half the requests upload a PNG, half name a
bundled sample. Prints one JSON object with the per-request results and timings.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

PET_MODEL = "pet model (shipped)"


def one_request(url: str, folder: Path, index: int, upload: Path, timeout: float) -> dict:
    """One prediction, with a client of its own; returns what came back and how long it took.

    Each request downloads into its own folder: with one shared client, concurrent downloads of
    equally named results (the same sample's mask) overwrite each other while being read.
    """
    from gradio_client import Client, handle_file

    use_upload = index % 2 == 0
    started = time.perf_counter()
    try:
        client = Client(url, verbose=False, download_files=folder / f"request_{index}")
        job = client.submit(
            PET_MODEL,
            handle_file(str(upload)) if use_upload else None,
            "coffee" if not use_upload else None,
            api_name="/predict",
        )
        picture, files, info = job.result(timeout=timeout)
        mask_path = files[0] if isinstance(files[0], str) else files[0]["path"]
        mask = np.asarray(Image.open(mask_path))
        overlay = np.asarray(Image.open(picture))
        return {
            "index": index,
            "input": "upload" if use_upload else "sample",
            "ok": True,
            "seconds": time.perf_counter() - started,
            "info": info,
            "mask_shape": list(mask.shape),
            "overlay_shape": list(overlay.shape),
            "pet_fraction": float((mask == 1).mean()),
            "mask_sum": int(mask.astype(np.int64).sum()),
        }
    except Exception as error:  # noqa: BLE001 - every failure is reported, not raised
        return {
            "index": index,
            "input": "upload" if use_upload else "sample",
            "ok": False,
            "seconds": time.perf_counter() - started,
            "error": f"{type(error).__name__}: {error}",
        }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds per request")
    args = parser.parse_args(argv)

    from seglab.samples import load_sample

    folder = Path(tempfile.mkdtemp(prefix="seglab-load-"))
    upload = folder / "chelsea.png"
    Image.fromarray(load_sample("chelsea")).save(upload)
    started = time.perf_counter()
    # One thread per request: all N are in flight at once, and the server's queue orders them.
    with ThreadPoolExecutor(max_workers=args.requests) as pool:
        futures = [
            pool.submit(one_request, args.url, folder, index, upload, args.timeout)
            for index in range(args.requests)
        ]
        results = [future.result() for future in futures]
    total = time.perf_counter() - started
    json.dump({"total_seconds": total, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
