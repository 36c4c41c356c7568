"""Honest numbers: splits (image-wise and subject-wise), metrics, statistics, the pixel baseline, the
protocol runner, reports and model cards. Only ``protocol`` needs torch (it trains through ``neopain.train``).
"""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "INTENDED_USE": "card",
    "LIMITS": "card",
    "SYNTHETIC_LIMIT": "card",
    "card_summary": "card",
    "write_model_card": "card",
    "METRIC_NAMES": "metrics",
    "binary_metrics": "metrics",
    "roc_auc": "metrics",
    "EvalConfig": "jobs",
    "run_protocol": "protocol",
    "train_final": "protocol",
    "cv_epochs": "protocol",
    "write_report": "report",
    "Heading": "render",
    "Paragraph": "render",
    "Table": "render",
    "to_html": "render",
    "to_markdown": "render",
    "subject_holdout": "splits",
    "VideoTruthError": "video",
    "evaluate_videos": "video",
    "read_video_truth": "video",
    "video_report_md": "video",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())
