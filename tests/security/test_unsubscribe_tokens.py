"""Unsubscribe tokens (docs/ARCHITECTURE.md rule 5): unguessable, and ``/u/<token>`` cannot be used to enumerate.

Tokens are ≥ 10 base62 characters drawn from ``secrets`` with no sequential pattern; an unknown
token answers the same 404 whatever it looks like, and reveals neither organization nor number.
"""

from __future__ import annotations

import string
from collections import Counter
from itertools import pairwise

import pytest
from django.test import Client

from interactions.models import ConsentEvent
from messaging import models as messaging_models
from messaging.models import UnsubscribeLink
from messaging.services import unsubscribe_link_get_or_create
from tests.factories import FacilityFactory, PhoneNumberFactory

BASE62 = set(string.ascii_letters + string.digits)


@pytest.fixture
def links(db):
    facility = FacilityFactory(name="Lakeside Austin", organization__name="Lakeside Storage")
    return [
        unsubscribe_link_get_or_create(
            organization=facility.organization, number=PhoneNumberFactory(lead__facility=facility).number
        )
        for _ in range(40)
    ]


def test_tokens_are_long_base62_and_all_different(links):
    tokens = [link.token for link in links]
    assert all(len(token) >= 10 and set(token) <= BASE62 for token in tokens)
    assert len(set(tokens)) == len(tokens)


def test_tokens_come_from_the_secrets_module(monkeypatch):
    monkeypatch.setattr(messaging_models.secrets, "choice", lambda alphabet: "Q")
    assert UnsubscribeLink().token == "Q" * len(UnsubscribeLink().token)


def test_tokens_follow_no_sequence():
    tokens = [UnsubscribeLink().token for _ in range(2000)]
    # Consecutive tokens share no more than chance would give (1/62 per leading character).
    shared = [
        next((i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y), len(a)) for a, b in pairwise(tokens)
    ]
    assert sum(shared) / len(shared) < 0.1
    # Not ordered: about half of the consecutive pairs go up.
    rising = sum(a < b for a, b in pairwise(tokens))
    assert 0.4 < rising / (len(tokens) - 1) < 0.6
    # Every position uses the whole alphabet about evenly (no fixed or counting positions).
    for position in range(len(tokens[0])):
        counts = Counter(token[position] for token in tokens)
        assert len(counts) > 55 and max(counts.values()) < 90


def _unknown_variants(token: str) -> list[str]:
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    return [flipped, token[:-1], token + "x", token.lower() if token.lower() != token else token.upper(), "A" * 16, "1"]


def test_unknown_tokens_all_answer_the_same_404_revealing_nothing(links):
    client = Client(enforce_csrf_checks=True)
    bodies = set()
    for token in _unknown_variants(links[0].token) + _unknown_variants(links[1].token):
        for response in (client.get(f"/u/{token}"), client.post(f"/u/{token}")):
            assert response.status_code == 404
            body = response.content.decode()
            assert "Lakeside" not in body and "555" not in body
            bodies.add(body)
    assert len(bodies) == 1  # no variant tells "almost" from "nothing like it"
    assert not ConsentEvent.objects.exists()
