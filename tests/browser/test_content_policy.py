"""The Content-Security-Policy holds in a real browser: script injected into a page does not run,
and the pages' own script and styles (and the API docs, Swagger UI) run under it untouched."""

import pytest


@pytest.mark.django_db
def test_an_injected_inline_script_does_not_run(browser):
    page = browser.open()
    page.goto("/")
    refused = lambda message: "Content Security Policy" in message.text  # noqa: E731
    with page.expect_console_message(refused):
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true";
                document.body.appendChild(script);
            }"""
        )
    with page.expect_console_message(refused):
        page.evaluate(
            """() => document.body.insertAdjacentHTML(
                "beforeend", '<img src="/static/guildtrust/favicon.svg?x" onload="window.handled = true">')"""
        )
    assert page.evaluate("() => [window.injected, window.handled]") == [None, None]
    # Chromium said so on the console, which the browser fixture would fail any other test on.
    assert any("Content Security Policy" in error for error in browser.policy_errors)
    browser.policy_errors.clear()


@pytest.mark.django_db
def test_the_api_docs_run_under_the_policy(browser):
    page = browser.open()
    page.goto("/api/docs/")
    page.get_by_text("Guildtrust API").first.wait_for()
    assert page.locator(".opblock").count() > 10
    assert page.evaluate("() => getComputedStyle(document.body).margin") == "0px"
