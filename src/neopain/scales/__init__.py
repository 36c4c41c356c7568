"""Shared by every stage: the clinicians' scales as data (the NFCS vocabulary and versions, the bedside
instruments and their scoring engine, the observation windows). Imports no stage; modules are imported directly."""
