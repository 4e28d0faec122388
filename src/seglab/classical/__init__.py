"""Classical segmentation: NumPy images in, ``(H, W)`` int label maps out."""

from seglab.classical.ncut import normalized_cut
from seglab.classical.slic import slic
from seglab.classical.watershed import foreground_mask, watershed_instances
