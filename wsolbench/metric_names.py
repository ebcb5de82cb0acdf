"""The metric keys of every result and their short display names (no heavy imports: the CLI
and the leaderboard read them at start-up)."""

METRIC_KEYS = ("maxboxacc", "maxboxacc_v2", "maxboxacc_iou30", "maxboxacc_iou50", "maxboxacc_iou70",
               "gt_known_loc", "top1_loc", "top1_cls", "pxap", "piou", "mpxap")

#: Short display names of the metrics (column headers, lists); longer descriptions live with their tables.
METRIC_NAMES = {
    "top1_cls": "Top-1 cls", "gt_known_loc": "GT-known loc", "top1_loc": "Top-1 loc",
    "maxboxacc": "MaxBoxAcc", "maxboxacc_v2": "MaxBoxAccV2", "maxboxacc_iou30": "BoxAcc@30",
    "maxboxacc_iou50": "BoxAcc@50", "maxboxacc_iou70": "BoxAcc@70", "pxap": "PxAP", "mpxap": "mPxAP",
    "piou": "PIoU",
}
