"""ETag on people and numbers; If-Match on a write answers 412 on a stale version (a lost update
caught), If-None-Match on a read answers 304."""

from __future__ import annotations

import pytest

from interactions.models import Lead

pytestmark = pytest.mark.django_db


def test_a_stale_if_match_is_refused_and_changes_nothing(manager_api, consented_number):
    lead = consented_number.lead
    read = manager_api.get(f"/api/v1/leads/{lead.pk}/")
    etag = read["ETag"]
    changed = manager_api.patch(
        f"/api/v1/leads/{lead.pk}/", {"first_name": "Hannah"}, format="json", HTTP_IF_MATCH=etag
    )
    assert changed.status_code == 200 and changed["ETag"] != etag

    stale = manager_api.patch(f"/api/v1/leads/{lead.pk}/", {"first_name": "Anna"}, format="json", HTTP_IF_MATCH=etag)

    assert (stale.status_code, stale.json()["code"]) == (412, "precondition_failed")
    assert Lead.objects.get(pk=lead.pk).first_name == "Hannah"
    fresh = manager_api.patch(
        f"/api/v1/leads/{lead.pk}/", {"first_name": "Anna"}, format="json", HTTP_IF_MATCH=changed["ETag"]
    )
    assert fresh.status_code == 200
    assert (
        manager_api.patch(
            f"/api/v1/leads/{lead.pk}/", {"first_name": "Ann"}, format="json", HTTP_IF_MATCH="*"
        ).status_code
        == 200
    )


def test_a_read_that_still_matches_is_304(manager_api, consented_number):
    path = f"/api/v1/phone-numbers/{consented_number.pk}/"
    etag = manager_api.get(path)["ETag"]

    again = manager_api.get(path, HTTP_IF_NONE_MATCH=etag)

    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag


def test_a_number_changed_by_another_write_refuses_a_stale_set_primary(manager_api, consented_number):
    from tests.factories import PhoneNumberFactory

    other = PhoneNumberFactory(lead=consented_number.lead, number="+15125550166", is_primary=False)
    etag = manager_api.get(f"/api/v1/phone-numbers/{other.pk}/")["ETag"]
    manager_api.post(f"/api/v1/phone-numbers/{other.pk}/set-primary/", {}, format="json")  # it changes

    stale = manager_api.post(f"/api/v1/phone-numbers/{other.pk}/set-primary/", {}, format="json", HTTP_IF_MATCH=etag)

    assert stale.status_code == 412
