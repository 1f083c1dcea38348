"""URL routes of the site: runs pages, the admin, operations endpoints, (optionally) media files."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path, re_path

from webapp.api.api import api
from webapp.ops.views import media_file

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("verification/", include("webapp.verification.urls")),
    path("", include("webapp.ops.urls")),
    path("", include("webapp.runs.urls")),
]

if settings.GCF_SERVE_MEDIA:
    # Without a front web server (demo, tests, a single box): a streaming, traversal-checked
    # view. Production lets nginx serve /media/ (deploy/nginx/gcf.conf).
    urlpatterns.append(re_path(r"^media/(?P<path>.+)$", media_file, name="media"))
