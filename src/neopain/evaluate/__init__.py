"""Evaluation: splits (image-wise and subject-wise), metrics, statistics, the pixel baseline, the protocol
runner, reports and model cards.

Only ``protocol`` imports torch (it trains through ``neopain.train``); everything else works on the
probabilities saved per repetition, so reports and cards can be rebuilt without the models.
"""
