"""Data-subject request tools under /console/requests/ (directors only)."""

from django.urls import path

from . import views as dsr_views

app_name = "dsr"

urlpatterns = [
    path("", dsr_views.search, name="search"),
    path("<str:reference>/", dsr_views.detail, name="detail"),
    path("<str:reference>/export/", dsr_views.export, name="export"),
    path("<str:reference>/erase/", dsr_views.erase, name="erase"),
]
