"""Download the Oxford-IIIT Pet archives, for users with internet access.

seglab never downloads at import time or in its tests; this is an explicit, opt-in helper.
Each archive is tried at the official host (``thor.robots.ox.ac.uk``) and then at the older
address that torchvision pins, verified by MD5 (the checksums torchvision also uses), and
extracted into a temporary folder that is renamed into place, so an interrupted run never
leaves a half-extracted dataset behind.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["OXFORD_PET_ARCHIVES", "download_oxford_pet", "md5sum"]

# name -> (URLs tried in order, MD5 of the archive). The archive unpacks into a folder "name".
OXFORD_PET_ARCHIVES = {
    "images": (
        (
            "https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz",
            "https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
        ),
        "5c4f3ee8e5d25df40f4fd59a7f44e54c",
    ),
    "annotations": (
        (
            "https://thor.robots.ox.ac.uk/datasets/pets/annotations.tar.gz",
            "https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
        ),
        "95a8c909bbe2e81eed6a22bccdf3f68f",
    ),
}


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks.

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "f"
        >>> _ = path.write_bytes(b"abc")
        >>> md5sum(path)
        '900150983cd24fb0d6963f7d28e17f72'
    """
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, target: Path, *, progress: bool = True) -> None:
    """Stream ``url`` into ``target``, with a progress bar."""
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as handle:  # noqa: S310
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(
            total=total, unit="B", unit_scale=True, desc=target.name, disable=not progress
        ) as bar:
            while block := response.read(1 << 20):
                handle.write(block)
                bar.update(len(block))


def _download(name: str, urls: tuple[str, ...], md5: str, archive: Path, progress: bool) -> None:
    errors = []
    for url in urls:
        partial = archive.with_name(archive.name + ".part")
        try:
            _fetch(url, partial, progress=progress)
        except (urllib.error.URLError, OSError) as error:
            partial.unlink(missing_ok=True)
            errors.append(f"{url}: {error}")
            continue
        if md5sum(partial) != md5:
            partial.unlink()
            raise ValueError(
                f"checksum mismatch for {url}: expected MD5 {md5}; the download was removed"
            )
        os.replace(partial, archive)
        return
    raise OSError(f"could not download the {name} archive; tried " + "; ".join(errors))


def _extract(archive: Path, name: str, root: Path) -> None:
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-") as scratch:
        try:
            with tarfile.open(archive) as tar:
                if hasattr(tarfile, "data_filter"):
                    # Refuse absolute paths, "..", and links out of the folder (CVE-2007-4559).
                    tar.extractall(scratch, filter="data")
                else:  # Python < 3.10.12 has no extraction filters; check names ourselves
                    for member in tar.getmembers():
                        if member.name.startswith(("/", "\\")) or ".." in Path(member.name).parts:
                            raise ValueError(f"unsafe path {member.name!r} in {archive}")
                    tar.extractall(scratch)  # noqa: S202
        except tarfile.TarError as error:
            raise ValueError(f"cannot extract {archive}: {error}") from error
        unpacked = Path(scratch) / name
        if not unpacked.is_dir():
            raise ValueError(f"{archive} has no top-level folder {name!r}; is it the right file?")
        os.replace(unpacked, root / name)


def download_oxford_pet(
    root: str | os.PathLike, *, keep_archives: bool = False, progress: bool = True
) -> Path:
    """Download and extract Oxford-IIIT Pet into ``root`` (``images/`` and ``annotations/``).

    About 800 MB. Parts already present are skipped, and an archive already downloaded with
    the right checksum is not fetched again, so the call can be repeated after an interruption.

    Args:
        root: target folder; created if needed. Use it as ``OxfordPetDataset(root)``.
        keep_archives: keep the ``.tar.gz`` files after extraction.
        progress: show download progress bars.

    Returns:
        ``root`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: if a downloaded archive's checksum does not match (the file is removed),
            or an archive is damaged, lacks its expected top folder or holds unsafe paths.
        OSError: if every address of an archive fails (each error is listed).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for name, (urls, md5) in OXFORD_PET_ARCHIVES.items():
        if (root / name).is_dir():
            continue
        archive = root / f"{name}.tar.gz"
        if not archive.is_file() or md5sum(archive) != md5:
            _download(name, urls, md5, archive, progress)
        _extract(archive, name, root)
        if not keep_archives:
            archive.unlink()
    return root
