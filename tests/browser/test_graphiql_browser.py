"""GraphiQL at /api/graphiql runs under the app's own CSP (no CDN, no inline script) and answers a query."""
from playwright.sync_api import expect

from tests.browser.conftest import SHOTS


def test_graphiql_runs_the_example_query_under_the_csp(page, system, seed):
    seed("AAA Cliente do GraphiQL Ltda")  # first by name: the example lists 100 processos of the whole session
    problems = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("requestfailed", lambda request: problems.append(f"falhou: {request.url}"))
    page.goto(system.base_url + "/api/graphiql")
    page.wait_for_selector(".graphiql-container")
    page.click(".graphiql-execute-button")
    expect(page.locator(".result-window")).to_contain_text("AAA Cliente do GraphiQL Ltda", timeout=20_000)
    result = page.inner_text(".result-window")
    assert '"processos"' in result and '"errors"' not in result
    assert problems == [], problems
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "graphiql.png"))
