"""The accessibility audit every browser test holds a page to: axe, run once the page is still.

A message fades in (`.msg`, 150 ms); axe measuring contrast halfway through the fade sees a
paler text than any reader ever does and reports it. So the audit first waits for the page's
running animations, the way a reader would see it a moment later.
"""

from axe_playwright_python.sync_playwright import Axe

# Every animation running in the document, finished (a cancelled one counts as finished too).
SETTLE = "() => Promise.all(document.getAnimations().map((a) => a.finished.catch(() => null)))"


def _run(target) -> list[dict]:
    """`target` is a Playwright page or frame."""
    target.evaluate(SETTLE)
    return Axe().run(target).response["violations"]


def _described(violations: list[dict]) -> list[str]:
    return [
        f"{v['id']} ({v['impact']}): {v['help']} {[n['target'] for n in v['nodes']]}"
        for v in violations
    ]


def serious(target) -> list[str]:
    """The serious and critical violations: the bar for pages that change under the test."""
    return _described([v for v in _run(target) if v["impact"] in ("serious", "critical")])


def violations(target) -> list[str]:
    """Every violation, whatever its impact: the bar for the staff and public pages."""
    return _described(_run(target))
