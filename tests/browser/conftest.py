"""Browser fixtures shared between test modules: the host site embedding the widget and an
agent online over the console's socket (defined with the widget's tests)."""

from tests.browser.test_widget import agent, host_site, site  # noqa: F401
