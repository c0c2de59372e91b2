"""The visitor's endpoint, mounted at /feedback/ (reports live under /reports/)."""

from django.urls import path

from . import views

app_name = "feedback_visitor"

urlpatterns = [
    path("submit", views.submit, name="submit"),
]
