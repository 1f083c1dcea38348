"""Where the service keeps its files (docs/design.md "Files on disk")."""

from webapp.config.env import REPO_ROOT, env

# Everything the service writes lives under one directory (runs, media, caches, databases).
GCF_VAR_DIR = env.path("GCF_VAR_DIR", REPO_ROOT / "var")
GCF_RUNS_DIR = GCF_VAR_DIR / "runs"
GCF_CACHE_DIR = GCF_VAR_DIR / "cache"
MEDIA_ROOT = GCF_VAR_DIR / "media"
MEDIA_URL = "/media/"
STATIC_ROOT = GCF_VAR_DIR / "static"
STATIC_URL = "/static/"
# Serve var/media from Django itself (the demo and tests run without a front web server).
GCF_SERVE_MEDIA = env.bool("GCF_SERVE_MEDIA", True)
