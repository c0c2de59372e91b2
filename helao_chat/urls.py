from django.contrib import admin
from django.urls import include, path

from agents.signin_views import admin_login
from chat.privacy import privacy_notice_view
from feedback.views import accessibility

# One sign-in for the console and admin, with the second factor where it is required.
admin.site.login = admin_login  # type: ignore[method-assign]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("privacy/", privacy_notice_view, name="privacy"),
    path("accessibility/", accessibility, name="accessibility"),
    path("console/access/", include("agents.access_urls")),
    path("console/requests/", include("dsr.urls")),
    path("console/", include("agents.urls")),
    path("reports/", include("feedback.urls")),
    path("feedback/", include("feedback.visitor_urls")),
    path("", include("dsr.visitor_urls")),
    path("", include("chat.urls")),
]
