"""Reference state-dict layouts of torchvision's ImageNet classifiers, written down by hand.

These tables restate torchvision's published model definitions (``torchvision/models/vgg.py``
and ``torchvision/models/resnet.py``), not seglab's code, so that the backbone tests compare
seglab against an independent description of the file a user would save with
``torch.save(torchvision.models.resnet50(weights=...).state_dict(), path)``.

* VGG (``make_layers(cfgs["D"], batch_norm)``): walking the configuration
  ``[64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]``,
  each number appends ``Conv2d(in, v, 3, padding=1)`` (then ``BatchNorm2d(v)`` with batch norm)
  and ``ReLU``, and each ``"M"`` a ``MaxPool2d``; the position in that ``nn.Sequential`` is the
  ``N`` of ``features.N``. The classifier is ``Linear(512*7*7, 4096), ReLU, Dropout,
  Linear(4096, 4096), ReLU, Dropout, Linear(4096, 1000)``: ``classifier.0``, ``.3``, ``.6``.
* ResNet: ``conv1`` (7x7, 64, no bias), ``bn1``, then ``layer1`` .. ``layer4`` with 64, 128,
  256, 512 planes and ``[2, 2, 2, 2]`` (18), ``[3, 4, 6, 3]`` (34, 50) or ``[3, 4, 23, 3]``
  (101) blocks. ``BasicBlock`` (expansion 1): ``conv1`` 3x3, ``bn1``, ``conv2`` 3x3, ``bn2``.
  ``Bottleneck`` (expansion 4, width = planes): ``conv1`` 1x1, ``bn1``, ``conv2`` 3x3,
  ``bn2``, ``conv3`` 1x1 to ``4 * planes``, ``bn3``. The first block of a layer has
  ``downsample.0`` (1x1 conv, no bias) and ``downsample.1`` (BN) when it strides or changes the
  channel count. Then ``fc = Linear(512 * expansion, 1000)``.
* ``BatchNorm2d`` contributes ``weight``, ``bias``, ``running_mean``, ``running_var`` (all
  ``(C,)``) and ``num_batches_tracked`` (a scalar).
"""

from __future__ import annotations

Shapes = dict[str, tuple[int, ...]]

VGG16_CFG: list[int | str] = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M"]
VGG16_CFG += [512, 512, 512, "M", 512, 512, 512, "M"]

VGG_CLASSIFIER: Shapes = {
    "classifier.0.weight": (4096, 512 * 7 * 7),
    "classifier.0.bias": (4096,),
    "classifier.3.weight": (4096, 4096),
    "classifier.3.bias": (4096,),
    "classifier.6.weight": (1000, 4096),
    "classifier.6.bias": (1000,),
}

# (block kind, blocks per layer); kind "basic" has expansion 1, "bottleneck" expansion 4.
RESNET_CFG: dict[str, tuple[str, tuple[int, int, int, int]]] = {
    "resnet18": ("basic", (2, 2, 2, 2)),
    "resnet34": ("basic", (3, 4, 6, 3)),
    "resnet50": ("bottleneck", (3, 4, 6, 3)),
    "resnet101": ("bottleneck", (3, 4, 23, 3)),
}


def _batch_norm(prefix: str, channels: int) -> Shapes:
    shapes = {f"{prefix}.{name}": (channels,) for name in ("weight", "bias")}
    shapes.update({f"{prefix}.{name}": (channels,) for name in ("running_mean", "running_var")})
    shapes[f"{prefix}.num_batches_tracked"] = ()
    return shapes


def vgg16_shapes(*, batch_norm: bool) -> Shapes:
    """State-dict shapes of torchvision ``vgg16()`` (or ``vgg16_bn()``), classifier included."""
    shapes: Shapes = {}
    index, channels = 0, 3
    for value in VGG16_CFG:
        if value == "M":
            index += 1  # MaxPool2d: no parameters
            continue
        shapes[f"features.{index}.weight"] = (value, channels, 3, 3)
        shapes[f"features.{index}.bias"] = (value,)
        index += 1
        if batch_norm:
            shapes.update(_batch_norm(f"features.{index}", value))
            index += 1
        index += 1  # ReLU
        channels = value
    shapes.update(VGG_CLASSIFIER)
    return shapes


def resnet_shapes(name: str) -> Shapes:
    """State-dict shapes of torchvision ``resnet18/34/50/101()``, ``fc`` included."""
    kind, blocks_per_layer = RESNET_CFG[name]
    expansion = 1 if kind == "basic" else 4
    shapes: Shapes = {"conv1.weight": (64, 3, 7, 7), **_batch_norm("bn1", 64)}
    inplanes = 64
    for layer, (planes, blocks) in enumerate(
        zip((64, 128, 256, 512), blocks_per_layer, strict=True), 1
    ):
        for block in range(blocks):
            prefix = f"layer{layer}.{block}"
            if kind == "basic":
                convs = [(planes, inplanes, 3), (planes, planes, 3)]
            else:
                convs = [(planes, inplanes, 1), (planes, planes, 3), (planes * 4, planes, 1)]
            for number, (out, into, kernel) in enumerate(convs, 1):
                shapes[f"{prefix}.conv{number}.weight"] = (out, into, kernel, kernel)
                shapes.update(_batch_norm(f"{prefix}.bn{number}", out))
            # torchvision: stride != 1 or inplanes != planes * expansion, first block only.
            strides = block == 0 and layer > 1
            if block == 0 and (strides or inplanes != planes * expansion):
                shapes[f"{prefix}.downsample.0.weight"] = (planes * expansion, inplanes, 1, 1)
                shapes.update(_batch_norm(f"{prefix}.downsample.1", planes * expansion))
            inplanes = planes * expansion
    shapes["fc.weight"] = (1000, 512 * expansion)
    shapes["fc.bias"] = (1000,)
    return shapes


TORCHVISION_SHAPES: dict[str, Shapes] = {
    "vgg16": vgg16_shapes(batch_norm=False),
    "vgg16_bn": vgg16_shapes(batch_norm=True),
    **{name: resnet_shapes(name) for name in RESNET_CFG},
}

# Sizes of the published checkpoints, as a check on the tables above: parameter counts
# (buffers excluded) that torchvision's documentation lists for each model.
TORCHVISION_NUM_PARAMS: dict[str, int] = {
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
}


def without_classifier(shapes: Shapes) -> Shapes:
    """``shapes`` minus the ImageNet head (``classifier.*`` and ``fc.*``)."""
    return {k: v for k, v in shapes.items() if not k.startswith(("classifier.", "fc."))}
