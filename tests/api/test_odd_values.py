"""The odd values the fuzz and contract nets found, each held by a short test of its own.

The nets (``test_fuzz_net.py``, ``tests/api/test_schema.py``) find them again among thousands of
requests; these say in one line each what a client gets instead of a 500 or an HTML page.
"""

from __future__ import annotations

import base64
import json

import pytest
from django.urls import reverse

from core.parsing import strict_id, strict_int
from integrations.services import endpoint_create
from tests.factories import PhoneNumberFactory

pytestmark = pytest.mark.django_db


def _cursor(data) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


@pytest.mark.parametrize("value", ["١", "５", " 7", "1_000", "1e3", "+1", "", None, True, 1.0, "9" * 20])
def test_strict_ids_are_ascii_digits_within_bigint(value):
    assert strict_id(value) is None


def test_strict_ints_take_ints_and_ascii_digits():
    assert (strict_int("-5"), strict_id("42"), strict_id(42), strict_id(2**63 - 1)) == (-5, 42, 42, 2**63 - 1)


def test_a_crafted_cursor_answers_400_json_on_every_api_list(manager_api, facility):
    schema = manager_api.get("/api/schema/?format=json").json()
    lists = [
        path
        for path, item in schema["paths"].items()
        if "get" in item and any(p["name"] == "cursor" for p in item["get"].get("parameters", []))
    ]
    assert len(lists) >= 10
    # A nested list (``/webhook-endpoints/{id}/deliveries/``) is read under one of the organization's
    # own parents, the first its parent list returns: a crafted cursor must be what answers 400.
    endpoint_create(organization=facility.organization, url="https://hooks.example.com/t", events=["message.sent"])
    lists = [_under_a_parent(manager_api, path) for path in lists]
    crafted = [
        {"v": "abc", "i": 1, "r": False},
        {"v": 1, "i": "١", "r": False},
        {"v": 1, "i": 1e400, "r": False},
        {"v": 10**30, "i": 1, "r": "yes"},
        {"v": "9999-12-31T23:59:59-23:59", "i": 1, "r": False},
        [],
    ]
    for path in lists:
        for data in crafted:
            for ordering in ("", "&ordering=-updated_at"):
                response = manager_api.get(f"{path}?cursor={_cursor(data)}{ordering}")
                if ordering and response.status_code == 400 and response.json()["field"] == "ordering":
                    continue  # a list that can't be ordered by updated_at
                assert response.status_code == 400, (path, data, ordering, response.content[:200])
                assert response.json()["field"] == "cursor"


def _under_a_parent(client, path: str) -> str:
    if "{" not in path:
        return path
    parent, _, rest = path.partition("{")
    rows = client.get(parent).json()["results"]
    assert rows, f"{parent} is empty: give the test one so {path} can be read"
    return parent + str(rows[0]["id"]) + rest.partition("}")[2]


@pytest.mark.parametrize("size", ["-5", "0", "201", "100000", "５", "abc", ""])
def test_page_size_outside_the_schema_bounds_answers_400(api, facility, size):
    response = api.get(f"/api/v1/leads/?page_size={size}")

    assert response.status_code == 400
    assert response.json()["field"] == "page_size"
    assert api.get("/api/v1/leads/?page_size=200").status_code == 200


def test_a_number_is_no_evidence_of_consent(api, facility):
    response = api.post(
        "/api/v1/consent/", {"phone_number": "+15125550142", "action": "grant", "evidence": 0}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["field"] == "evidence"


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--b--\r\n'),
        ("application/x-www-form-urlencoded", b"name=x"),
        ("text/plain", b"x"),
    ],
)
def test_an_api_body_that_is_not_json_answers_415_json(manager_api, facility, content_type, body):
    response = manager_api.generic("POST", "/api/v1/templates/", body, content_type=content_type)

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"


def test_an_address_too_long_answers_414_json_under_the_api_and_html_elsewhere(api, agent_client, facility):
    response = api.get("/api/v1/leads/?q=" + "x" * 5000)
    page = agent_client.get("/?q=" + "x" * 5000)

    assert response.status_code == 414
    assert response.json()["code"] == "uri_too_long"
    assert page.status_code == 414
    assert page["Content-Type"].startswith("text/html")


def test_unknown_api_paths_and_methods_answer_json(api, facility):
    missing = api.get("/api/v1/nothing-here/")
    wrong_method = api.put("/api/v1/leads/", {}, format="json")

    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert api.get("/api/").json()["code"] == "not_found"
    assert (wrong_method.status_code, wrong_method.json()["code"]) == (405, "method_not_allowed")


def test_a_broken_multipart_form_answers_400_without_a_traceback(agent_client, facility, caplog):
    response = agent_client.generic("POST", reverse("inbox_assign", args=["lead", 1]), b"--x\r\n",
                                    content_type="multipart/form-data")  # fmt: skip

    assert response.status_code == 400
    assert b"multipart" in response.content
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.parametrize("target", ["-1", "foo", "//evil.example/", "https://evil.example/", "inbox"])
def test_assign_with_an_odd_next_goes_back_to_the_inbox(manager_client, facility, target):
    phone = PhoneNumberFactory(lead__facility=facility)

    response = manager_client.post(
        reverse("inbox_assign", args=["lead", phone.lead_id]), {"assigned_to": "", "next": target}
    )

    assert response.status_code == 302
    assert response["Location"] == reverse("inbox")


def test_assign_with_a_path_on_this_site_goes_there(manager_client, facility):
    phone = PhoneNumberFactory(lead__facility=facility)

    response = manager_client.post(
        reverse("inbox_assign", args=["lead", phone.lead_id]), {"assigned_to": "", "next": "/inbox/?show=mine"}
    )

    assert response["Location"] == "/inbox/?show=mine"


@pytest.mark.parametrize("task", ["١", "５", "1١", "9" * 30])
def test_panel_with_an_odd_task_opens_for_a_plain_send(agent_client, facility, task):
    phone = PhoneNumberFactory(lead__facility=facility)

    response = agent_client.get(reverse("text_panel", args=[phone.pk]), {"task": task})

    assert response.status_code == 200
    assert reverse("text_send", args=[phone.pk]).encode() in response.content


@pytest.mark.parametrize(
    "query",
    ["/api/v1/templates/?active=2.9e263", "/api/v1/templates/?archived=maybe", "/api/v1/api-keys/?revoked=yes",
     "/api/v1/webhook-endpoints/?active=on", "/api/v1/leads/?count=2", "/api/v1/leads/?count=1&count=1"],
)  # fmt: skip
def test_a_boolean_filter_or_count_that_is_not_one_answers_400(manager_api, facility, query):
    """django-filter's BooleanWidget read an unreadable value as "no filter" and answered the whole list."""
    response = manager_api.get(query)

    assert (response.status_code, response.json()["code"]) == (400, "invalid")
