"""Pictures (MMS) in the text panel, clicked through in Chromium at a desktop's and a phone's size:
attach a picture, see it counted as an MMS, send it, and see it in the thread; axe stays clean."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from messaging.models import Message
from tests.browser.conftest import DESKTOP, PHONE
from tests.browser.test_workspace import axe_violations, open_panel
from tests.pictures import jpeg, png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_an_agent_attaches_a_picture_sends_it_and_sees_it_in_the_thread(
    browse, live_server, consented_number, viewport, shot, outbox, tmp_path
):
    size = "1366" if viewport == DESKTOP else "390"
    picture = tmp_path / "unit-b204.jpg"
    picture.write_bytes(jpeg(640, 480, color="teal", gps=True))
    page = browse(viewport=viewport)
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    panel = open_panel(page)

    panel.locator("[data-attach-input]").set_input_files(str(picture))
    expect(panel.locator("[data-attached] img")).to_have_count(1)
    expect(panel.locator(".counter")).to_contain_text("MMS · 1 picture")
    panel.locator("textarea").fill("Here is unit B204.")
    expect(panel.locator(".counter")).to_contain_text("MMS · 1 picture")
    assert axe_violations(page) == [], "panel with a picture attached"
    shot(page, f"mms-attached-{size}")

    panel.locator(".send-btn").click()
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent to")
    thumbnail = page.locator("#text-panel .thread .pictures img").last
    expect(thumbnail).to_be_visible()
    assert thumbnail.evaluate("img => img.complete && img.naturalWidth") == 640  # the picture itself loaded
    expect(page.locator("#text-panel [data-attached]")).to_have_count(0)  # the box clears with the text
    shot(page, f"mms-sent-{size}")

    message = Message.objects.get(direction="outbound", body__startswith="Here is unit B204.")
    assert message.media_count == 1 and len(outbox[-1]["media_urls"]) == 1
    assert not page.js_errors


def test_a_file_that_is_not_a_picture_is_refused_in_the_panel_and_a_removed_picture_is_not_sent(
    browse, live_server, consented_number, shot, outbox, tmp_path
):
    fake = tmp_path / "lease.png"
    fake.write_bytes(b"%PDF-1.7 this is a lease, not a picture")
    real = tmp_path / "gate.png"
    real.write_bytes(png(200, 120))
    page = browse()
    page.goto(f"{live_server.url}/leads/{consented_number.lead.pk}/")
    panel = open_panel(page)

    panel.locator("[data-attach-input]").set_input_files(str(fake))
    expect(panel.locator("[data-attach-error]")).to_contain_text("“lease.png” is not a picture")
    expect(panel.locator("[data-attached]")).to_have_count(0)
    shot(page, "mms-refused-1366")

    panel.locator("[data-attach-input]").set_input_files(str(real))
    expect(panel.locator("[data-attached]")).to_have_count(1)
    panel.locator("[data-attach-remove]").click()
    expect(panel.locator("[data-attached]")).to_have_count(0)
    expect(panel.locator(".counter")).not_to_contain_text("MMS")
    panel.locator("textarea").fill("Gate code is 4455.")
    panel.locator(".send-btn").click()
    expect(page.locator("#card-confirmation")).to_contain_text("Text sent to")
    assert Message.objects.get(body__startswith="Gate code").media_count == 0
    assert outbox[-1]["media_urls"] == []
