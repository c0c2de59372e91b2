"""Browser, operating system and device type from a visitor's user agent."""

from __future__ import annotations

import pytest
import ua_parser

from chat.services import parse_device

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
SAFARI_IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
CHROME_ANDROID_TABLET = (
    "Mozilla/5.0 (Linux; Android 14; SM-X710) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
EDGE_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0"
)
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"


@pytest.mark.parametrize(
    ("user_agent", "expected"),
    [
        (FIREFOX_LINUX, {"browser": "Firefox", "os": "Linux", "device_type": "desktop"}),
        (SAFARI_IPHONE, {"browser": "Mobile Safari", "os": "iOS", "device_type": "mobile"}),
        (SAFARI_IPAD, {"browser": "Mobile Safari", "os": "iOS", "device_type": "tablet"}),
        (CHROME_ANDROID_TABLET, {"browser": "Chrome", "os": "Android", "device_type": "tablet"}),
        (EDGE_WINDOWS, {"browser": "Edge", "os": "Windows", "device_type": "desktop"}),
        (GOOGLEBOT, {"browser": "Googlebot", "os": "", "device_type": "bot"}),
        ("", {"browser": "", "os": "", "device_type": ""}),
        ("curl/8.5.0", {"browser": "curl", "os": "", "device_type": "desktop"}),
    ],
)
def test_a_user_agent_is_told_as_browser_os_and_device_type(user_agent, expected):
    assert parse_device(user_agent) == expected


def test_the_rules_run_in_the_compiled_resolver():
    """ua-parser's pure-Python resolver took ~0.6 ms for each user agent it had not seen, on
    the event loop when a chat starts; the compiled one (ua-parser-rs) ~13 µs."""
    assert ua_parser.RegexResolver is not None
    assert ua_parser.BestAvailableResolver is ua_parser.RegexResolver
