from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("console/access/", include("agents.access_urls")),
    path("console/", include("agents.urls")),
    path("reports/", include("feedback.urls")),
    path("", include("chat.urls")),
]
