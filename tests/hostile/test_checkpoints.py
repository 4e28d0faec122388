"""Hostile checkpoints: payloads never run, malformed files fail with one clear line.

Every consumer of a checkpoint (predict, evaluate, export, soup, train --init-from,
train --resume, instance, the Python classes) is handed a file whose pickle would create a
marker file; each must refuse it before anything runs.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from seglab.checkpoint import (
    UnsafeCheckpointError,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from seglab.cli import main
from seglab.engine.predict import Predictor
from seglab.engine.soup import average_checkpoints
from seglab.pretrained import default_checkpoint, default_instance_checkpoint

from .conftest import tiny_payload

REFUSAL = "it is not a plain-data checkpoint.*--trust-checkpoint"


def _cli(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [
        ["predict", "IMAGE", "--checkpoint", "EVIL", "--out", "OUT", "--quiet"],
        ["evaluate", "--checkpoint", "EVIL", "--data", "DATA", "--quiet"],
        ["export", "--checkpoint", "EVIL", "--out", "OUT/m.onnx"],
        ["soup", "EVIL", "GOOD", "--out", "OUT/soup.pt"],
        ["instance", "IMAGE", "--checkpoint", "EVIL", "--out", "OUT", "--quiet"],
        ["train", "--data", "DATA", "--dataset", "folder", "--init-from", "EVIL", "--out", "OUT"],
    ],
    ids=["predict", "evaluate", "export", "soup", "instance", "train-init-from"],
)
def test_cli_refuses_payload_checkpoints(
    command, payload_checkpoint, checkpoint, marker, folder_dataset, tmp_path, capsys
):
    image = folder_dataset / "images" / "img00.png"
    names = {
        "EVIL": str(payload_checkpoint),
        "GOOD": str(checkpoint),
        "IMAGE": str(image),
        "DATA": str(folder_dataset),
    }
    argv = [names.get(part, part).replace("OUT", str(tmp_path / "out")) for part in command]
    if command[0] == "train":
        argv += ["--model-arg", "base_channels=4", "--img-size", "32", "--quiet"]
    code, err = _cli(capsys, *argv)
    assert code == 2
    assert f"seglab {command[0]}: error: refusing to load {payload_checkpoint}" in err
    assert "--trust-checkpoint" in err
    # The message says what was refused: the call the pickle would have made.
    assert re.search(
        r"plain-data checkpoint \([^)]*unsupported (global|operand)[^)]+\);", err, re.I
    )
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()
    assert not (tmp_path / "out").exists() or command[0] == "train"


def test_train_resume_refuses_a_payload_last_pt(
    payload_checkpoint, marker, folder_dataset, tmp_path, capsys
):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(payload_checkpoint, run / "last.pt")
    code, err = _cli(
        capsys, "train", "--data", str(folder_dataset), "--dataset", "folder",
        "--out", str(run), "--resume", "--quiet", "--img-size", "32",
    )  # fmt: skip
    assert code == 2
    assert f"refusing to load {run / 'last.pt'}" in err
    assert not marker.exists()


def test_python_api_refuses_payloads(payload_checkpoint, checkpoint, marker):
    with pytest.raises(UnsafeCheckpointError, match=REFUSAL):
        load_checkpoint(payload_checkpoint)
    with pytest.raises(UnsafeCheckpointError, match=REFUSAL):
        Predictor(payload_checkpoint, device="cpu")
    with pytest.raises(UnsafeCheckpointError, match=REFUSAL):
        average_checkpoints([checkpoint, payload_checkpoint])
    assert not marker.exists()


def test_trust_checkpoint_is_a_real_opt_in(tmp_path, marker, capsys):
    """With the flag, a torch.save file with a payload loads, and the payload does run:
    the flag is the user's explicit acceptance of exactly that."""
    path = tmp_path / "evil.pt"
    from .conftest import Payload

    torch.save(tiny_payload(extra=Payload(marker)), path)
    state = load_checkpoint(path, trust_checkpoint=True)
    assert marker.exists()
    assert model_from_checkpoint(state).config["name"] == "unet"
    marker.unlink()
    image = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((20, 30, 3), np.uint8)).save(image)
    code = main(
        ["predict", str(image), "--checkpoint", str(path), "--out", str(tmp_path / "o"),
         "--quiet", "--trust-checkpoint"]
    )  # fmt: skip
    assert code == 0 and marker.exists()
    assert (tmp_path / "o" / "x_mask.png").is_file()


