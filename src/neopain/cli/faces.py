"""``neopain faces extract``."""

from __future__ import annotations
