from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("demo/", views.demo, name="demo"),
]
