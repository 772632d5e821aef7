"""How long a text is, as carriers count it: encoding, characters and segments.

One implementation for the server's limit and the compose panel's live counter.
Rules (Twilio's published ones): a text is GSM-7 when every character is in the GSM 03.38
basic or extension table; extension characters (``{ } [ ] ~ \\ | ^ €`` and form feed) take
two septets. GSM-7 fits 160 septets in one segment, 153 per segment when split; anything
else is UCS-2 at 70 / 67 UTF-16 code units. A non-breaking space or a curly quote is enough
to force UCS-2 and so halve the room per segment. A two-unit character (a GSM-7 escape, a
UTF-16 surrogate pair such as an emoji) is never split across two segments.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
MAX_CHARACTERS = 1600  # Twilio refuses longer bodies
WARN_AT_CHARACTERS = 1400


@dataclass(frozen=True)
class Measure:
    characters: int
    encoding: str  # "GSM-7" | "UCS-2"
    segments: int
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    per_segment: int
    remaining: int = 0  # units still free in the last segment

    @property
    def too_long(self) -> bool:
        return self.characters > MAX_CHARACTERS

    @property
    def near_limit(self) -> bool:
        return WARN_AT_CHARACTERS <= self.characters <= MAX_CHARACTERS


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _costs(text: str, gsm: bool) -> list[int]:
    if gsm:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [len(ch.encode("utf-16-le")) // 2 for ch in text]  # an emoji is a surrogate pair: 2 units


def measure(text: str) -> Measure:
    """Encoding and segment count of ``text`` exactly as it will be sent."""
    gsm = is_gsm7(text)
    single, multi, encoding = (160, 153, "GSM-7") if gsm else (70, 67, "UCS-2")
    costs = _costs(text, gsm)
    units = sum(costs)
    if units <= single:
        segments, per_segment, remaining = (1 if units else 0), single, single - units
    else:
        # Split greedily as the handset reassembles it: an escape pair (GSM-7) or a surrogate pair
        # (UCS-2) is never cut in two, so a segment can end one unit short.
        segments, used = 1, 0
        for cost in costs:
            if used + cost > multi:
                segments, used = segments + 1, 0
            used += cost
        per_segment, remaining = multi, multi - used
    return Measure(
        characters=len(text),
        encoding=encoding,
        segments=segments,
        units=units,
        per_segment=per_segment,
        remaining=remaining,
    )
