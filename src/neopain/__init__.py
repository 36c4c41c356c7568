"""neopain: open bedside neonatal pain assessment from face images.

Research software, not a medical device.
"""

__version__ = "0.1.0"
