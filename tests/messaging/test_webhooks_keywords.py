"""STOP/START/HELP keywords and the plain-words requests that must only be flagged."""

from __future__ import annotations

import pytest

from interactions.models import ConsentEvent
from interactions.services import consent_status
from messaging.keywords import Keyword, keyword_classify, opt_out_words_classify
from messaging.models import Message

from .twilio_payloads import post_inbound

PERSON = "+15125550142"
STOP_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]
START_WORDS = ["START", "UNSTOP", "YES"]
HELP_WORDS = ["HELP", "INFO"]
# Built around one of the FCC's words: revoke at once (the corpus: tests/messaging/test_opt_out_words.py).
REVOKING_WORDS = [
    "please stop texting me",
    "STOP IT NOW",
    "unsubscribe me please",
    "Stop sending me these",
    "opt me out",
    "please stop",
]
# Asking in other words: flagged for an agent.
PLAIN_WORDS = [
    "don't text me",
    "Don’t text me again",
    "remove me from your list",
    "no more texts please",
    "Do not contact me",
    "take me off your list",
]
NOT_A_REQUEST = [
    "stopped",
    "I stopped by yesterday",
    "Is the gate code still 4411?",
    "Yes please, Friday works",
    "helpful, thanks",
    "Can I start my rental today?",
    "",
]


@pytest.mark.parametrize("word", STOP_WORDS)
@pytest.mark.parametrize("spelling", [str.upper, str.lower, str.title, lambda w: f"  {w.lower()} \n"])
def test_stop_family_is_a_stop_keyword_in_any_case_and_spacing(word, spelling):
    assert keyword_classify(spelling(word)) == Keyword.STOP


@pytest.mark.parametrize("word", START_WORDS)
def test_start_family_is_a_start_keyword(word):
    assert keyword_classify(f" {word.lower()}\t") == Keyword.START


@pytest.mark.parametrize("word", HELP_WORDS)
def test_help_family_is_a_help_keyword(word):
    assert keyword_classify(word.title()) == Keyword.HELP


@pytest.mark.parametrize("body", ["Stop.", "STOP!", "opt-out", "ＳＴＯＰ"])
def test_punctuation_hyphen_and_full_width_letters_around_a_keyword_still_count(body):
    assert keyword_classify(body) == Keyword.STOP


@pytest.mark.parametrize("body", [*PLAIN_WORDS, *NOT_A_REQUEST])
def test_anything_but_a_single_keyword_is_not_a_keyword(body):
    assert keyword_classify(body) is None


@pytest.mark.parametrize("body", PLAIN_WORDS)
def test_plain_words_asking_to_stop_are_detected(body):
    assert opt_out_words_classify(body) is not None


@pytest.mark.parametrize("body", [*NOT_A_REQUEST, "STOP", " stop ", "HELP"])
def test_look_alikes_and_keywords_are_not_plain_words_requests(body):
    assert opt_out_words_classify(body) is None


# --- through the signed webhook -----------------------------------------------------------


def _state(number):
    return consent_status(organization=number.organization, number=PERSON)


@pytest.mark.django_db
@pytest.mark.parametrize("word", STOP_WORDS)
def test_every_stop_word_texted_in_revokes_consent(client, consented_number, word):
    post_inbound(client, "inbound_stop", Body=f" {word.lower()} ")

    state = _state(consented_number)
    assert state.status == "revoked" and state.source == ConsentEvent.Source.SMS_KEYWORD
    assert not Message.objects.get(direction=Message.Direction.INBOUND).flagged_opt_out_request


@pytest.mark.django_db
@pytest.mark.parametrize("word", START_WORDS)
def test_every_start_word_texted_in_after_a_stop_grants_again(client, consented_number, word):
    post_inbound(client, "inbound_stop")
    post_inbound(client, "inbound_start", Body=word.title())

    state = _state(consented_number)
    assert state.is_granted and not state.person_opted_out


@pytest.mark.django_db
@pytest.mark.parametrize("word", HELP_WORDS)
def test_every_help_word_gets_the_help_reply_and_changes_no_consent(client, consented_number, word):
    response = post_inbound(client, "inbound_help", Body=word.lower())

    assert consented_number.organization.help_reply in response.content.decode()
    assert _state(consented_number).is_granted


@pytest.mark.django_db
@pytest.mark.parametrize("body", PLAIN_WORDS)
def test_plain_words_requests_are_flagged_and_revoke_nothing(client, consented_number, body):
    response = post_inbound(client, "inbound_plain_words", Body=body)

    assert "<Message>" not in response.content.decode()
    assert Message.objects.get(direction=Message.Direction.INBOUND).flagged_opt_out_request
    assert _state(consented_number).is_granted


@pytest.mark.django_db
@pytest.mark.parametrize("body", REVOKING_WORDS)
def test_replies_built_around_an_fcc_word_revoke_at_once(client, consented_number, body):
    post_inbound(client, "inbound_plain_words", Body=body)

    state = _state(consented_number)
    assert state.person_opted_out and state.source == "sms_words"
    assert not Message.objects.get(direction=Message.Direction.INBOUND).flagged_opt_out_request


@pytest.mark.django_db
@pytest.mark.parametrize("body", NOT_A_REQUEST)
def test_look_alikes_neither_revoke_nor_flag_nor_reply(client, consented_number, body):
    response = post_inbound(client, "inbound_sms", Body=body)

    assert "<Message>" not in response.content.decode()
    assert not Message.objects.get(direction=Message.Direction.INBOUND).flagged_opt_out_request
    assert _state(consented_number).is_granted
