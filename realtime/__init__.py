"""The realtime layer: websockets, events and the hot write path, knowing nothing of chats.

Public, for the apps above it:
- `sockets`: the socket base class (`JsonFrameConsumer`: framing, limits, pipelining, load
  shedding, idle and restart closes, error frames) and `sockets_close_for_restart`;
- `protocol`: close codes, frame parsing, `ClientError`; `frames`: the JSON encoder;
- `events`: the one event envelope, groups, publishing after commit;
- `units`: a unit of work in a database thread, its events published after its commit;
- `group_commit`: many writes in one statement and commit, on the event loop;
- `limits`: token buckets and the per-address counters shared through Redis;
- `net`: client addresses behind proxies, origins; `loops`: per-event-loop singletons;
  `logging`: throttled one-line logs; `mailbox`: a socket's queue that costs nothing while
  empty (the channel layer's and the server's);
- `prepared`: a query built with the ORM once per process, then only run with new values.

Inside only: `admission` (load shedding, used by `sockets` and `events`), `batching`, the
channel layer's health and the channels-redis internals behind `layer_adapter`, and the
Sentinel clients (`redis_sentinel`, named by the settings). It is an installed app only so that
every process hooks its receiver into the layer at start (`apps.py`). It imports no app of the
project; `tests/test_architecture.py` holds both rules.
"""

PUBLIC = (
    "sockets",
    "protocol",
    "frames",
    "events",
    "units",
    "group_commit",
    "limits",
    "net",
    "loops",
    "logging",
    # Daphne's input queue per socket is one too (helao_chat/serve.py).
    "mailbox",
    "prepared",
)
