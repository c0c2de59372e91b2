from django.urls import path

from .consumers import VisitorConsumer

websocket_urlpatterns = [path("ws/visitor/", VisitorConsumer.as_asgi())]
