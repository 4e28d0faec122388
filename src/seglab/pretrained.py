"""The model weights that ship inside the package, found in one place.

Both files were trained by seglab itself (see ``docs/benchmarks.md``): the Oxford-IIIT Pet
U-Net behind ``seglab predict`` and the DSB 2018 nuclei model behind ``seglab instance``.
Nothing is ever downloaded.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = [
    "PET_WEIGHTS",
    "NUCLEI_WEIGHTS",
    "shipped_weights",
    "default_checkpoint",
    "default_instance_checkpoint",
]

PET_WEIGHTS = "pet_unet.pt"
NUCLEI_WEIGHTS = "nuclei_instance.pt"


def shipped_weights(name: str, *, hint: str) -> Path:
    """Path of a weights file in ``seglab/weights``.

    Args:
        name: the file name.
        hint: what to do instead, for the error message.

    Raises:
        FileNotFoundError: if this installation lacks the file.
    """
    path = Path(str(resources.files("seglab") / "weights" / name))
    if not path.is_file():
        raise FileNotFoundError(f"this installation has no {path}; {hint}")
    return path


def default_checkpoint() -> Path:
    """The shipped Oxford-IIIT Pet model (``seglab predict``'s default).

    Raises:
        FileNotFoundError: if this installation has no shipped weights.

    Example:
        >>> default_checkpoint().name
        'pet_unet.pt'
    """
    return shipped_weights(PET_WEIGHTS, hint="pass --checkpoint, or reinstall seglab")


def default_instance_checkpoint() -> Path:
    """The shipped nuclei instance model (``seglab instance``'s default).

    Raises:
        FileNotFoundError: if this installation has no shipped instance model.
    """
    return shipped_weights(
        NUCLEI_WEIGHTS,
        hint="pass --checkpoint (a file written by seglab.engine.train_instance)",
    )
