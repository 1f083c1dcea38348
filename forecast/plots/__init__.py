"""Plots: cartopy maps and verification charts rendered to PNG (offline coastlines)."""
