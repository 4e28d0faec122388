"""Classical segmentation: NumPy images in, ``(H, W)`` int label maps out."""
