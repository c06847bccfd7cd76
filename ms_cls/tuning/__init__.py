"""The tuning loop as commands: sweeps and k-fold runs (one training run per work dir, driven as
subprocesses of scripts/train.py), checkpoint averaging and weight soups."""
