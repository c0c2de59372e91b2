from django.urls import path

from . import views

app_name = "agents"

urlpatterns = [
    path("login/", views.login, name="login"),
    path("logout/", views.logout, name="logout"),
    path("guidance/", views.guidance, name="guidance"),
    path("language/", views.language, name="language"),
    path("keepalive/", views.keepalive, name="keepalive"),
    path("history/", views.history, name="history"),
    path("history/<str:reference>/", views.transcript, name="transcript"),
    path("", views.console, name="console"),
]
