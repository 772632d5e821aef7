"""Login throttling (django-axes): wrong passwords pause signing in for that username and address."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

PASSWORD = "pw-12345!"  # UserFactory's


def sign_in(client: Client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_forty_wrong_passwords_then_the_right_one_is_refused_with_when_to_retry(agent):
    client = Client()
    answers = [sign_in(client, agent.username, f"guess-{n}").status_code for n in range(40)]

    response = sign_in(client, agent.username, PASSWORD)

    assert answers[:4] == [200] * 4  # the form again, "wrong username or password"
    assert set(answers[4:]) == {429}  # the fifth wrong password locks the username out from this address
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    page = response.content.decode()
    assert "signing in is paused for 15 minutes" in page
    assert "Try again after" in page


def test_a_few_wrong_passwords_then_the_right_one_signs_in(agent):
    client = Client()
    for n in range(4):
        sign_in(client, agent.username, f"guess-{n}")

    response = sign_in(client, agent.username, PASSWORD)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(agent.pk)


def test_a_locked_out_username_does_not_lock_out_another_user(agent, manager):
    client = Client()
    for n in range(6):
        sign_in(client, agent.username, f"guess-{n}")

    assert sign_in(client, manager.username, PASSWORD).status_code == 302


def test_the_admin_sign_in_is_throttled_too(agent):
    client = Client()
    for n in range(5):
        client.post(reverse("admin:login"), {"username": agent.username, "password": f"guess-{n}"})

    response = client.post(reverse("admin:login"), {"username": agent.username, "password": PASSWORD})

    assert response.status_code == 429


def test_api_tokens_still_work_for_a_user_locked_out_of_the_sign_in_page(agent):
    client = Client()
    for n in range(6):
        sign_in(client, agent.username, f"guess-{n}")

    assert token_client(agent).get("/api/v1/leads/").status_code == 200
