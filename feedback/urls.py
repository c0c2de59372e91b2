from django.urls import path

from . import views

app_name = "feedback"

urlpatterns = [
    path("", views.reports, name="reports"),
    path("report.csv", views.reports_csv, name="reports_csv"),
    path("breakdowns.csv", views.breakdowns_csv, name="breakdowns_csv"),
]
