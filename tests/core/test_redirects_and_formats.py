"""What core gives every app: where a form goes back to, and how times are written to people."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time

from django.test import RequestFactory

from core.formats import display_clock, display_date, display_moment
from core.redirects import safe_next


def _post(next_url: str):
    return RequestFactory().post("/tasks/1/done/", {"next": next_url}, HTTP_HOST="textdesk.test")


def test_a_form_goes_back_to_its_page_on_this_site():
    assert safe_next(_post("/outstanding/?kind=call_reminder"), "/") == "/outstanding/?kind=call_reminder"


def test_a_next_pointing_to_another_site_goes_to_the_default_instead():
    assert safe_next(_post("https://evil.example/phish"), "/outstanding/") == "/outstanding/"
    assert safe_next(_post("//evil.example/phish"), "/outstanding/") == "/outstanding/"


def test_texting_hours_moments_name_the_day_the_time_and_the_zone():
    chicago = zoneinfo.ZoneInfo("America/Chicago")

    assert display_moment(datetime(2026, 11, 27, 8, 0, tzinfo=chicago)) == "Fri Nov 27, 8:00 AM CST"
    assert display_clock(time(21, 0)) == "9:00 PM"
    assert display_date(datetime(2026, 11, 27, 12, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))) == "Nov 27, 2026"


def test_the_app_and_its_admin_carry_the_product_icon_so_no_page_asks_for_favicon_ico(client, manager_client):
    for page in (client.get("/accounts/login/"), manager_client.get("/admin/"), client.get("/admin/login/")):
        assert page.status_code == 200
        assert '<link rel="icon" href="data:image/svg+xml,' in page.content.decode()
