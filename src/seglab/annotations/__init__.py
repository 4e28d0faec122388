"""Labels as polygons and key points: polygon <-> mask, COCO and LabelMe files, conversions,
and sub-pixel key-point localisation (argmax, Gaussian fit, soft-argmax).

Annotation files may be hostile: every reader checks sizes against
:data:`MAX_ANNOTATION_PIXELS` and coordinates against :data:`MAX_ANNOTATION_COORDINATE`
before allocating anything.
"""

from seglab.annotations._validate import MAX_ANNOTATION_COORDINATE, MAX_ANNOTATION_PIXELS
from seglab.annotations.coco import (
    coco_to_masks,
    mask_to_rle,
    masks_to_coco,
    polygons_to_segmentation,
    read_coco,
    segmentation_to_mask,
    segmentation_to_polygons,
    write_coco,
)
from seglab.annotations.coco_results import (
    encode_labels,
    instances_to_results,
    labels_to_results,
    read_coco_results,
    results_to_instances,
    write_coco_results,
)
from seglab.annotations.folders import FORMATS, convert_annotations
from seglab.annotations.keypoints import (
    argmax_2d,
    gaussian_peak_fit,
    normalize_coordinates,
    soft_argmax_2d,
)
from seglab.annotations.labelme import (
    labelme_to_mask,
    mask_to_labelme,
    read_labelme,
    write_labelme,
)
from seglab.annotations.panoptic_format import (
    ids_to_rgb,
    make_segments_info,
    read_panoptic,
    read_panoptic_json,
    read_panoptic_png,
    rgb_to_ids,
    write_panoptic_json,
    write_panoptic_png,
)
from seglab.annotations.polygons import (
    count_vertices,
    keyhole_ring,
    mask_to_polygons,
    polygons_to_mask,
    ring_area,
)
from seglab.annotations.simplify import simplify_polygons, simplify_to_budgets
