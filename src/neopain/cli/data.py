"""``neopain data validate|import``."""

from __future__ import annotations
