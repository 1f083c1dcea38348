"""Forecast runs: the run record, its products, the services that move it, its pages."""
