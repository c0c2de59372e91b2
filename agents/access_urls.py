from django.urls import path

from . import access_views

app_name = "access"

urlpatterns = [
    path("", access_views.review, name="review"),
    path("access-review.csv", access_views.review_csv, name="csv"),
    path("grant/", access_views.grant, name="grant"),
    path("<int:user_id>/revoke/", access_views.revoke, name="revoke"),
    path("audit/", access_views.audit_log, name="audit"),
]
