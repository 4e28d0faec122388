"""Load ImageNet backbone weights from a local torchvision-style ``.pth`` file. Never downloads.

Our backbones use torchvision's parameter names (``features.N.*`` for VGG16, ``conv1``,
``bn1``, ``layerX.Y.*`` for ResNet), so a state dict saved with
``torch.save(torchvision.models.resnet50(weights=...).state_dict(), "resnet50.pth")`` on a
machine that has torchvision loads here without it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

__all__ = ["BackboneLoadResult", "load_backbone_weights"]

# ImageNet classifier heads: torchvision's VGG ``classifier.*`` and ResNet ``fc.*``.
_IGNORED_PREFIXES = ("fc.", "classifier.")
# Wrappers that training scripts put around a state dict or its keys.
_WRAPPER_KEYS = ("state_dict", "model")
_KEY_PREFIXES = ("module.", "backbone.")


class BackboneLoadResult(NamedTuple):
    """Outcome of :func:`load_backbone_weights`, keys in torchvision naming.

    Attributes:
        loaded: keys copied into the backbone.
        missing: backbone keys the file does not have (left as they were).
        unexpected: file keys the backbone does not have (the classifier is not counted).
    """

    loaded: list[str]
    missing: list[str]
    unexpected: list[str]


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"no such weights file: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for a corrupt or non-torch file
        raise ValueError(f"cannot read weights file {path}: {error}") from error
    for wrapper in _WRAPPER_KEYS:
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict) or not all(
        isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()
    ):
        raise ValueError(f"{path} does not hold a state dict (a dict of name -> tensor)")
    cleaned = {}
    for key, value in state.items():
        for prefix in _KEY_PREFIXES:
            key = key.removeprefix(prefix)
        cleaned[key] = value
    return cleaned


def load_backbone_weights(
    model: nn.Module, path: str | os.PathLike, *, strict: bool = False
) -> BackboneLoadResult:
    """Copy backbone weights from a local torchvision-style state dict into ``model.backbone``.

    Keys are matched by torchvision name. A leading ``module.`` (DataParallel) or ``backbone.``
    (a segmentation model's file) is stripped, a ``{"state_dict": ...}`` or ``{"model": ...}``
    wrapper is opened, and the ImageNet classifier (``fc.*``, ``classifier.*``) is ignored.

    Args:
        model: a model with a ``backbone`` attribute (FCN, DeconvNet, DeepLabv3+).
        path: a ``.pth``/``.pt`` file saved with :func:`torch.save`.
        strict: raise if any backbone key is missing from the file or any file key is
            unexpected.

    Returns:
        The loaded, missing and unexpected keys.

    Raises:
        FileNotFoundError: if ``path`` does not exist.
        ValueError: if the model has no backbone, the file is not a state dict, a tensor's
            shape differs from the model's (the message names the key), or, with ``strict``,
            keys are missing or unexpected.

    Example:
        >>> from seglab.models import create_model
        >>> model = create_model("deeplabv3plus", num_classes=2, backbone="resnet50")
        >>> result = load_backbone_weights(model, "resnet50-0676ba61.pth")  # doctest: +SKIP
        >>> result.missing  # doctest: +SKIP
        []
    """
    backbone = getattr(model, "backbone", None)
    if not isinstance(backbone, nn.Module):
        raise ValueError(
            f"{type(model).__name__} has no torchvision-compatible backbone to load weights into"
        )
    state = _read_state_dict(Path(path))
    own = backbone.state_dict()
    loaded, unexpected = [], []
    for key, tensor in state.items():
        if key.startswith(_IGNORED_PREFIXES):
            continue
        if key not in own:
            unexpected.append(key)
            continue
        if tensor.shape != own[key].shape:
            raise ValueError(
                f"shape mismatch for {key}: file has {tuple(tensor.shape)}, model has "
                f"{tuple(own[key].shape)} (ImageNet weights fit only width=1.0 and in_channels=3)"
            )
        loaded.append(key)
    missing = [key for key in own if key not in state]
    if strict and (missing or unexpected):
        raise ValueError(
            f"strict loading failed: {len(missing)} missing key(s) {missing[:5]}, "
            f"{len(unexpected)} unexpected key(s) {unexpected[:5]}"
        )
    backbone.load_state_dict({key: state[key] for key in loaded}, strict=False)
    return BackboneLoadResult(loaded, missing, unexpected)
