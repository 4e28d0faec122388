"""One error path: expected failures are one line on stderr with exit code 2, bugs say they
are bugs (exit 1), tracebacks only with --debug, and written files respect the umask."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import seglab.cli as cli
from seglab.cli import main
from seglab.commands import models as models_command


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code: int, err: str, command: str, text: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"seglab {command}: error: "), err
    assert text in lines[0], err


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "x.png"
    Image.fromarray(np.full((16, 20, 3), 120, np.uint8)).save(path)
    return path


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "a_file"
    path.write_text("a file, not a folder")
    return path


def test_outputs_below_a_file(image, checkpoint, a_file, capsys, tmp_path):
    target = a_file / "sub"
    cases = [
        ("predict", [str(image), "--checkpoint", str(checkpoint), "--out", str(target), "--quiet"]),
        ("soup", [str(checkpoint), str(checkpoint), "--out", str(target / "s.pt")]),
        ("export", ["--checkpoint", str(checkpoint), "--out", str(target / "m.onnx")]),
        ("demo", ["--out", str(target)]),
        ("classical", ["slic", str(image), "--out", str(target)]),
        ("instance", [str(image), "--out", str(target), "--quiet"]),
    ]
    for command, argv in cases:
        code, _, err = _run(capsys, command, *argv)
        _one_line_error(code, err, command, f"{a_file} is a file, not a folder")
    assert a_file.read_text() == "a file, not a folder"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a_file", "good.pt", "x.png"]


def test_output_file_that_is_a_folder(checkpoint, tmp_path, capsys):
    (tmp_path / "soup.pt").mkdir()
    code, _, err = _run(
        capsys, "soup", str(checkpoint), str(checkpoint), "--out", str(tmp_path / "soup.pt")
    )
    _one_line_error(
        code, err, "soup", f"cannot write {tmp_path / 'soup.pt'}: is a folder, not a file"
    )


def test_existing_file_as_output_folder(image, checkpoint, a_file, capsys):
    code, _, err = _run(
        capsys,
        "predict",
        str(image),
        "--checkpoint",
        str(checkpoint),
        "--out",
        str(a_file),
        "--quiet",
    )
    _one_line_error(code, err, "predict", "is a file, not a folder")


def test_convert_into_a_file(tmp_path, a_file, capsys):
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.fromarray(np.eye(8, dtype=np.uint8)).save(masks / "m.png")
    code, _, err = _run(
        capsys, "convert", str(masks), str(a_file), "--from", "png", "--to", "labelme"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert a_file.read_text() == "a file, not a folder"


def test_unwritable_folder(image, checkpoint, tmp_path, capsys, monkeypatch):
    """A read-only folder (simulated: the suite may run as root, which ignores permissions)."""

    def refuse(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("seglab.io.os.open", refuse)
    code, _, err = _run(
        capsys, "soup", str(checkpoint), str(checkpoint), "--out", str(tmp_path / "s.pt")
    )
    _one_line_error(code, err, "soup", f"cannot write {tmp_path / 's.pt'}: Permission denied")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_really_read_only_folder(checkpoint, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code, _, err = _run(
            capsys, "soup", str(checkpoint), str(checkpoint), "--out", str(locked / "s.pt")
        )
    finally:
        locked.chmod(0o755)
    _one_line_error(code, err, "soup", "Permission denied")


def test_finished_evaluation_survives_an_unwritable_out(checkpoint, tmp_path, a_file, capsys):
    from seglab.checkpoint import load_checkpoint, save_checkpoint

    data = tmp_path / "two"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    for index in range(2):
        Image.fromarray(np.full((16, 16, 3), 40 * index, np.uint8)).save(
            data / "images" / f"{index}.png"
        )
        Image.fromarray(np.eye(16, dtype=np.uint8)).save(data / "masks" / f"{index}.png")
    state = load_checkpoint(checkpoint)
    state.train_args = {**state.train_args, "data": str(data), "num_classes": 2}
    save_checkpoint(checkpoint, state)
    code, out, err = _run(
        capsys, "evaluate", "--checkpoint", str(checkpoint), "--data", str(data), "--split", "all",
        "--quiet", "--out", str(a_file / "eval"),
    )  # fmt: skip
    assert "miou" in out and "pixel_accuracy" in out  # the table came first
    _one_line_error(code, err, "evaluate", "is a file, not a folder")


@pytest.mark.parametrize("port", ["-1", "0", "65536", "http"])
def test_serve_port_is_checked_by_the_parser(port, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--port", port])
    assert exit_.value.code == 2
    assert f"a port is an integer in 1..65535, got '{port}'" in capsys.readouterr().err


def _failing_handler(error: BaseException):
    def handler(args):
        raise error

    return handler


def test_internal_errors_say_they_are_bugs(monkeypatch, capsys):
    monkeypatch.setattr(models_command, "run", _failing_handler(KeyError("oops")))
    code, _, err = _run(capsys, "models")
    assert code == 1
    assert err.strip() == (
        "seglab models: internal error, a bug in seglab: KeyError: 'oops' "
        "(rerun with --debug for the traceback, and report it)"
    )


def test_debug_shows_the_traceback(monkeypatch):
    monkeypatch.setattr(models_command, "run", _failing_handler(ValueError("bad")))
    with pytest.raises(ValueError, match="bad"):
        main(["--debug", "models"])
    with pytest.raises(ValueError, match="bad"):
        main(["models", "--debug"])
    monkeypatch.setenv("SEGLAB_DEBUG", "1")
    with pytest.raises(ValueError, match="bad"):
        main(["models"])


def test_ctrl_c_is_one_line(monkeypatch, capsys):
    monkeypatch.setattr(models_command, "run", _failing_handler(KeyboardInterrupt()))
    code, _, err = _run(capsys, "models")
    assert code == 130 and err.strip() == "seglab models: interrupted"


def test_os_errors_read_as_reason_and_file():
    assert (
        cli.describe_error(PermissionError(13, "Permission denied", "/x"))
        == "Permission denied: /x"
    )
    assert cli.describe_error(MemoryError()) == "out of memory"
    assert cli.describe_error(ValueError("two\nlines")) == "two lines"


def test_no_traceback_from_the_real_command(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "seglab",
            "predict",
            str(tmp_path / "missing"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "SEGLAB_DEBUG": ""},
        timeout=120,
    )
    assert result.returncode == 1  # the one input failed to read
    assert "Traceback" not in result.stderr
    assert f"failed: {tmp_path / 'missing'}: no such file" in result.stderr


@pytest.fixture
def umask():
    def set_umask(value: int) -> None:
        os.umask(value)

    old = os.umask(0o022)
    yield set_umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_outputs_respect_the_umask(mask, mode, umask, image, checkpoint, tmp_path):
    umask(mask)
    assert (
        main(
            [
                "predict",
                str(image),
                "--checkpoint",
                str(checkpoint),
                "--out",
                str(tmp_path / "p"),
                "--quiet",
            ]
        )
        == 0
    )
    assert main(["soup", str(checkpoint), str(checkpoint), "--out", str(tmp_path / "soup.pt")]) == 0
    assert (
        main(["classical", "slic", str(image), "--out", str(tmp_path / "c"), "--n-segments", "4"])
        == 0
    )
    written = [
        tmp_path / "p" / "x_mask.png",
        tmp_path / "p" / "x_overlay.png",
        tmp_path / "soup.pt",
        tmp_path / "c" / "x_slic_labels.png",
    ]
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path
