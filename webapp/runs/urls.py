"""URL routes of the runs pages."""

from django.urls import path

from webapp.runs import views

app_name = "runs"
urlpatterns = [
    path("", views.RunListView.as_view(), name="list"),
    path("runs/<int:run_id>/", views.RunDetailView.as_view(), name="detail"),
    path("runs/<int:run_id>/status.json", views.RunStatusApi.as_view(), name="status"),
]
