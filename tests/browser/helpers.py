from pathlib import Path
from typing import Any

import pytest

from tests.factories import PASSWORD

# axe-core, the accessibility checker, installed by `make test` (npm ci in tests/browser).
AXE_SCRIPT = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


def browser_sign_in(page, base_url: str, email: str, password: str = PASSWORD) -> None:
    page.goto(base_url + "/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("main form button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def axe_violations(page) -> list[dict[str, Any]]:
    """What axe-core finds wrong with the page as it is now (all its default rules: WCAG 2 A and
    AA, and best practices), one entry per rule broken, naming the elements. The page's context
    must bypass the content security policy (the checker is injected as an inline script)."""
    if not AXE_SCRIPT.is_file():
        pytest.fail(f"axe-core is missing ({AXE_SCRIPT}): run `make test`, or `npm ci` in tests/browser.")
    page.add_script_tag(path=str(AXE_SCRIPT))
    results = page.evaluate(
        """async () => {
            const results = await axe.run(document);
            return {
                passes: results.passes.length,
                violations: results.violations.map((rule) => ({
                    id: rule.id,
                    impact: rule.impact,
                    help: rule.help,
                    nodes: rule.nodes.map((node) => node.target.join(" ")),
                })),
            };
        }"""
    )
    assert results["passes"] > 10  # the checker really ran over the page
    return results["violations"]


def horizontal_overflow(page) -> tuple[int, int]:
    """The page's scroll width and the viewport's width (a page that scrolls sideways has the
    first larger)."""
    return page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
