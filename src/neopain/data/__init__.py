"""Datasets: the manifest format, adapters that build one, and the synthetic benchmark."""
