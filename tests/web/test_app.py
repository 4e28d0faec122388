"""The gradio layer without a browser: the app builds, errors become page messages, the CLI."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from seglab.cli import build_parser


def test_serve_parser_defaults_to_loopback():
    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.max_megapixels, args.checkpoint) == (
        "127.0.0.1",
        7860,
        25.0,
        [],
    )
    args = build_parser().parse_args(
        ["serve", "--checkpoint", "a.pt", "--checkpoint", "b.pt", "--port", "9000"]
    )
    assert args.checkpoint == ["a.pt", "b.pt"] and args.port == 9000


def without_gradio(monkeypatch) -> None:
    """Make ``import gradio`` fail, as if it were not installed, and forget the app module."""
    import seglab.web

    monkeypatch.setitem(sys.modules, "gradio", None)
    monkeypatch.delitem(sys.modules, "seglab.web.app", raising=False)
    monkeypatch.delattr(seglab.web, "app", raising=False)


def test_seglab_web_imports_without_gradio(monkeypatch):
    without_gradio(monkeypatch)
    import seglab.web
    import seglab.web.handlers  # noqa: F401 - plain Python, no gradio

    with pytest.raises(ImportError, match=r"pip install 'seglab\[web\]'"):
        importlib.import_module("seglab.web.app")
    with pytest.raises(ImportError, match=r"pip install 'seglab\[web\]'"):
        seglab.web.build_app  # noqa: B018 - the lazy attribute imports the app


def test_cli_serve_without_gradio_is_one_clear_line(monkeypatch, capsys):
    from seglab.cli import main

    without_gradio(monkeypatch)
    assert main(["serve"]) == 2
    assert "pip install 'seglab[web]'" in capsys.readouterr().err


gradio = pytest.importorskip("gradio", reason="gradio is not installed (pip install 'seglab[web]')")


@pytest.fixture(scope="module")
def app():
    from seglab.web.app import build_app

    return build_app()


def test_app_builds_with_its_public_api(app):
    assert isinstance(app, gradio.Blocks)
    config = app.get_config_file()
    public = {
        dependency["api_name"]
        for dependency in config["dependencies"]
        if dependency.get("api_visibility", "public") == "public"
    }
    assert {"predict", "evaluate"} <= public
    assert app.seglab_runner.names[0] == "pet model (shipped)"


def test_missing_checkpoint_is_refused_at_build():
    from seglab.web.app import build_app

    with pytest.raises(FileNotFoundError, match="no such checkpoint"):
        build_app(["/nonexistent/model.pt"])


def test_errors_become_page_messages():
    from seglab.web.app import _shown
    from seglab.web.validate import InputError

    @_shown
    def refuses():
        raise InputError("nope.png: not an image")

    with pytest.raises(gradio.Error, match="nope.png: not an image"):
        refuses()

    @_shown
    def breaks():
        raise KeyError("bug")

    with pytest.raises(gradio.Error, match=r"internal error \(KeyError\)"):
        breaks()


def test_layers_are_stacked_in_order():
    from seglab.web.app import _layer

    first = np.zeros((2, 2, 4), np.uint8)
    first[0, 0] = (1, 2, 3, 255)
    second = np.zeros((2, 2, 4), np.uint8)
    second[0, 0] = (9, 9, 9, 255)
    second[1, 1] = (5, 5, 5, 255)
    stacked = _layer({"background": None, "layers": [first, second], "composite": None})
    assert stacked[0, 0].tolist() == [9, 9, 9, 255] and stacked[1, 1].tolist() == [5, 5, 5, 255]
    assert _layer(None) is None and _layer({"layers": []}) is None
