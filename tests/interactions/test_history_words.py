"""The card's History and the thread speak words for every consent source, never the stored code
(issue 27: History showed ``sms_words``). Generated over every ``ConsentEvent.Source`` choice, so a
source added later is checked the day it is added."""

from __future__ import annotations

import pytest

from interactions.models import ConsentEvent
from interactions.selectors import consent_how
from interactions.services import consent_grant, consent_revoke

pytestmark = pytest.mark.django_db

SOURCES = [source.value for source in ConsentEvent.Source]


@pytest.mark.parametrize("source", SOURCES)
def test_every_consent_source_has_words_of_its_own(source):
    assert not consent_how(source).startswith("("), "a phrase in interactions.selectors._HOW, not the label"


@pytest.mark.parametrize("source", SOURCES)
def test_the_cards_history_and_thread_word_every_consent_source(agent_client, consented_number, source):
    org = consented_number.organization
    if source in ConsentEvent.REVOKE_SOURCES:
        consent_revoke(organization=org, number=consented_number.number, source=source, evidence="said so")
    else:
        consent_grant(organization=org, number=consented_number.number, source=source, evidence="said so")
    card = agent_client.get(f"/leads/{consented_number.lead.pk}/").content.decode()
    history = card[card.index('id="card-history"') :]
    assert consent_how(source) in history
    thread = agent_client.get(f"/text/conversation/{consented_number.pk}/").content.decode()
    if "_" in source:  # a stored code, not a word ("agent", "api" and "carrier" are also words)
        for html in (history, thread):
            assert source not in html, f"the code {source} is shown"
