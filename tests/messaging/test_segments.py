"""Length, encoding and segments as Twilio counts them, on the final text (link included)."""

from __future__ import annotations

import pytest

from messaging.segments import GSM7_EXTENSION, measure
from messaging.services import LINK_PREFIX, message_preview, message_queue


@pytest.mark.parametrize(
    ("length", "segments"),
    [(1, 1), (160, 1), (161, 2), (306, 2), (307, 3), (459, 3), (460, 4)],
)
def test_plain_gsm7_text_fits_160_then_153_per_segment(length, segments):
    size = measure("a" * length)
    assert (size.encoding, size.segments) == ("GSM-7", segments)


@pytest.mark.parametrize("char", list("{}[]~\\|^€"))
def test_each_gsm7_extension_character_counts_twice(char):
    assert char in GSM7_EXTENSION
    assert measure(char * 80).units == 160
    assert measure(char * 80).segments == 1
    assert measure(char * 81).segments == 2
    assert measure("a" * 159 + char).segments == 2  # 161 septets


def test_accented_letters_in_the_gsm7_table_stay_gsm7():
    size = measure("é" * 160)
    assert (size.encoding, size.segments) == ("GSM-7", 1)


@pytest.mark.parametrize(
    ("text", "segments"),
    [("á" * 70, 1), ("á" * 71, 2), ("á" * 134, 2), ("á" * 135, 3)],
)
def test_any_non_gsm_character_makes_it_ucs2_at_70_then_67(text, segments):
    size = measure(text)
    assert (size.encoding, size.segments) == ("UCS-2", segments)


@pytest.mark.parametrize("char", ["\u00a0", "’", "“", "👋", "ç"])
def test_one_non_gsm_character_halves_the_room(char):
    text = "a" * 100 + char
    assert measure("a" * 100).segments == 1
    assert measure(text).encoding == "UCS-2"
    assert measure(text).segments == 2


def test_an_emoji_takes_two_ucs2_units():
    assert measure("😀" * 35).segments == 1
    assert measure("😀" * 36).segments == 2


def test_a_two_septet_character_is_never_split_across_segments():
    # 152 + 2 + 152 = 306 septets would fit 2 × 153, but "{" cannot straddle the boundary.
    assert measure("a" * 152 + "{" + "a" * 152).segments == 3
    assert measure("a" * 153 + "{" + "a" * 151).segments == 2


def test_empty_text_has_no_segments():
    assert measure("").segments == 0


def _link_suffix_length(phone) -> int:
    return len(message_preview(phone_number=phone, body="x").text) - 1


def test_the_appended_link_counts_toward_the_segments(consented_number, agent, open_all_day):
    room = 160 - _link_suffix_length(consented_number)
    fits = message_queue(phone_number=consented_number, sent_by=agent, body="a" * room)
    spills = message_queue(phone_number=consented_number, sent_by=agent, body="a" * (room + 1))
    assert fits.body.endswith(LINK_PREFIX + f"https://textdesk.test/u/{fits.body.rsplit('/', 1)[1]}")
    assert (len(fits.body), fits.segments, fits.encoding) == (160, 1, "GSM-7")
    assert (len(spills.body), spills.segments) == (161, 2)


def test_a_non_gsm_character_makes_the_whole_text_with_link_ucs2(consented_number, agent, open_all_day):
    message = message_queue(phone_number=consented_number, sent_by=agent, body="See you soon 🙂")
    assert message.encoding == "UCS-2"
    assert message.segments == measure(message.body).segments == 1 + (len(message.body) + 1 > 70)


def test_preview_figures_equal_what_is_stored(consented_number, agent, open_all_day):
    body = "Your balance is due {soon} [today] ~ " * 5
    draft = message_preview(phone_number=consented_number, body=body)
    message = message_queue(phone_number=consented_number, sent_by=agent, body=body)
    # Before the first send the preview has a placeholder token of the same length.
    assert len(draft.text) == len(message.body)
    assert draft.text.rsplit("/", 1)[0] == message.body.rsplit("/", 1)[0]
    assert message_preview(phone_number=consented_number, body=body).text == message.body
    assert (draft.measure.segments, draft.measure.encoding) == (message.segments, message.encoding)
