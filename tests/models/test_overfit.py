"""Every registered model memorises one small batch of real images: the training smoke test.

The batch is two of scikit-image's bundled photographs (``coins``, ``chelsea``) at 64x64. The
mask of each is its Otsu threshold (bright = 1) computed on the image seen at 8x8, so that it
follows real image content at stride 8, the finest stride at which FCN-8s scores: FCN-16s and
FCN-32s can still memorise it through their learned upsampling, and a per-pixel mask would ask
the FCNs for detail their architecture cannot produce in a few hundred steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from seglab.models import create_model, list_models

SIZE, CELLS = 64, 8
# Per model: arguments (dropout off, so that the loss is a function of the weights) and the
# Adam learning rate. The VGG-based FCNs have no batch norm and diverge above about 3e-3.
RECIPES: dict[str, tuple[dict[str, Any], float]] = {
    "fcn32s": ({"width": 0.0625, "dropout": 0.0}, 3e-3),
    "fcn16s": ({"width": 0.0625, "dropout": 0.0}, 3e-3),
    "fcn8s": ({"width": 0.0625, "dropout": 0.0}, 3e-3),
    "deconvnet": ({"width": 0.125}, 1e-2),
    "unet": ({"base_channels": 8}, 1e-2),
    "deeplabv3plus": ({"backbone": "resnet18", "width": 0.25, "dropout": 0.0}, 3e-3),
}
MAX_STEPS = 250


@pytest.fixture(scope="module")
def real_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """``(2, 3, 64, 64)`` standardised images and ``(2, 64, 64)`` int64 Otsu masks."""
    skimage_data = pytest.importorskip("skimage.data")
    from skimage.color import rgb2gray
    from skimage.filters import threshold_otsu
    from skimage.transform import resize

    images, masks = [], []
    for name in ("coins", "chelsea"):
        image = getattr(skimage_data, name)()
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        image = resize(image, (SIZE, SIZE), anti_aliasing=True)  # float in [0, 1]
        grey = resize(rgb2gray(image), (CELLS, CELLS), anti_aliasing=True)
        coarse = (grey > threshold_otsu(grey)).astype(np.int64)
        masks.append(np.kron(coarse, np.ones((SIZE // CELLS, SIZE // CELLS), np.int64)))
        images.append(image)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    x = (x - x.mean(dim=(0, 2, 3), keepdim=True)) / x.std(dim=(0, 2, 3), keepdim=True)
    y = torch.from_numpy(np.stack(masks))
    return x, y


def test_every_model_has_a_recipe():
    assert set(RECIPES) == set(list_models())


def test_the_masks_are_not_trivial(real_batch):
    _, masks = real_batch
    foreground = masks.float().mean(dim=(1, 2))
    assert ((foreground > 0.2) & (foreground < 0.8)).all()
    assert not torch.equal(masks[0], masks[1])


# Plain VGG from scratch needs 60-150 steps here (about 3-10 s of CPU time each, several times
# that on a loaded machine), so these four run with -m slow; U-Net and DeepLabv3+ take 10-30.
SLOW = {"fcn32s", "fcn16s", "fcn8s", "deconvnet"}


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in list_models()]
)
def test_model_memorises_one_real_batch(real_batch, name):
    images, masks = real_batch
    kwargs, lr = RECIPES[name]
    torch.manual_seed(0)
    model = create_model(name, num_classes=2, **kwargs)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses, accuracy = [], 0.0
    for _ in range(MAX_STEPS + 1):
        logits = model(images)
        loss = F.cross_entropy(logits, masks)
        losses.append(loss.item())
        accuracy = (logits.argmax(dim=1) == masks).float().mean().item()
        # Done when the loss has fallen by 90 % and the masks are reproduced; the accuracy
        # guards against a loss that starts unusually high (DeepLab's first loss is about 3).
        if losses[-1] < 0.1 * losses[0] and accuracy > 0.97:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    steps = len(losses) - 1
    assert losses[-1] < 0.1 * losses[0], f"{name}: loss {losses[0]:.3f} -> {losses[-1]:.3f}"
    assert accuracy > 0.97, f"{name}: pixel accuracy {accuracy:.3f} after {steps} steps"
    assert steps <= MAX_STEPS
