"""URL routes of the site: runs pages, the admin, and (when enabled) media files."""

from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.static import serve

from webapp.api.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("verification/", include("webapp.verification.urls")),
    path("", include("webapp.runs.urls")),
]


def media(request: HttpRequest, path: str) -> HttpResponse:
    """Serves a file under MEDIA_ROOT (read per request, so tests may point it elsewhere)."""
    return serve(request, path, document_root=settings.MEDIA_ROOT)


if settings.GCF_SERVE_MEDIA:
    # The demo and tests have no front web server; production puts one before var/media.
    urlpatterns.append(re_path(r"^media/(?P<path>.*)$", media))
