"""Migrations of the runs app."""
