from django.urls import path

from . import signin_views, views

app_name = "agents"

urlpatterns = [
    path("login/", signin_views.login, name="login"),
    path("login/code/", signin_views.verify, name="signin_verify"),
    path("login/setup/", signin_views.setup, name="signin_setup"),
    path("sso/start/", signin_views.oidc_start, name="oidc_start"),
    path("sso/callback/", signin_views.oidc_callback, name="oidc_callback"),
    path("logout/", views.logout, name="logout"),
    path("sign-in/", signin_views.account, name="signin"),
    path("sign-in/recovery-codes/", signin_views.recovery_codes, name="signin_codes"),
    path("sign-in/sign-out-everywhere/", signin_views.sign_out_everywhere, name="signout_all"),
    path("sign-in/<int:user_id>/reset/", signin_views.reset, name="signin_reset"),
    path("guidance/", views.guidance, name="guidance"),
    path("language/", views.language, name="language"),
    path("keepalive/", views.keepalive, name="keepalive"),
    path("signed-in-again/", views.signed_in_again, name="signed_in_again"),
    path("history/", views.history, name="history"),
    path("history/<str:reference>/", views.transcript, name="transcript"),
    path("floor/", views.floor_page, name="floor"),
    path("floor/data/", views.floor_data, name="floor_data"),
    path("floor/chat/<str:reference>/", views.floor_monitor, name="floor_monitor"),
    path(
        "floor/chat/<str:reference>/messages/",
        views.floor_monitor_messages,
        name="floor_monitor_messages",
    ),
    path("", views.console, name="console"),
]
