"""Widen a trained U-Net checkpoint (``base_channels`` b to B > b) without changing its output.

The wide model keeps every old weight; each new channel gets freshly initialised incoming
weights and *zero* outgoing weights (the weights of the next layers that read it, and of the
head). So the old channels compute exactly what they computed before, the new channels add
nothing yet, and fine-tuning starts from the narrow model's quality with more capacity to
grow into (zero-initialised branches, as in Net2Net's function-preserving widening, Chen et
al., ICLR 2016, but without its channel copies, which would need noise to break symmetry).

The decoder's first convolution reads ``cat([skip, upsampled])``: its old input channels are
two blocks, ``[0, b')`` and ``[b', 2b')``, which move to ``[0, b')`` and ``[B', B' + b')``.

Usage:
    .venv/bin/python benchmarks/widen_unet.py src/seglab/weights/pet_unet.pt --base 24 \
        --out runs/pet_wide24_init.pt
"""

from __future__ import annotations

import argparse
import copy
import re

import torch

from seglab.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from seglab.models import create_model

# Parameters whose input channels are dimension 0 (ConvTranspose2d: (in, out, kH, kW)).
_TRANSPOSED = re.compile(r"decoder\.\d+\.upsample\.weight$")
# The convolution that reads the concatenation [skip, upsampled].
_CONCAT_INPUT = re.compile(r"decoder\.\d+\.conv\.0\.0\.weight$")


def _old_positions(key: str, dim: int, old: int, new: int, input_dim: int) -> torch.Tensor:
    """Where the ``old`` channels of dimension ``dim`` sit among the ``new`` ones."""
    if dim == input_dim and _CONCAT_INPUT.search(key):
        half_old, half_new = old // 2, new // 2
        return torch.cat([torch.arange(half_old), half_new + torch.arange(half_old)])
    return torch.arange(old)


def widen_state_dict(
    narrow: dict[str, torch.Tensor], wide_init: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The wide state dict: ``wide_init`` with the narrow weights embedded, new inputs zeroed.

    Args:
        narrow: state dict of the trained narrow U-Net.
        wide_init: state dict of a freshly initialised wide U-Net (same keys).

    Returns:
        A state dict for the wide model that computes the narrow model's function.
    """
    wide = {}
    for key, init in wide_init.items():
        old = narrow[key]
        if old.shape == init.shape:
            wide[key] = old.clone()
            continue
        value = init.clone()
        input_dim = 0 if _TRANSPOSED.search(key) else 1
        positions = tuple(
            _old_positions(key, dim, old.shape[dim], value.shape[dim], input_dim)
            for dim in range(value.dim())
        )
        if value.dim() == 4:
            # The weights that read the new input channels start at zero.
            new_inputs = torch.ones(value.shape[input_dim], dtype=torch.bool)
            new_inputs[positions[input_dim]] = False
            value.index_fill_(input_dim, new_inputs.nonzero().flatten(), 0)
        value[torch.meshgrid(*positions, indexing="ij")] = old.to(value.dtype)
        wide[key] = value
    return wide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="trained U-Net checkpoint")
    parser.add_argument("--base", type=int, required=True, help="new base_channels")
    parser.add_argument("--seed", type=int, default=0, help="seed of the new channels' init")
    parser.add_argument("--out", required=True, help="widened checkpoint to write")
    args = parser.parse_args()

    state = load_checkpoint(args.checkpoint)
    if state["model"]["name"] != "unet":
        raise SystemExit(f"{args.checkpoint} holds a {state['model']['name']!r} model, not unet")
    old_base = state["model"].get("base_channels", 32)
    if args.base <= old_base:
        raise SystemExit(f"--base {args.base} must exceed the checkpoint's {old_base}")
    torch.manual_seed(args.seed)
    wide_spec = {**state["model"], "base_channels": args.base}
    wide_model = create_model(**wide_spec)
    wide_state = widen_state_dict(state["state_dict"], wide_model.state_dict())
    wide_model.load_state_dict(wide_state)

    # The widened model must compute what the narrow one did.
    narrow_model = model_from_checkpoint(state)
    probe = torch.randn(2, 3, 96, 128, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        gap = (wide_model.eval()(probe) - narrow_model(probe)).abs().max().item()
    if gap > 1e-4:
        raise SystemExit(f"widening changed the output by {gap:.2e}")

    out = {key: value for key, value in state.items() if key not in ("state_dict", "soup")}
    out["model"] = wide_spec
    out["state_dict"] = wide_state
    train_args = copy.deepcopy(out.get("train_args", {}))
    train_args["model_kwargs"] = {**train_args.get("model_kwargs", {}), "base_channels": args.base}
    out["train_args"] = train_args
    out["widened_from"] = {"checkpoint": str(args.checkpoint), "base_channels": old_base}
    save_checkpoint(args.out, out)
    params = sum(value.numel() for value in wide_model.parameters())
    print(
        f"{args.out}: base {old_base} -> {args.base}, {params / 1e6:.2f} M parameters, "
        f"max output change {gap:.1e}"
    )


if __name__ == "__main__":
    main()
