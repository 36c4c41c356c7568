"""Datasets in and out: manifests, dataset adapters (iCOPE, iCOPEvid, UNIFESP, folders, CSV, a CSV of
videos), validation and the synthetic benchmarks (stills and videos) with their known answer.
"""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "SUBJECT_RULES": "folder",
    "import_csv": "folder",
    "import_folder": "folder",
    "DEFAULT_NO_PAIN_STIMULI": "icope",
    "DEFAULT_PAIN_STIMULI": "icope",
    "import_icope": "icope",
    "import_icopevid": "icopevid",
    "DatasetError": "importing",
    "ImportResult": "importing",
    "Problem": "importing",
    "LANDMARK_NAMES": "manifest",
    "ManifestError": "manifest",
    "Sample": "manifest",
    "binary_task": "manifest",
    "manifest_hash": "manifest",
    "nfcs_table": "manifest",
    "read_manifest": "manifest",
    "resolve_path": "manifest",
    "summarize": "manifest",
    "write_manifest": "manifest",
    "synthesize": "synthetic",
    "synthesize_sites": "synth_sites",
    "generate_videos": "synth_video",
    "synthesize_videos": "synth_video",
    "VideoConfig": "synth_timeline",
    "import_unifesp": "unifesp",
    "import_videos": "videos",
    "ValidationReport": "validate",
    "validate_manifest": "validate",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())
