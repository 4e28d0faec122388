"""The download helper, without the network: a fake fetch serves local archives."""

from __future__ import annotations

import hashlib
import io
import tarfile
import urllib.error

import pytest

from seglab.data import download


def _archive(folder: str, name: str = "file.txt") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = f"content of {folder}".encode()
        info = tarfile.TarInfo(f"{folder}/{name}")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def fake_archives(monkeypatch):
    """Serve small archives under the official URLs, with their real MD5s pinned."""
    payloads = {}
    pinned = {}
    for name, (urls, _) in download.OXFORD_PET_ARCHIVES.items():
        payloads.update(dict.fromkeys(urls, _archive(name)))
        pinned[name] = (urls, hashlib.md5(payloads[urls[0]]).hexdigest())
    monkeypatch.setattr(download, "OXFORD_PET_ARCHIVES", pinned)
    calls = []

    def fake_fetch(url, target, *, progress=True):
        calls.append(url)
        if url not in payloads:
            raise urllib.error.URLError("unreachable")
        target.write_bytes(payloads[url])

    monkeypatch.setattr(download, "_fetch", fake_fetch)
    return payloads, calls


def test_official_addresses_and_checksums():
    images, annotations = (
        download.OXFORD_PET_ARCHIVES["images"],
        download.OXFORD_PET_ARCHIVES["annotations"],
    )
    assert images[0][0] == "https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz"
    assert annotations[0][0] == "https://thor.robots.ox.ac.uk/datasets/pets/annotations.tar.gz"
    assert images[1] == "5c4f3ee8e5d25df40f4fd59a7f44e54c"  # as pinned by torchvision
    assert annotations[1] == "95a8c909bbe2e81eed6a22bccdf3f68f"


def test_download_verifies_extracts_and_resumes(tmp_path, fake_archives):
    _, calls = fake_archives
    root = download.download_oxford_pet(tmp_path / "pets", progress=False)
    assert (root / "images" / "file.txt").read_text() == "content of images"
    assert (root / "annotations" / "file.txt").read_text() == "content of annotations"
    assert sorted(p.name for p in root.iterdir()) == ["annotations", "images"]  # no leftovers
    download.download_oxford_pet(root)  # everything present: nothing fetched again
    assert len(calls) == 2


def test_a_verified_archive_on_disk_is_not_fetched_again(tmp_path, fake_archives):
    payloads, calls = fake_archives
    url = download.OXFORD_PET_ARCHIVES["images"][0][0]
    (tmp_path / "images.tar.gz").write_bytes(payloads[url])
    download.download_oxford_pet(tmp_path, keep_archives=True)
    assert calls == [download.OXFORD_PET_ARCHIVES["annotations"][0][0]]
    assert (tmp_path / "images.tar.gz").is_file() and (tmp_path / "images" / "file.txt").is_file()


def test_the_mirror_is_tried_when_the_first_address_fails(tmp_path, fake_archives):
    payloads, calls = fake_archives
    first = download.OXFORD_PET_ARCHIVES["images"][0][0]
    del payloads[first]
    download.download_oxford_pet(tmp_path)
    assert calls[:2] == list(download.OXFORD_PET_ARCHIVES["images"][0])
    assert (tmp_path / "images" / "file.txt").is_file()


def test_all_addresses_failing_lists_each_error(tmp_path, fake_archives):
    payloads, _ = fake_archives
    payloads.clear()
    with pytest.raises(
        OSError,
        match=r"could not download the images archive; tried https://thor.*unreachable.*; https://www",
    ):
        download.download_oxford_pet(tmp_path)
    assert not list(tmp_path.iterdir())


def test_checksum_mismatch_removes_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(
        download, "_fetch", lambda url, target, progress=True: target.write_bytes(b"corrupt")
    )
    with pytest.raises(
        ValueError,
        match="checksum mismatch for https://thor.robots.ox.ac.uk/datasets/pets/images.tar.gz: "
        "expected MD5 5c4f3ee8e5d25df40f4fd59a7f44e54c",
    ):
        download.download_oxford_pet(tmp_path)
    assert not list(tmp_path.iterdir())


def test_an_archive_without_its_folder_is_rejected(tmp_path, fake_archives, monkeypatch):
    payloads, _ = fake_archives
    wrong = _archive("something_else")
    urls = download.OXFORD_PET_ARCHIVES["images"][0]
    payloads.update(dict.fromkeys(urls, wrong))
    monkeypatch.setitem(
        download.OXFORD_PET_ARCHIVES, "images", (urls, hashlib.md5(wrong).hexdigest())
    )
    with pytest.raises(ValueError, match="has no top-level folder 'images'; is it the right file"):
        download.download_oxford_pet(tmp_path)
    assert not (tmp_path / "images").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # scratch cleaned up


def test_unsafe_paths_are_refused_without_tarfile_filters(tmp_path, fake_archives, monkeypatch):
    payloads, _ = fake_archives
    evil = _archive("images", name="../../escape.txt")
    urls = download.OXFORD_PET_ARCHIVES["images"][0]
    payloads.update(dict.fromkeys(urls, evil))
    monkeypatch.setitem(
        download.OXFORD_PET_ARCHIVES, "images", (urls, hashlib.md5(evil).hexdigest())
    )
    monkeypatch.delattr(download.tarfile, "data_filter", raising=False)  # as on old Pythons
    with pytest.raises(ValueError, match=r"unsafe path 'images/\.\./\.\./escape\.txt'"):
        download.download_oxford_pet(tmp_path / "root")
    assert not (tmp_path / "escape.txt").exists()


def test_unsafe_or_damaged_archives_are_refused_by_the_filter(tmp_path, fake_archives, monkeypatch):
    payloads, _ = fake_archives
    urls = download.OXFORD_PET_ARCHIVES["images"][0]
    for payload, message in (
        (_archive("images", name="../../escape.txt"), "is outside the destination"),
        (b"\x1f\x8b not really gzip", "cannot extract .*images.tar.gz"),
    ):
        payloads.update(dict.fromkeys(urls, payload))
        monkeypatch.setitem(
            download.OXFORD_PET_ARCHIVES, "images", (urls, hashlib.md5(payload).hexdigest())
        )
        with pytest.raises(ValueError, match=message):
            download.download_oxford_pet(tmp_path / "root")
    assert not (tmp_path / "escape.txt").exists()


def test_md5sum_matches_hashlib(tmp_path):
    (tmp_path / "f").write_bytes(b"abc" * 100_000)
    assert download.md5sum(tmp_path / "f", chunk=1000) == hashlib.md5(b"abc" * 100_000).hexdigest()
