"""Download the Oxford-IIIT Pet archives for users with internet access.

seglab never downloads at import or in tests; this is an explicit, opt-in helper. Archives are
verified by MD5 (the checksums torchvision also uses) and extracted into a temporary folder
that is renamed into place, so an interrupted download never leaves a half-extracted dataset.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

__all__ = ["OXFORD_PET_ARCHIVES", "download_oxford_pet", "md5sum"]

OXFORD_PET_ARCHIVES = {
    "images": (
        "https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz",
        "5c4f3ee8e5d25df40f4fd59a7f44e54c",
    ),
    "annotations": (
        "https://thor.robots.ox.ac.uk/datasets/pets/annotations.tar.gz",
        "95a8c909bbe2e81eed6a22bccdf3f68f",
    ),
}


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, target: Path) -> None:
    with urllib.request.urlopen(url) as response, open(target, "wb") as handle:  # noqa: S310
        shutil.copyfileobj(response, handle)


def download_oxford_pet(root: str | os.PathLike, *, keep_archives: bool = False) -> Path:
    """Download and extract Oxford-IIIT Pet into ``root`` (``images/`` and ``annotations/``).

    Parts already present are skipped, so the call can be repeated after an interruption.

    Raises:
        ValueError: if a downloaded archive's checksum does not match (the file is removed).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name, (url, md5) in OXFORD_PET_ARCHIVES.items():
        if (root / name).is_dir():
            continue
        archive = root / f"{name}.tar.gz"
        if not archive.is_file() or md5sum(archive) != md5:
            partial = archive.with_suffix(".part")
            _fetch(url, partial)
            os.replace(partial, archive)
        if md5sum(archive) != md5:
            archive.unlink()
            raise ValueError(
                f"checksum mismatch for {url}: expected MD5 {md5}; the download was removed"
            )
        with tempfile.TemporaryDirectory(dir=root) as scratch, tarfile.open(archive) as tar:
            tar.extractall(scratch, filter="data")
            os.replace(Path(scratch) / name, root / name)
        if not keep_archives:
            archive.unlink()
    return root
