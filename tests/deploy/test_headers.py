"""Every response carries the Content-Security-Policy (no inline script or style, nothing from
another origin) and a Permissions-Policy that turns off the devices no page uses; the templates
hold nothing the policy would block."""

import re
from pathlib import Path

import pytest
from django.apps import apps

PERMISSIONS_OFF = ("camera", "microphone", "geolocation", "payment", "usb")
CSP = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
)


def _assert_security_headers(response):
    policy = [directive.strip() for directive in response["Content-Security-Policy"].split(";")]
    for directive in CSP:
        assert directive in policy, directive
    assert "unsafe-inline" not in response["Content-Security-Policy"]
    assert "unsafe-eval" not in response["Content-Security-Policy"]
    features = response["Permissions-Policy"].split(", ")
    for feature in PERMISSIONS_OFF:
        assert f"{feature}=()" in features, feature


@pytest.mark.django_db
def test_a_page_carries_the_content_and_permissions_policies(client):
    response = client.get("/")
    assert response.status_code == 200
    _assert_security_headers(response)


@pytest.mark.django_db
def test_an_api_response_carries_them_too(client):
    response = client.get("/api/v1/transparency/leases/")
    assert response.status_code == 200
    _assert_security_headers(response)
    refused = client.get("/api/v1/me/earnings/")
    assert refused.status_code == 401
    _assert_security_headers(refused)


def _our_templates() -> list[Path]:
    found = []
    for label in ("trust", "licensing", "payouts"):
        found += sorted((Path(apps.get_app_config(label).path) / "templates").rglob("*.html"))
    return found


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
SCRIPT_URL = re.compile(r"javascript:", re.IGNORECASE)


@pytest.mark.parametrize("template", _our_templates(), ids=lambda path: "/".join(path.parts[-3:]))
def test_no_template_has_inline_script_handlers_or_style(template):
    text = template.read_text()
    assert not INLINE_SCRIPT.search(text), "a <script> without src"
    assert not HANDLER.search(text), "an on...= event handler"
    assert not INLINE_STYLE.search(text), "an inline style"
    assert not SCRIPT_URL.search(text), "a javascript: URL"


@pytest.mark.django_db
def test_the_api_docs_page_has_no_inline_script_or_style(client):
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert not INLINE_SCRIPT.search(html) and not INLINE_STYLE.search(html)
    _assert_security_headers(page)
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in script.content.decode()
