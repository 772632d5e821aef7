"""What a reply says: the STOP/START/HELP keywords, plain-words requests not to be texted (FCC 24-24),
and when a flagged request must be honoured. Pure functions of the text; ``messaging.services.inbound`` acts on them."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum


class Keyword(StrEnum):
    STOP = "stop"
    START = "start"
    HELP = "help"


# Twilio's own opt-out, opt-in and help keywords (Advanced Opt-Out uses the same lists).
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"})
START_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})
_KEYWORDS = {
    **dict.fromkeys(STOP_WORDS, Keyword.STOP),
    **dict.fromkeys(START_WORDS, Keyword.START),
    **dict.fromkeys(HELP_WORDS, Keyword.HELP),
}
# Punctuation around a lone keyword ("STOP." / "Stop!") still means the keyword.
_EDGE_PUNCTUATION = ".,!?;:\"'“”‘’()*"


def _normalise(body: str) -> str:
    # NFKC folds full-width and other look-alike letters; typographic apostrophes become plain ones.
    text = unicodedata.normalize("NFKC", body or "").replace("’", "'").replace("‘", "'")
    return " ".join(text.split()).casefold()


def keyword_classify(body: str) -> Keyword | None:
    """The keyword a text *is*, or ``None``.

    A keyword is the whole text, one word, in any case and with any whitespace around it
    (``" stop "`` is STOP; ``"STOP IT NOW"``, ``"stopped"`` and ``"Stop by tomorrow?"`` are
    not keywords). Punctuation around the word and a hyphen inside it are ignored
    (``"Stop."``, ``"opt-out"``).
    """
    word = _normalise(body).strip(_EDGE_PUNCTUATION).replace("-", "")
    if not word or " " in word:
        return None
    return _KEYWORDS.get(word)


# Plain-words requests not to be texted that do not use one of the FCC's words: an agent reads them.
_OPT_OUT_REQUEST = re.compile(
    r"""
      \bstop\b (?: \s+ (?: it | this | that | now | please | pls | all | everything | them | texting | text | texts
                         | txting | txt | messaging | messages | message | msging | sending | contacting | calling
                         | bothering | spamming | harassing ) \b
                 | \W*$ )
    | \b(?: quit | cease | end ) \s+ (?: texting | messaging | contacting | sending ) \b
    | \b(?: do \s+ not | don'?t | never ) \s+ (?: ever \s+ )? (?: text | txt | message | msg | sms | contact | send ) \b
    | \bno \s+ more \s+ (?: texts? | txts? | messages? | msgs? | sms )\b
    | \bremove \s+ (?: me | my \s+ (?: number | phone | cell | \# ) )
    | \btake \s+ (?: me | my \s+ number ) \s+ off\b
    | \bunsubscribe\b
    | \bopt (?: \s* - \s* | \s+ )? (?: me \s+ )? out\b
    | \bleave \s+ me \s+ alone\b
    | \blose \s+ my \s+ number\b
    """,
    re.IGNORECASE | re.VERBOSE,
)

# The words the FCC names as a revocation in a reply (47 CFR 64.1200(a)(12), FCC 24-24); "opt out"
# is two words, joined below.
FCC_WORDS = frozenset({"stop", "quit", "end", "revoke", "optout", "cancel", "unsubscribe"})
# Words that may surround an FCC word in a reply still *built around* it: who, what is sent, politeness.
# Anything else ("Can I cancel my reservation?", "Stop by tomorrow?") makes it a reply that merely
# contains the word, for an agent to read.
_AROUND = frozenset(
    (
        "i",
        "please",
        "pls",
        "plz",
        "me",
        "my",
        "number",
        "this",
        "these",
        "that",
        "them",
        "it",
        "all",
        "any",
        "everything",
        "now",
        "right",
        "away",
        "immediately",
        "asap",
        "texting",
        "text",
        "texts",
        "txt",
        "txts",
        "txting",
        "messaging",
        "messages",
        "message",
        "msg",
        "msgs",
        "sms",
        "sending",
        "contacting",
        "calling",
        "bothering",
        "spamming",
        "from",
        "your",
        "you",
        "list",
        "us",
        "thanks",
        "thank",
        "thx",
        "ty",
        "just",
        "ok",
        "okay",
        "consent",
        "permission",
        "subscription",
        "to",
        "and",
    )
)
_MAX_WORDS = 8  # a longer text is a conversation, not a request: read by an agent


class OptOutWords(StrEnum):
    REVOKE = "revoke"  # built around an FCC word: revokes at once, like a keyword
    FLAG = "flag"  # contains one (or asks in other words): flagged for an agent, due in 10 business days


def _words(text: str) -> list[str]:
    words = re.findall(r"[a-z']+", text.replace("-", ""))
    joined: list[str] = []
    for word in words:
        if word == "out" and "opt" in joined:  # "opt out", "opt me out"
            joined[joined.index("opt")] = "optout"
            continue
        joined.append(word)
    return joined


def opt_out_words_classify(body: str) -> OptOutWords | None:
    """How a reply that is not a keyword asks not to be texted, or ``None``.

    ``REVOKE``: at most eight words, one of them an FCC word and every other a word of ``_AROUND``
    ("stop texting me", "please unsubscribe me", "opt me out", "STOP IT NOW").
    ``FLAG``: any other text with an FCC word as a whole word ("Can I cancel my reservation?"),
    or a plain-words request without one ("don't text me", "remove me from your list").
    The corpus in tests/messaging/test_opt_out_words.py pins each choice and its reason.
    """
    if keyword_classify(body) is not None:
        return None
    text = _normalise(body)
    words = _words(text)
    fcc = [w for w in words if w in FCC_WORDS]
    if fcc and len(words) <= _MAX_WORDS and all(w in FCC_WORDS or w in _AROUND for w in words):
        return OptOutWords.REVOKE
    if fcc or _OPT_OUT_REQUEST.search(text):
        return OptOutWords.FLAG
    return None


# A flagged request must be honoured within 10 business days (47 CFR 64.1200(a)(10)). Weekends are
# skipped, public holidays are not: the due date is never later than the law's.
OPT_OUT_DUE_BUSINESS_DAYS = 10


def opt_out_due(received_at: datetime, zone: tzinfo | None = None) -> datetime:
    """When a flagged plain-words request must be honoured: 10 business days after it arrived.

    Counted on UTC's calendar and, given ``zone`` (the facility's), on the business's own, and the earlier
    of the two: a request at 9 PM on a Sunday in Chicago is already Monday in UTC, and counting from UTC's
    Monday would make it due two days after the local count.
    """
    counts = [_business_days_after(received_at, OPT_OUT_DUE_BUSINESS_DAYS)]
    if zone is not None:
        counts.append(_business_days_after(received_at.astimezone(zone), OPT_OUT_DUE_BUSINESS_DAYS))
    return min(counts)


def _business_days_after(moment: datetime, days: int) -> datetime:
    due, left = moment, days
    while left:
        due += timedelta(days=1)
        if due.weekday() < 5:
            left -= 1
    return due
