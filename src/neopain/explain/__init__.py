"""Why the model said so: Integrated Gradients, NFCS region scores, pictures, batch runs, and the
worker process the app asks for an explanation (importing the package loads no torch).
"""

from __future__ import annotations

from neopain.core.lazy import lazy_api

# Each public name and the module defining it; other stages import these names from here only.
_API = {
    "IGSettings": "ig",
    "InputError": "inputs",
    "RunOptions": "run",
    "run_explain": "run",
    "ExplainServiceError": "service",
    "explain_record": "service",
}

__all__ = sorted(_API)  # noqa: PLE0605  (the names are the keys of _API, all strings)
__getattr__ = lazy_api(__name__, _API, globals())
