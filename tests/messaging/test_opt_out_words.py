"""The corpus: which replies revoke at once, which are flagged for an agent, which are neither, and why.

FCC 24-24 (47 CFR 64.1200(a)(12)): a reply using stop, quit, end, revoke, opt out, cancel or
unsubscribe is a revocation. A reply *built around* one of them (the word, plus who, what and please)
revokes at once; a longer reply that merely contains one may mean something else, so an agent reads
it within the 10 business days the rule allows.
"""

from __future__ import annotations

import pytest

from messaging.keywords import Keyword, OptOutWords, keyword_classify, opt_out_words_classify

R, F, N = OptOutWords.REVOKE, OptOutWords.FLAG, None

CORPUS = [
    # --- revoke: one FCC word, and only who/what/please around it -----------------------------------
    ("Stop texting me", R, "the FCC word and what to stop"),
    ("stop texting me please", R, "politeness changes nothing"),
    ("please unsubscribe me", R, "the FCC word and who"),
    ("Unsubscribe me from this list", R, "who and from what"),
    ("opt me out", R, "“opt out” split by who"),
    ("Opt out please", R, "“opt out” as two words"),
    ("STOP IT NOW", R, "what and when"),
    ("Stop sending me these messages", R, "what is sent"),
    ("please stop", R, "politeness"),
    ("Quit texting me", R, "another FCC word"),
    ("End these texts", R, "another FCC word"),
    ("cancel my texts", R, "cancel, about the texts"),
    ("I revoke my consent", R, "revoke, and what"),
    ("stop all messages now", R, "all what, and when"),
    ("Stop. Thanks", R, "a thank-you is not a conversation"),
    ("ok stop", R, "an ok first"),
    ("just stop", R, "just"),
    ("stop please thank you", R, "politeness"),
    # --- flag: an FCC word inside something else, or a request without one ---------------------------
    ("Can I cancel my reservation?", F, "cancel is about the reservation; an agent decides"),
    ("Stop by tomorrow?", F, "“stop by” is a visit, yet it uses the word: an agent glances at it"),
    ("The end unit is fine", F, "end is a unit here; flagged to be safe, never revoked"),
    ("I want to cancel my unit at the end of the month", F, "a move-out, not an opt-out, probably"),
    ("Please stop calling my work number, text is fine", F, "stop, but about calls"),
    ("Can you stop the autopay?", F, "stop, about payments"),
    ("I'll quit my job and move, so cancel everything", F, "too long to be sure"),
    ("don't text me", F, "a request in other words: no FCC word, an agent records it"),
    ("Don’t text me again", F, "the same, with a typographic apostrophe"),
    ("remove me from your list", F, "a request in other words"),
    ("take me off your list", F, "a request in other words"),
    ("no more texts please", F, "a request in other words"),
    ("Do not contact me", F, "a request in other words"),
    ("leave me alone", F, "a request in other words"),
    ("How do I unsubscribe from the newsletter and keep texts?", F, "unsubscribe, from something else"),
    # --- neither: no FCC word as a word, no request ------------------------------------------------
    ("I stopped by yesterday", N, "stopped is not stop"),
    ("Is the gate code still 4411?", N, "a question"),
    ("Yes please, Friday works", N, "a reply"),
    ("helpful, thanks", N, "a thank-you"),
    ("Can I start my rental today?", N, "start is not an opt-out word"),
    ("The weekend works for me", N, "weekend contains end, but is not it"),
    ("Unstoppable deals?", N, "contains stop, but is not it"),
    ("Where is the endcap unit?", N, "endcap is not end"),
    ("", N, "nothing"),
]


@pytest.mark.parametrize(("body", "expected", "why"), CORPUS, ids=[c[0] or "empty" for c in CORPUS])
def test_each_reply_of_the_corpus_revokes_is_flagged_or_neither(body, expected, why):
    assert opt_out_words_classify(body) == expected, why


@pytest.mark.parametrize("body", ["STOP!!", "stop.", "End", "Cancel", "UNSUBSCRIBE", "opt-out", "Quit", "revoke"])
def test_a_lone_fcc_word_with_punctuation_is_the_stop_keyword(body):
    assert keyword_classify(body) == Keyword.STOP
    assert opt_out_words_classify(body) is None  # the keyword path acts on it


def test_the_corpus_is_big_enough_to_mean_something():
    kinds = [expected for _, expected, _ in CORPUS]
    assert len(CORPUS) >= 40 and kinds.count(R) >= 12 and kinds.count(F) >= 12 and kinds.count(N) >= 6
