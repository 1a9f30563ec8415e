"""The studio in a real browser (Debian's Chromium, headless): from the demo-like episode to an edited,
fully approved one without the command line."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def submit_and_wait(page, button):
    """Click a form's button, then wait for the render's live progress to end and the page to come back."""
    button.click()
    page.wait_for_url(re.compile(r"/e/ep1\?job="))
    page.wait_for_url(re.compile(r"/e/ep1$"), timeout=120_000)


def test_a_creator_edits_rejects_redoes_and_approves_in_the_browser(studio_url, page, out, tmp_path):
    page.goto(studio_url + "/")
    page.fill('[data-testid="reviewer"]', "林导")
    page.dispatch_event('[data-testid="reviewer"]', "change")
    page.click('[data-testid="episode-link"]')
    page.wait_for_url(re.compile(r"/e/ep1$"))

    # the cut plays
    version = page.get_attribute('[data-testid="cut"]', "data-version")
    assert page.evaluate("""async () => { const v = document.querySelector('#cut'); v.muted = true;
        await v.play(); await new Promise(r => setTimeout(r, 600)); return v.currentTime; }""") > 0

    # edit one line: the progress streams, the page comes back with the new line and a new cut
    page.fill('[data-testid="text-s02-l1"]', "我回来了，这一次不会再走。")
    submit_and_wait(page, page.locator('[data-testid="save-s02-l1"]'))
    assert page.input_value('[data-testid="text-s02-l1"]') == "我回来了，这一次不会再走。"
    assert page.get_attribute('[data-testid="cut"]', "data-version") != version

    # reject a take with a reason, then redo that shot with a new seed: a second take appears
    page.fill('[data-testid="reason-s01-1"]', "表情不对")
    submit_and_wait(page, page.locator('[data-testid="reject-s01-1"]'))
    assert page.inner_text('[data-testid="status-s01-1"]') == "rejected"
    submit_and_wait(page, page.locator('[data-testid="redo-button-s01"]'))
    assert page.locator('[data-testid="take-s01-2"]').count() == 1
    assert "in the cut" in page.inner_text('[data-testid="take-s01-2"]')

    # a bad edit is refused in the page, with the CLI's message
    page.fill('[data-testid="text-s03-l1"]', "长" * 110)
    page.click('[data-testid="save-s03-l1"]')
    assert "subtitle rows" in page.inner_text('[data-testid="error"]')

    # approve everything: the page and the manifest say so
    submit_and_wait(page, page.locator('[data-testid="approve-all"]'))
    assert page.locator('[data-testid="all-approved"]').count() == 1
    review = json.loads((out / "ep1" / "manifest.json").read_text(encoding="utf-8"))["review"]
    assert review["approved"] == 3 and review["rejected"] == 1 and review["reviewers"] == ["林导"]
    page.screenshot(path=str(tmp_path / "studio-episode.png"), full_page=True)  # a test artefact, not in the repo

    # the guards hold for a browser too
    assert page.request.post(studio_url + "/e/ep1/render", form={"text": "x"}).status == 403  # no CSRF token
    assert page.request.get(studio_url + "/media/%2e%2e/%2e%2e/%2e%2e/etc/passwd").status in (403, 404)
    assert page.request.get(studio_url + "/media/..%2f..%2f..%2fetc%2fpasswd").status == 403