def test_checkpoints_of_earlier_versions_with_numpy_load_without_trust(tmp_path):
    """last.pt files of earlier seglab versions hold NumPy RNG states and metric arrays:
    safe types, allowlisted, so they load without --trust-checkpoint."""
    state = tiny_payload(
        rng={"numpy": np.random.RandomState(0).get_state()},  # noqa: NPY002
        best_metrics={"iou": np.array([0.5, np.nan]), "miou": np.float64(0.5)},
        confusion=np.arange(4, dtype=np.int64).reshape(2, 2),
    )
    torch.save({"format": 1, **state}, tmp_path / "old.pt")  # as older seglab wrote it
    loaded = load_checkpoint(tmp_path / "old.pt")
    np.testing.assert_array_equal(loaded["rng"]["numpy"][1], state["rng"]["numpy"][1])
    assert loaded["best_metrics"]["miou"] == 0.5
    np.testing.assert_array_equal(loaded["confusion"], [[0, 1], [2, 3]])


def test_new_checkpoints_are_plain_data(tmp_path):
    """What seglab writes needs no allowlist at all: NumPy values become lists and numbers."""
    state = tiny_payload(
        rng={"numpy": np.random.RandomState(0).get_state()},  # noqa: NPY002
        best_metrics={"iou": np.array([0.5, 0.25]), "miou": np.float64(0.375)},
    )
    save_checkpoint(tmp_path / "new.pt", state)
    assert torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "new.pt") == []
    loaded = torch.load(tmp_path / "new.pt", weights_only=True)
    assert loaded["best_metrics"] == {"iou": [0.5, 0.25], "miou": 0.375}
    # The NumPy RNG state restores from its plain form.
    generator = np.random.RandomState()  # noqa: NPY002
    generator.set_state(loaded["rng"]["numpy"])
    assert generator.randint(1000) == np.random.RandomState(0).randint(1000)  # noqa: NPY002


