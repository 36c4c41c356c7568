"""The serving side, torch-free: the ONNX model file and its metadata, the predictor (detect -> crop
-> classify), the quality gate, the video stream, batch runs over files and videos, and a video observed
with an instrument over its windows (JSON / HTML report with an SVG timeline).
"""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "ROW_FIELDS": "batch",
    "image_files": "batch",
    "image_rows": "batch",
    "summary_line": "batch",
    "video_frames": "batch",
    "video_rows": "batch",
    "write_rows": "batch",
    "INPUT_NAME": "model",
    "META_CARD": "model",
    "META_CONDITIONS": "model",
    "META_FEDERATION": "model",
    "META_CONFIG": "model",
    "META_CROP": "model",
    "META_MODEL_ID": "model",
    "META_OUTPUTS": "model",
    "META_QUANTIZATION": "model",
    "META_SYNTHETIC": "model",
    "ModelFileError": "model",
    "OUTPUT_NAME": "model",
    "OnnxClassifier": "model",
    "Evidence": "evidence",
    "FrameEvidence": "evidence",
    "evidence_overlay": "evidence",
    "frame_evidence": "evidence",
    "occlusion_evidence": "evidence",
    "ActionReading": "nfcs",
    "NfcsReading": "nfcs",
    "read_nfcs": "nfcs",
    "outputs_summary": "model",
    "parse_metadata": "model",
    "DEFAULT_FPS": "observe",
    "PROPOSES": "observe",
    "Observation": "observe",
    "ObservedFrame": "observe",
    "observe_video": "observe",
    "read_clip": "observe",
    "check_report_path": "observe_report",
    "observation_dict": "observe_report",
    "window_message": "observe_report",
    "window_status": "observe_report",
    "write_observation": "observe_report",
    "Predictor": "predictor",
    "SEARCH_SIDES": "predictor",
    "StreamPredictor": "stream",
    "Series": "timeline",
    "Shade": "timeline",
    "timeline_svg": "timeline",
    "WARD_REASONS": "ward",
    "WardGate": "ward",
    "WardReading": "ward",
    "frame_light": "ward",
    "read_ward": "ward",
    "look_again_under_lights": "ward",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())
