"""The download helper, without the network: a fake fetch serves local archives."""

from __future__ import annotations

import io
import tarfile

import pytest

from seglab.data import download


def _archive(name: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = b"content"
        info = tarfile.TarInfo(f"{name}/file.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_download_verifies_extracts_and_resumes(tmp_path, monkeypatch):
    payloads = {url: _archive(name) for name, (url, _) in download.OXFORD_PET_ARCHIVES.items()}
    calls = []

    def fake_fetch(url, target):
        calls.append(url)
        target.write_bytes(payloads[url])

    import hashlib

    monkeypatch.setattr(download, "_fetch", fake_fetch)
    monkeypatch.setattr(
        download,
        "OXFORD_PET_ARCHIVES",
        {
            name: (url, hashlib.md5(payloads[url]).hexdigest())
            for name, (url, _) in download.OXFORD_PET_ARCHIVES.items()
        },
    )
    root = download.download_oxford_pet(tmp_path / "pets")
    assert (root / "images" / "file.txt").read_text() == "content"
    assert (root / "annotations" / "file.txt").read_text() == "content"
    assert not list(root.glob("*.tar.gz"))
    download.download_oxford_pet(root)  # everything present: nothing fetched again
    assert len(calls) == 2


def test_checksum_mismatch_removes_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_fetch", lambda url, target: target.write_bytes(b"corrupt"))
    with pytest.raises(
        ValueError,
        match="checksum mismatch for https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz",
    ):
        download.download_oxford_pet(tmp_path)
    assert not list(tmp_path.glob("*.tar.gz"))


def test_md5sum_matches_hashlib(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert download.md5sum(tmp_path / "f") == "900150983cd24fb0d6963f7d28e17f72"
