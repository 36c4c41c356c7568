"""Shared by every stage: pixels in and out (image and video decoding), the preprocessing contract that
travels with a model, and the seeded augmentation. Imports no stage; modules are imported directly."""
