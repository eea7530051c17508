"""Preprocessing command-line tools: ``python -m preprocess.NAME --help``."""
