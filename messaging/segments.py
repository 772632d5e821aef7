"""How long a text is, as carriers count it: encoding, characters and segments.

One implementation for the server's limit and the compose panel's live counter.
Rules (Twilio's published ones): a text is GSM-7 when every character is in the GSM 03.38
basic or extension table; extension characters (``{ } [ ] ~ \\ | ^ €`` and form feed) take
two septets. GSM-7 fits 160 septets in one segment, 153 per segment when split; anything
else is UCS-2 at 70 / 67 UTF-16 code units. A non-breaking space or a curly quote is enough
to force UCS-2 and so halve the room per segment.
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

    @property
    def too_long(self) -> bool:
        return self.characters > MAX_CHARACTERS

    @property
    def near_limit(self) -> bool:
        return WARN_AT_CHARACTERS <= self.characters <= MAX_CHARACTERS

    @property
    def remaining_in_segment(self) -> int:
        return self.segments * self.per_segment - self.units if self.units else self.per_segment


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def measure(text: str) -> Measure:
    """Encoding and segment count of ``text`` exactly as it will be sent."""
    if is_gsm7(text):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in text)
        single, multi, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    if units <= single:
        segments, per_segment = (1 if units else 0), single
    else:
        segments, per_segment = -(-units // multi), multi
    return Measure(characters=len(text), encoding=encoding, segments=segments, units=units, per_segment=per_segment)
