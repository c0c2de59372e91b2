from django.urls import path

from . import views

app_name = "feedback"

urlpatterns = [
    path("", views.reports, name="reports"),
    path("report.csv", views.reports_csv, name="reports_csv"),
]
