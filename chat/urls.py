from django.urls import path

from . import answer_views, views

app_name = "chat"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("demo/", views.demo, name="demo"),
    path("chat/", views.chat_page, name="chat_page"),
    path("chat/answer/", answer_views.answer_page, name="answer_page"),
    path("chat/answer/open/", answer_views.answer_open, name="answer_open"),
    path("widget.js", views.widget_js, name="widget_js"),
    path("widget/panel/", views.widget_panel, name="widget_panel"),
    path("widget/rights/strings/", views.widget_rights_strings, name="widget_rights_strings"),
]
