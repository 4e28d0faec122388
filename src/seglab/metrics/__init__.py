"""Segmentation metrics: semantic, multi-label, superpixel, unsupervised, interactive."""
