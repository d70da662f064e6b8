"""GraphiQL at /api/graphiql runs under the app's own CSP (no CDN, no inline script) and answers a query."""
from playwright.sync_api import expect

from tests.browser.conftest import SHOTS


def _aborted_favicon(request):
    """Chromium fetches the icon on its own and may cancel it while GraphiQL's scripts load; that is not the page's failure.
    The icon itself is checked to load, below."""
    return request.url.endswith("/favicon.svg") and request.failure == "net::ERR_ABORTED"


def test_graphiql_runs_the_example_query_under_the_csp(page, system, seed):
    seed("AAA Cliente do GraphiQL Ltda")  # first by name: the example lists 100 processos of the whole session
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: None if _aborted_favicon(request) else problems.append(
        f"falhou: {request.url} ({request.failure})"))
    page.goto(system.base_url + "/api/graphiql")
    page.wait_for_selector(".graphiql-container")
    page.click(".graphiql-execute-button")
    expect(page.locator(".result-window")).to_contain_text("AAA Cliente do GraphiQL Ltda", timeout=20_000)
    result = page.inner_text(".result-window")
    assert '"processos"' in result and '"errors"' not in result
    assert problems == [], problems
    assert page.request.get(system.base_url + "/static/favicon.svg").ok
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "graphiql.png"))
