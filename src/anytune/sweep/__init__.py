"""Hyperparameter sweeps: one spec with a ``sweep:`` block, many trials, one budget, one verdict.

``space`` holds the block (parameters, strategy) and makes the trials' specs; ``runner`` estimates, launches,
follows and resumes them, every trial an ordinary job in the store linked to its sweep; ``report`` is the
verdict page. Nothing here imports torch or a cloud SDK: trials run through the providers like any job.
"""
