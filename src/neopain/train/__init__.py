"""Training one model: the loop, the face data it reads, checkpoints, the region prior and the head
search (`tune`).
"""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "CheckpointError": "checkpoint",
    "crop_for": "checkpoint",
    "load_checkpoint": "checkpoint",
    "read_checkpoint": "checkpoint",
    "FaceSet": "data",
    "TrainDataError": "data",
    "check_task": "data",
    "face_files": "data",
    "load_faces": "data",
    "nfcs_targets": "data",
    "split_train_val": "data",
    "make_runtime": "loop",
    "predict_nfcs": "loop",
    "predict_proba": "loop",
    "TrainConfig": "trainer",
    "TrainResult": "trainer",
    "train": "trainer",
    "build_model": "trainer",
    "run_tune": "tune",
    "train_epochs": "rounds",
    "model_from_config": "checkpoint",
    "save_checkpoint": "checkpoint",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())
