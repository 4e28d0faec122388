"""Classical segmentation: NumPy images in, ``(H, W)`` int label maps out."""

from seglab.classical.grabcut import (
    GC_BGD,
    GC_FGD,
    GC_PR_BGD,
    GC_PR_FGD,
    GrabCutState,
    grabcut,
    refine_grabcut,
    trimap_from_grabcut_database,
    trimap_from_rect,
)
from seglab.classical.ncut import normalized_cut
from seglab.classical.slic import slic
from seglab.classical.watershed import foreground_mask, watershed_instances
