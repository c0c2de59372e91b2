"""ASGI entry point: HTTP through Django, websockets through the chat's consumers.

Origins are checked by each consumer against the service's own origin (scheme, host and port),
before the socket is accepted.
"""

import gc
import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helao_chat.settings")
# Must come first: it sets Django up before any consumer imports models.
django_asgi_app = get_asgi_application()

import autobahn.util  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from agents.routing import websocket_urlpatterns as agent_routes  # noqa: E402
from chat.routing import websocket_urlpatterns as visitor_routes  # noqa: E402
from chat.services import parse_device  # noqa: E402
from helao_chat import gc_policy  # noqa: E402

# Daphne's websocket library formats the arguments of its debug log calls on every frame sent
# and received, debug logging on or not, with terminal colours when click is installed (Celery
# brings it): ~2 % of the CPU per message. Plain text is all a disabled log line needs.
autobahn.util._HAS_CLICK = False

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([*visitor_routes, *agent_routes]),
    }
)

# The user-agent rules are read and compiled on first use (~0.15 s of one core): here, before the
# first socket, rather than in the first visitor's chat start with every other socket waiting.
parse_device("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0")

# Everything loaded so far (Django, the apps, their modules) lives as long as the process. Moved
# out of the collector's reach, it is no longer rescanned by every full collection, which
# otherwise stalls the event loop for ~100 ms at a time under load (see docs/benchmarks.md).
# From then on the same is done every few seconds with what the open sockets hold.
gc.collect()
gc.freeze()
gc_policy.start(settings.CHAT_GC_FREEZE_SECONDS, settings.CHAT_GC_FULL_COLLECT_SECONDS)
