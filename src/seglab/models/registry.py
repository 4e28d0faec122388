"""The model registry: ``register_model``, ``create_model``, ``list_models``.

Adding a model means writing one file with a :class:`~seglab.models.blocks.SegmentationModel`
subclass decorated with ``@register_model("name")`` and importing it in
``seglab/models/__init__.py``; the parametrised tests then pick it up.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from torch import nn

__all__ = ["register_model", "create_model", "list_models"]

_REGISTRY: dict[str, type[nn.Module]] = {}

ModelClass = TypeVar("ModelClass", bound=type)


def register_model(name: str) -> Callable[[ModelClass], ModelClass]:
    """Class decorator that registers a model under a lowercase ``name``.

    The class gets ``name`` as its ``name`` attribute, which its ``config`` records.

    Raises:
        ValueError: if ``name`` is not lowercase or is already taken.

    Example:
        >>> @register_model("my_net")  # doctest: +SKIP
        ... class MyNet(SegmentationModel): ...
    """
    if not isinstance(name, str) or not name or name != name.lower():
        raise ValueError(f"model names are non-empty lowercase strings, got {name!r}")

    def decorator(cls: ModelClass) -> ModelClass:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_REGISTRY[name]}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorator


def list_models() -> list[str]:
    """Sorted names of the registered models.

    Example:
        >>> "unet" in list_models()
        True
    """
    return sorted(_REGISTRY)


def create_model(name: str, *, num_classes: int, in_channels: int = 3, **kwargs: Any) -> nn.Module:
    """Build a registered model by name.

    Args:
        name: a name from :func:`list_models` (case-insensitive).
        num_classes: number of output channels K (1 for a single sigmoid output).
        in_channels: image channels.
        **kwargs: model-specific arguments, e.g. ``width``, ``base_channels``, ``backbone``,
            ``output_stride``; see each model class.

    Returns:
        The model, in training mode, with ``model.config`` such that
        ``create_model(**model.config)`` rebuilds the same architecture.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones).
        TypeError: for an argument the model does not take (the message lists those it takes).

    Example:
        >>> model = create_model("unet", num_classes=2, base_channels=8)
        >>> model(torch.zeros(1, 3, 64, 64)).shape  # doctest: +SKIP
        torch.Size([1, 2, 64, 64])
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; valid models: {', '.join(list_models())}")
    cls = _REGISTRY[key]
    accepted = [
        parameter
        for parameter in inspect.signature(cls.__init__).parameters
        if parameter not in ("self", "num_classes", "in_channels")
    ]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(
            f"model {key!r} got unexpected argument(s) {', '.join(unknown)}; "
            f"it takes num_classes, in_channels, {', '.join(accepted)}"
        )
    return cls(num_classes=num_classes, in_channels=in_channels, **kwargs)
