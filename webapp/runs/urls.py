"""URL routes of the site: home, runs, the map viewer, maps, meteograms, downloads, compare."""

from django.urls import path

from webapp.runs import views

app_name = "runs"
urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("pipeline.json", views.PipelineApi.as_view(), name="pipeline"),
    path("runs/", views.RunListView.as_view(), name="list"),
    path("runs/<int:run_id>/", views.RunDetailView.as_view(), name="detail"),
    path("runs/<int:run_id>/status.json", views.RunStatusApi.as_view(), name="status"),
    path("runs/<int:run_id>/maps/", views.RunMapsView.as_view(), name="maps"),
    path("runs/<int:run_id>/map.png", views.MapImageView.as_view(), name="map_png"),
    path("runs/<int:run_id>/meteogram/", views.MeteogramView.as_view(), name="meteogram"),
    path(
        "runs/<int:run_id>/meteogram.png",
        views.MeteogramImageView.as_view(),
        name="meteogram_png",
    ),
    path("runs/<int:run_id>/files/<str:name>", views.RunDownloadView.as_view(), name="download"),
    path("compare/", views.CompareView.as_view(), name="compare"),
]
