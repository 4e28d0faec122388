"""The seglab web app (``seglab serve``), an optional extra: ``pip install 'seglab[web]'``.

:mod:`seglab.web.validate` and :mod:`seglab.web.handlers` are plain Python and import without
gradio; only :mod:`seglab.web.app` needs it. ``build_app`` and ``serve`` are imported from there
on first use, so that ``import seglab.web`` works without the extra.
"""

from __future__ import annotations

__all__ = ["build_app", "serve"]


def __getattr__(name: str):
    if name in __all__:
        from seglab.web import app

        return getattr(app, name)
    raise AttributeError(f"module 'seglab.web' has no attribute {name!r}")
