"""Evaluation: splits (image-wise and subject-wise), metrics, statistics, the pixel baseline, reports.

Nothing in this package imports torch; models enter only through the probabilities they produce.
"""
