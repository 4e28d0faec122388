"""seglab: image segmentation toolkit.

Classical methods (SLIC, Normalized Cut, GrabCut, watershed), deep models (FCN, DeconvNet,
U-Net, DeepLabv3+), semantic/instance/panoptic metrics, label formats, and a
train/evaluate/predict pipeline, all in plain NumPy and PyTorch.
"""

__version__ = "0.1.0"

from seglab._checks import IGNORE_INDEX  # noqa: E402 (after the version, which has no imports)

__all__ = ["IGNORE_INDEX", "__version__"]
