"""URL routes of the operations endpoints (health and metrics)."""

from django.urls import path

from webapp.ops import views

app_name = "ops"
urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("healthz/live", views.healthz_live, name="healthz-live"),
    path("metrics", views.metrics, name="metrics"),
]
