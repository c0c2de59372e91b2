from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from chat.privacy import privacy_notice_view

if settings.ADMIN_REQUIRE_OTP:
    # Directors sign in to admin with a TOTP code as well (devices are managed in admin).
    from django_otp.admin import OTPAdminSite

    admin.site.__class__ = OTPAdminSite

urlpatterns = [
    path("admin/", admin.site.urls),
    path("privacy/", privacy_notice_view, name="privacy"),
    path("console/access/", include("agents.access_urls")),
    path("console/requests/", include("chat.dsr_urls")),
    path("console/", include("agents.urls")),
    path("reports/", include("feedback.urls")),
    path("feedback/", include("feedback.visitor_urls")),
    path("", include("chat.urls")),
]
