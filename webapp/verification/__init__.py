"""Verification app: additive score sums per run, window scores, score pages."""
