"""Segmentation metrics: semantic, multi-label, superpixel, unsupervised, interactive."""

from seglab.metrics.aji import (
    DSB_IOU_THRESHOLDS,
    aggregated_jaccard_index,
    dsb_score,
    instance_match_counts,
)
from seglab.metrics.confusion import ConfusionMatrix, confusion_matrix, scores_from_confusion
from seglab.metrics.instance import MaskAP, mask_ap, mask_ap_coco
from seglab.metrics.interactive import grabcut_error_counts, grabcut_error_rate
from seglab.metrics.multilabel import (
    MultiLabelConfusion,
    multilabel_counts,
    multilabel_dice,
    multilabel_iou,
)
from seglab.metrics.panoptic import PanopticQuality, panoptic_quality
from seglab.metrics.segmentation import (
    adjusted_rand_index,
    probabilistic_rand_index,
    segmentation_covering,
    variation_of_information,
)
from seglab.metrics.semantic import PerImageMetrics, per_image_confusion, per_image_metrics
from seglab.metrics.superpixel import (
    achievable_segmentation_accuracy,
    boundary_mask,
    boundary_recall,
    mean_over_ground_truths,
    undersegmentation_error,
)
