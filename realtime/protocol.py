"""What both websockets share on the wire: close codes and how a client frame is read.

Close codes are one table (documented in docs/protocol.md). An application may only close with
1000 or a code from 3000-4999 (RFC 6455; Daphne's websocket library refuses anything else and
then drops the connection with 1011), so the RFC's own codes for a too large message (1009),
an internal error (1011) and a restart (1012) are mirrored as 4009, 4011 and 4012.
"""

from __future__ import annotations

import enum
import json
import re
from typing import Any


class Close(enum.IntEnum):
    NORMAL = 1000
    #: Origin not allowed; agent socket: not logged in, no console permission, session ended.
    FORBIDDEN = 4003
    #: The conversation was erased on request.
    ERASED = 4004
    #: No first frame in time, or silent too long.
    IDLE = 4008
    #: A frame over the size limit.
    TOO_LARGE = 4009
    #: Too many connections from one address, or a flood of frames (HTTP's 429).
    POLICY = 4029
    #: An unexpected error in the server; reconnect and resume.
    SERVER_ERROR = 4011
    #: The server is restarting; reconnect after a short, jittered delay.
    RESTART = 4012


#: Deepest nesting of arrays and objects a client frame may have. Frames of the protocol are at
#: most three levels deep (a host context object inside the frame may nest a little more).
MAX_DEPTH = 16

_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


class ClientError(Exception):
    """A client-caused error with a stable code (docs/protocol.md): the socket answers it with an
    `error` frame and stays open."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code
        self.message = message or code


class FrameError(ClientError):
    """A frame that cannot be read."""


def frame_too_large(text: str, limit: int) -> bool:
    # A character is at most four bytes of UTF-8: most frames are decided without encoding.
    return len(text) > limit or (len(text) * 4 > limit and len(text.encode("utf-8")) > limit)


def nesting_depth(text: str) -> int:
    """How deep arrays and objects nest in `text` (JSON), without recursing."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(text):
        part = match.group()
        if part in ("[", "{"):
            depth += 1
            deepest = max(deepest, depth)
        elif part in ("]", "}"):
            depth -= 1
    return deepest


def parse_frame(text: str | None, limit: int) -> dict[str, Any]:
    """The frame as a dict with a string `type`, or FrameError.

    Size and nesting are checked before the parser runs: the standard parser recurses once per
    level and a frame of a few thousand brackets would end in RecursionError.
    """
    if text is None:
        raise FrameError("binary_not_supported", "frames must be JSON text")
    if frame_too_large(text, limit):
        raise FrameError("frame_too_large", f"frames are limited to {limit // 1024} KiB")
    # Counting brackets is fast C; the exact depth is worked out only when it could matter.
    if text.count("[") + text.count("{") > MAX_DEPTH and nesting_depth(text) > MAX_DEPTH:
        raise FrameError("bad_json", f"frame nests deeper than {MAX_DEPTH} levels")
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise FrameError("bad_json", "frame is not valid JSON") from None
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str):
        raise FrameError("bad_frame", "frame must be an object with a string type")
    return frame
