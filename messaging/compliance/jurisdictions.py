"""The texting rules of each jurisdiction, as data: the one file to review when a law changes.

Each ``Jurisdiction`` says when texts may go out (a window per weekday, in the recipient's local
time), how many may go out per rolling 24 hours, and where the rule comes from. The engine
(``messaging.compliance.engine``) applies every jurisdiction that can claim the recipient and
the organization's own settings together, so the strictest of them always wins.

Who is presumed to live where:

- ``STATE_BY_ZIP3``: the first three digits of a US ZIP code (a lead's or customer's address);
- ``STATE_BY_AREA_CODE``: the area code of the number (FL, OK and MD presume a number with the
  state's area code belongs to a resident).

Only the states with rules stricter than the federal ones are listed; every other US number,
and every number abroad, is held to the federal window in its own local time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

# Monday is 0, as ``datetime.weekday()``.
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# What counts towards a cap ("same subject"): statutes cap calls and texts "on the same subject
# matter", and nothing in a free-typed text tells subjects apart. We count every text from the
# organization to the number as one subject, the most conservative reading (see the README).
SAME_SUBJECT = "every text from the organization to the number (the most conservative reading)"


@dataclass(frozen=True)
class Jurisdiction:
    code: str
    name: str
    # Seven (start, end) pairs, Monday first: texts may go out from ``start`` up to, not including, ``end``.
    windows: tuple[tuple[time, time], ...]
    time_zones: tuple[str, ...]  # the zones the jurisdiction spans (its rule holds in each of them)
    cap_per_24h: int | None  # texts per rolling 24 hours, or None for no cap
    citation: str
    source_url: str

    def window_on(self, weekday: int) -> tuple[time, time]:
        return self.windows[weekday]


def _every_day(start: time, end: time) -> tuple[tuple[time, time], ...]:
    return ((start, end),) * 7


FEDERAL = Jurisdiction(
    code="US",
    name="federal law (TCPA)",
    windows=_every_day(time(8), time(21)),
    time_zones=(),  # the recipient's own zone, wherever they are
    cap_per_24h=None,
    citation="47 U.S.C. § 227(c); 47 CFR 64.1200(c)(1): no telephone solicitation before 8 a.m. or after 9 p.m. "
    "at the called party's location. Revocation: 47 CFR 64.1200(a)(10), (a)(12) (FCC 24-24).",
    source_url="https://www.ecfr.gov/current/title-47/chapter-I/subchapter-B/part-64/subpart-L/section-64.1200",
)

JURISDICTIONS: dict[str, Jurisdiction] = {
    "FL": Jurisdiction(
        code="FL",
        name="Florida",
        windows=_every_day(time(8), time(20)),
        time_zones=("America/New_York", "America/Chicago"),
        cap_per_24h=3,
        citation="Fla. Stat. § 501.059(8)(a) (Florida Telephone Solicitation Act): no solicitation before 8 a.m. or "
        "after 8 p.m., and no more than 3 on the same subject matter in a 24-hour period; area code presumption "
        "§ 501.059(8)(b).",
        source_url="https://www.flsenate.gov/Laws/Statutes/2024/501.059",
    ),
    "OK": Jurisdiction(
        code="OK",
        name="Oklahoma",
        windows=_every_day(time(8), time(20)),
        time_zones=("America/Chicago",),
        cap_per_24h=3,
        citation="Okla. Stat. tit. 15 § 775C.4 (Telephone Solicitation Act of 2022): 8 a.m.–8 p.m., no more than "
        "3 on the same subject in 24 hours; area code presumption § 775C.4(C).",
        source_url="https://oksenate.gov/sites/default/files/2022-05/os15.pdf",
    ),
    "MD": Jurisdiction(
        code="MD",
        name="Maryland",
        windows=_every_day(time(8), time(20)),
        time_zones=("America/New_York",),
        cap_per_24h=3,
        citation="Md. Code, Com. Law § 14-4503 (Stop the Spam Calls Act of 2023, in force January 1, 2024): "
        "8 a.m.–8 p.m., no more than 3 on the same subject in 24 hours; area code presumption § 14-4501.",
        source_url="https://mgaleg.maryland.gov/mgawebsite/Laws/StatuteText?article=gcl&section=14-4503",
    ),
    "CT": Jurisdiction(
        code="CT",
        name="Connecticut",
        windows=_every_day(time(9), time(20)),
        time_zones=("America/New_York",),
        cap_per_24h=None,
        citation="Conn. Gen. Stat. § 42-288a(c) (as amended by Public Act 23-98, 2023): no telephonic sales call "
        "before 9 a.m. or after 8 p.m.",
        source_url="https://www.cga.ct.gov/current/pub/chap_743i.htm#sec_42-288a",
    ),
    "TX": Jurisdiction(
        code="TX",
        name="Texas",
        windows=(*((time(9), time(21)),) * 6, (time(12), time(21))),
        time_zones=("America/Chicago", "America/Denver"),
        cap_per_24h=None,
        citation="Tex. Bus. & Com. Code § 301.051 (as amended by SB 140, 2025, in force September 1, 2025): "
        "9 a.m.–9 p.m. Monday to Saturday, noon–9 p.m. Sunday.",
        source_url="https://capitol.texas.gov/tlodocs/89R/billtext/html/SB00140F.htm",
    ),
}


def _codes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# NANP area codes of the states above (NANPA's numbering plan; overlays included).
STATE_BY_AREA_CODE: dict[str, str] = {
    **dict.fromkeys(
        _codes("239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904 941 954"), "FL"
    ),
    **dict.fromkeys(_codes("405 539 572 580 918"), "OK"),
    **dict.fromkeys(_codes("227 240 301 410 443 667"), "MD"),
    **dict.fromkeys(_codes("203 475 860 959"), "CT"),
    **dict.fromkeys(
        _codes(
            "210 214 254 281 325 346 361 409 430 432 469 512 682 713 726 737 806 817 830 832 903 915 936 940 945 "
            "956 972 979"
        ),
        "TX",
    ),
}


def _zip3(first: int, last: int) -> tuple[str, ...]:
    return tuple(f"{n:03d}" for n in range(first, last + 1))


# USPS ZIP code prefixes (the first three digits) of the states above.
STATE_BY_ZIP3: dict[str, str] = {
    **dict.fromkeys((*_zip3(320, 339), *_zip3(341, 349)), "FL"),  # 340 is the military's "AA"
    **dict.fromkeys((*_zip3(730, 731), *_zip3(734, 749)), "OK"),
    **dict.fromkeys(_zip3(206, 219), "MD"),
    **dict.fromkeys(_zip3(60, 69), "CT"),
    **dict.fromkeys((*_zip3(750, 799), "733", "885"), "TX"),
}
