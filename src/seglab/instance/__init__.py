"""Instance segmentation: training targets, grouping, drawing, panoptic fusion.

One concept per module:

* the :class:`Instances` list and the label-map conversions are a label format, so they live
  in :mod:`seglab.annotations.instances` (metrics and COCO files need them too); they are
  re-exported here.
* :mod:`~seglab.instance.targets`: Panoptic-DeepLab centre/offset targets and the instance loss.
* :mod:`~seglab.instance.grouping`: centre NMS and pixel-to-centre grouping, on one image.
* :mod:`~seglab.instance.draw`: one colour per instance, overlays.
* :mod:`~seglab.instance.panoptic`: semantic stuff plus instance things in one panoptic map.

Running a checkpoint over image files and writing the results is the engine's job
(:mod:`seglab.engine.instance_predict`).
"""

from seglab.annotations.instances import (
    Instances,
    instances_to_labels,
    labels_to_instances,
    mean_per_instance,
)
from seglab.instance.draw import instance_colors, overlay_instances, save_instances_overlay
from seglab.instance.grouping import (
    GROUPING_SETTINGS,
    InstanceGrouping,
    checkpoint_grouping,
    find_centers,
    group_instances,
    predict_instances,
)
from seglab.instance.panoptic import fuse
from seglab.instance.targets import (
    DEFAULT_LOSS_WEIGHTS,
    instance_loss,
    instance_target_tensors,
    instance_targets,
)

__all__ = [
    "DEFAULT_LOSS_WEIGHTS",
    "GROUPING_SETTINGS",
    "InstanceGrouping",
    "Instances",
    "checkpoint_grouping",
    "find_centers",
    "fuse",
    "group_instances",
    "instance_colors",
    "instance_loss",
    "instance_target_tensors",
    "instance_targets",
    "instances_to_labels",
    "labels_to_instances",
    "mean_per_instance",
    "overlay_instances",
    "predict_instances",
    "save_instances_overlay",
]
