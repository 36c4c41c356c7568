"""Shared by every stage: settings, verified weight files, atomic writes, logging, the lazy-API helper and
worker processes. Imports no stage; modules are imported directly (``from neopain.core.config import ...``)."""
