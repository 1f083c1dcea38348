"""Operations endpoints: /healthz, /healthz/live, /metrics, and media files without a front server."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils._os import safe_join
from django.utils.http import http_date
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from django.views.static import was_modified_since
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from webapp.ops.health import service_health
from webapp.ops.metrics import registry

_REGISTRY = registry()


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Readiness of the whole service: 200 when every check passes, else 503 naming the failures."""
    health = service_health()
    return JsonResponse(health.as_json(), status=200 if health.ok else 503)


@never_cache
@require_safe
def healthz_live(request: HttpRequest) -> JsonResponse:
    """Liveness of this web process only (for container and unit health checks): a web server
    must not be restarted because a GPU worker elsewhere is down."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition of the service's metrics (webapp/ops/metrics.py)."""
    return HttpResponse(generate_latest(_REGISTRY), content_type=CONTENT_TYPE_LATEST)


@require_safe
def media_file(request: HttpRequest, path: str) -> HttpResponse:
    """Streams a file under MEDIA_ROOT when no front web server does (GCF_SERVE_MEDIA=1).

    Unlike `django.views.static.serve` (a development helper), this refuses anything that is
    not a regular file strictly inside MEDIA_ROOT: `..`, absolute paths and symlinks out of the
    store raise `SuspiciousFileOperation`, which Django answers with 400.
    """
    root = Path(settings.MEDIA_ROOT).resolve()
    target = Path(safe_join(root, path))  # raises SuspiciousFileOperation outside root
    resolved = target.resolve()
    if root not in resolved.parents or not resolved.is_file():
        raise Http404("no such product")
    stat = resolved.stat()
    if not was_modified_since(request.META.get("HTTP_IF_MODIFIED_SINCE"), stat.st_mtime):
        return HttpResponse(status=304)
    content_type, encoding = mimetypes.guess_type(resolved.name)
    response = FileResponse(
        resolved.open("rb"), content_type=content_type or "application/octet-stream"
    )
    response["Last-Modified"] = http_date(stat.st_mtime)
    if encoding:
        response["Content-Encoding"] = encoding
    return response
