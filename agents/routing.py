from channels.auth import AuthMiddlewareStack
from django.urls import path

from .consumers import AgentConsumer

# Only the console needs the login session; visitor sockets never read cookies.
websocket_urlpatterns = [path("ws/agent/", AuthMiddlewareStack(AgentConsumer.as_asgi()))]
