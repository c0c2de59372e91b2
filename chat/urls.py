from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("demo/", views.demo, name="demo"),
    path("widget.js", views.widget_js, name="widget_js"),
    path("widget/panel/", views.widget_panel, name="widget_panel"),
]
