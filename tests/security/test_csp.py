"""The Content-Security-Policy: on every answer, strict, and no template or script of ours needs more.

The browser tests watch every page for violations (tests/browser/test_browser_hardening.py); this
reads the templates and scripts, so an inline handler is caught before any browser runs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted((ROOT / "templates").rglob("*.html"))
SCRIPTS = sorted((ROOT / "static").rglob("*.js"))
INLINE = {
    "inline <script>": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE),
    "inline event handler": re.compile(r"<[^>]+\son[a-z]+\s*=", re.IGNORECASE),
    "style attribute": re.compile(r"<[^>]+\sstyle\s*=", re.IGNORECASE),
    "<style> element": re.compile(r"<style[\s>]", re.IGNORECASE),
    "javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
    "htmx eval (hx-on, js:, hx-vars, a trigger filter)": re.compile(
        r"hx-on|hx-vars|\"js:|'js:|hx-trigger=\"[^\"]*\[", re.IGNORECASE
    ),
}


@pytest.mark.django_db
def test_every_answer_carries_a_policy_without_inline_script_style_or_eval(client):
    for path in ("/accounts/login/", "/api/v1/leads/", "/u/unknown0token"):
        policy = client.get(path)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'", path
        assert directives["style-src"] == "'self'", path
        assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'", path
        assert "unsafe" not in policy, path


@pytest.mark.parametrize("template", TEMPLATES, ids=[str(t.relative_to(ROOT)) for t in TEMPLATES])
def test_no_template_needs_inline_script_or_style(template):
    text = re.sub(r"{% comment %}.*?{% endcomment %}|{#.*?#}", "", template.read_text(), flags=re.DOTALL)
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert found == [], f"{template.relative_to(ROOT)}: {', '.join(found)}: move it to static/"


@pytest.mark.parametrize("script", SCRIPTS, ids=[str(s.relative_to(ROOT)) for s in SCRIPTS])
def test_no_script_of_ours_evaluates_strings_or_writes_style_attributes(script):
    text = script.read_text()
    assert not re.search(r"\beval\(|new Function\(|setAttribute\(\s*[\"']style", text)
    assert not re.search(r"\son[a-z]+=", text), "inline event handlers in HTML written by script"
