"""Datasets, paired transforms and the cached, prefetching input pipeline."""

from seglab.data import transforms
from seglab.data.download import download_oxford_pet
from seglab.data.folders import MaskFolderDataset, read_class_names
from seglab.data.loader import CachedDataset, default_num_workers, make_loader
from seglab.data.oxford_pet import (
    PET_MODES,
    PET_SPLITS,
    OxfordPetDataset,
    read_head_box,
    read_split_list,
    split_train_val,
    trimap_to_labels,
)
