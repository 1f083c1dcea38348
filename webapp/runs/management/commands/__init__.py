"""Commands: ensure_admin (demo credentials), backfill (missing cycles)."""
