"""Load and crash drivers for the bedside app: a real server process and simulated phone cameras.

Used by ``bench/load.py``, ``bench/crash.py`` and the app's tests. Loopback only, bounded loops.
"""
