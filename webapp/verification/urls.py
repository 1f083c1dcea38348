"""URL routes of the verification pages."""

from django.urls import path

from webapp.verification import views

app_name = "verification"
urlpatterns = [
    path("", views.VerificationHistoryView.as_view(), name="history"),
    path("scorecard/", views.ScorecardView.as_view(), name="scorecard"),
    path("runs/<int:run_id>/", views.RunScoresView.as_view(), name="run"),
]
