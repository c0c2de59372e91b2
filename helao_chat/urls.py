from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/", include("agents.urls")),
    path("reports/", include("feedback.urls")),
    path("feedback/", include("feedback.visitor_urls")),
    path("", include("chat.urls")),
]
