"""The visitor's own export and erasure, asked from the widget's panel."""

from django.urls import path

from . import visitor_views

urlpatterns = [
    path("widget/conversation/export/", visitor_views.visitor_export, name="visitor_export"),
    path("widget/conversation/erase/", visitor_views.visitor_erase, name="visitor_erase"),
]
