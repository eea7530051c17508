"""The checkout's command-line shims: ``python -m preprocess.NAME --help`` runs ``avhubert_ami.cli.NAME``.

Only the repository has this package (setup.py installs ``avhubert_ami`` alone, so a wheel puts no generic
top-level ``preprocess`` into site-packages); installed, the same command lines are the ``avhubert-*`` console
scripts. ``avhubert_ami`` recognises ``python -m preprocess.NAME`` as a preprocessing command line and starts
without fairseq (avhubert_ami/__init__.py); nothing under ``avhubert_ami`` imports this package.
"""
