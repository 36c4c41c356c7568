"""From checkpoint to shipped file: ONNX export with a parity check, int8 quantisation, Table II and the
rewrites that make a model exportable (torch only where a checkpoint is read).
"""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "QuantizeError": "quant",
    "describe": "quant",
    "load_face_crops": "quant",
    "quantize": "quant",
    "record_table_ii": "table",
    "table_ii": "table",
    "write_table_ii": "table",
    "TfliteError": "tflite",
    "to_tflite": "tflite",
    "ExportError": "to_onnx",
    "export_checked": "to_onnx",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())
