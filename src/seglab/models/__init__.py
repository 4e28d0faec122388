"""Segmentation models in plain PyTorch: FCN-32s/16s/8s, DeconvNet, U-Net, DeepLabv3+.

Build one by name with :func:`create_model`; :func:`list_models` gives the names. Every model
takes ``(N, in_channels, H, W)`` images of any size and returns ``(N, num_classes, H, W)``
logits, and keeps its constructor arguments in ``model.config`` so that
``create_model(**model.config)`` rebuilds it (this is what checkpoints store).

Backbones use torchvision's parameter names; :func:`load_backbone_weights` loads ImageNet
weights from a local file. Nothing is ever downloaded.

Example:
    >>> model = create_model("unet", num_classes=2, base_channels=8)
    >>> model.config
    {'name': 'unet', 'num_classes': 2, 'in_channels': 3, 'base_channels': 8, 'bilinear': False}
"""

from seglab.models.backbones import ResNetBackbone, VGG16Backbone
from seglab.models.blocks import SegmentationModel
from seglab.models.deconvnet import DeconvNet
from seglab.models.deeplabv3plus import DeepLabV3Plus
from seglab.models.fcn import FCN8s, FCN16s, FCN32s
from seglab.models.panoptic_deeplab import PanopticDeepLab  # instance model, not registered
from seglab.models.registry import create_model, list_models, register_model
from seglab.models.unet import UNet
from seglab.models.weights import BackboneLoadResult, load_backbone_weights

__all__ = [
    "register_model",
    "create_model",
    "list_models",
    "load_backbone_weights",
    "BackboneLoadResult",
    "SegmentationModel",
    "VGG16Backbone",
    "ResNetBackbone",
    "FCN32s",
    "FCN16s",
    "FCN8s",
    "DeconvNet",
    "UNet",
    "DeepLabV3Plus",
    "PanopticDeepLab",
]