def test_shipped_checkpoints_load_safely():
    assert torch.serialization.get_unsafe_globals_in_checkpoint(default_checkpoint()) == []
    assert load_checkpoint(default_checkpoint())["class_names"] == ["background", "pet"]
    assert load_checkpoint(default_instance_checkpoint())["task"] == "instance"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cannot read checkpoint .*bad.pt"),
        (b"not a checkpoint at all", "cannot read checkpoint .*bad.pt: not a PyTorch file"),
        (b"PK\x03\x04 a broken zip", "cannot read checkpoint .*bad.pt"),
    ],
    ids=["empty", "text", "broken-zip"],
)
def test_unreadable_files_are_not_called_unsafe(tmp_path, content, message):
    """A junk file is not a reason to suggest --trust-checkpoint."""
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        load_checkpoint(tmp_path / "bad.pt")
    assert not isinstance(error.value, UnsafeCheckpointError)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"model": "unet"}, "model must be a dict with a 'name' string"),
        ({"model": {"name": 5}}, "model must be a dict with a 'name' string"),
        ({"state_dict": [1, 2]}, "state_dict must map parameter names to tensors"),
        ({"state_dict": {"w": "x"}}, "state_dict must map parameter names to tensors"),
        ({"class_names": []}, "class_names must be a list of 1 to 1024 strings"),
        ({"class_names": "pet"}, "class_names must be a list of 1 to 1024 strings"),
        ({"class_names": ["pet", "pet"]}, "class_names repeat 'pet'"),
        ({"task": "detection"}, "unknown task 'detection'; valid tasks: multiclass"),
        ({"format": 99}, "checkpoint format 99, newer than this seglab"),
        ({"format": "1"}, "format must be a positive integer"),
        ({"ignore_index": 2.5}, "ignore_index must be an integer or None"),
        ({"preprocess": {"size": [10**6, 10**6]}}, "preprocess.size must be two integers"),
        ({"preprocess": {"size": [0, 32]}}, "preprocess.size must be two integers"),
        ({"preprocess": {"std": [0.0, 1.0, 1.0]}}, "preprocess.std must be 1 to 4 finite positive"),
        ({"preprocess": {"mean": [float("nan")] * 3}}, "preprocess.mean must be 1 to 4 finite"),
        ({"preprocess": "resize"}, "preprocess must be a dict"),
    ],
)
def test_malformed_fields_fail_at_load(tmp_path, override, message):
    torch.save({**tiny_payload(), "format": 1, **override}, tmp_path / "m.pt")
    with pytest.raises(ValueError, match=message):
        load_checkpoint(tmp_path / "m.pt")


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"name": "unet", "num_classes": 2, "bogus": 1}, "cannot be built: .*unexpected argument"),
        ({"name": "no_such_net", "num_classes": 2}, "cannot be built: unknown model"),
        ({"name": "unet"}, "cannot be built"),
        ({"name": "unet", "num_classes": 2, "base_channels": 8}, "weights do not fit its model"),
    ],
)
def test_models_that_cannot_be_rebuilt_are_clear_errors(model, message, tmp_path, capsys):
    save_checkpoint(tmp_path / "m.pt", tiny_payload(model=model))
    with pytest.raises(ValueError, match=message):
        model_from_checkpoint(load_checkpoint(tmp_path / "m.pt"))
    image = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(image)
    code, err = _cli(
        capsys, "predict", str(image), "--checkpoint", str(tmp_path / "m.pt"),
        "--out", str(tmp_path / "o"), "--quiet",
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_fewer_class_names_than_outputs_is_refused(tmp_path):
    save_checkpoint(tmp_path / "m.pt", tiny_payload(class_names=["pet"]))
    with pytest.raises(ValueError, match="names 1 classes \\(pet\\) for a model with 2 outputs"):
        Predictor(tmp_path / "m.pt", device="cpu")


def test_soup_refuses_nan_weights_and_nan_ingredients(checkpoint, tmp_path, capsys):
    for weights in (["nan", "1"], ["inf", "1"], ["-1", "2"], ["0", "0"]):
        code, err = _cli(
            capsys, "soup", str(checkpoint), str(checkpoint), "--weights", *weights,
            "--out", str(tmp_path / "soup.pt"),
        )  # fmt: skip
        assert code == 2, weights
        assert "weights must be 2 finite, non-negative numbers with a positive sum" in err
    assert not (tmp_path / "soup.pt").exists()
    state = tiny_payload()
    name = next(key for key, value in state["state_dict"].items() if value.is_floating_point())
    state["state_dict"][name] = torch.full_like(state["state_dict"][name], float("nan"))
    save_checkpoint(tmp_path / "nan.pt", state)
    with pytest.raises(ValueError, match=f"tensor {name} of .*nan.pt holds NaN or infinite"):
        average_checkpoints([checkpoint, tmp_path / "nan.pt"])


def test_onnx_metadata_is_validated(tmp_path):
    from seglab.export import parse_metadata

    good = {
        "model_config": '{"name": "unet"}',
        "class_names": '["background", "pet"]',
        "task": "multiclass",
        "input_size": "[128, 128]",
    }
    assert parse_metadata(good)["input_size"] == [128, 128]
    for key, value, message in [
        ("input_size", "[100000, 100000]", "preprocess.size must be two integers"),
        ("class_names", '["a", "a"]', "class_names repeat 'a'"),
        ("class_names", "{not json", "metadata 'class_names' is not valid JSON"),
        ("task", "detection", "metadata task 'detection' is not one of"),
        ("std", "[0, 0, 0]", "preprocess.std must be 1 to 4 finite positive"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_metadata({**good, key: value}, Path("m.onnx"))


def test_web_app_refuses_payload_checkpoints_before_serving(payload_checkpoint, marker, capsys):
    pytest.importorskip("gradio")
    from seglab.web import handlers

    with pytest.raises(UnsafeCheckpointError, match=REFUSAL):
        handlers.ModelRunner([payload_checkpoint])
    # The server never starts: the refusal comes while the app is built.
    code, err = _cli(capsys, "serve", "--checkpoint", str(payload_checkpoint), "--port", "1")
    assert code == 2 and f"seglab serve: error: refusing to load {payload_checkpoint}" in err
    assert not marker.exists()


def test_web_app_loads_a_trusted_checkpoint(tmp_path, marker, checkpoint):
    pytest.importorskip("gradio")
    from seglab.web import handlers

    from .conftest import Payload

    torch.save(tiny_payload(extra=Payload(marker)), tmp_path / "evil.pt")
    runner = handlers.ModelRunner(
        [tmp_path / "evil.pt", checkpoint], trust_checkpoint=True, out_dir=tmp_path / "web"
    )
    assert marker.exists()
    output = runner.run("good.pt", np.zeros((20, 24, 3), np.uint8))
    assert output is not None
