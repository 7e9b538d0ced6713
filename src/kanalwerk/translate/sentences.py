"""Rule-based sentence splitter for English and German text.

Small NMT models translate one sentence at a time far better than a paragraph, and
Argos Translate's own splitter needs a model downloaded at run time. These rules cover
what feed text holds: abbreviations, initials, ordinals in German dates, decimals, URLs.
A missed split only costs some quality, a wrong split can garble a sentence, so when in
doubt the rules keep text together.
"""

from __future__ import annotations

import re

# Ends of sentences: terminal punctuation, then closing quotes or brackets, then space.
_BOUNDARY = re.compile(r"(?P<stop>[.!?…]+)(?P<close>[\"'’”»)\]]*)(?P<space>\s+)")

# Characters a new sentence may start with besides an uppercase letter.
_OPENERS = frozenset("\"'“‘„«‹([¿¡")

# Abbreviations compared exactly: as words of their own these are real sentence ends
# ("I said no."), capitalised they usually aren't.
_CASED_WORDS = """
    Mr. Mrs. Ms. Messrs. Dr. Prof. Sr. Jr. St. Gen. Gov. Sen. Rep. Rev. Capt. Col. Lt. Sgt.
    No. Nos. Nr. Vol. Fig. Ch. Sec. Art. Abs. Bd. Hr. Fr. Hrn. Inc. Ltd. Co. Corp. Bros.
    Jan. Feb. Mar. Apr. Jun. Jul. Aug. Sep. Sept. Oct. Nov. Dec. Okt. Dez. Mio. Mrd. Tsd.
    Mt. Ave. Blvd. Rd. Str.
"""
_CASED = frozenset(_CASED_WORDS.split())

# Abbreviations compared case-insensitively.
_UNCASED_WORDS = """
    e.g. i.e. etc. vs. cf. al. approx. ca. viz. resp. incl. excl. esp. est. min. max.
    z.b. d.h. u.a. o.ä. u.ä. s.o. s.u. usw. bzw. vgl. ggf. evtl. inkl. zzgl. sog. bspw.
    z.t. i.d.r. u.u. v.a. m.e. o.g. allg. ggü. gem. lt. tel. jh. jhd.
"""
_UNCASED = frozenset(_UNCASED_WORDS.split())

_MULTI_DOT = re.compile(r"(?:[^\W\d_]\.){2,}")  # U.S., e.g., a.m.
_ORDINAL = re.compile(r"\d{1,2}\.")  # German dates and ranks: "27. Januar", "3. Liga"
_LEADING = "\"'“‘„«‹(["


def _last_word(text: str, end: int) -> str:
    start = end
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    return text[start:end].lstrip(_LEADING)


def _is_abbreviation(word: str) -> bool:
    if word in _CASED or word.lower() in _UNCASED:
        return True
    core = word[:-1]
    if len(core) == 1 and core.isalpha():
        return True  # initials ("J. K. Rowling") and "z. B.", "d. h."
    return bool(_MULTI_DOT.fullmatch(word) or _ORDINAL.fullmatch(word))


def _starts_sentence(char: str) -> bool:
    return char.isupper() or char.isdigit() or char in _OPENERS


def split_sentences(text: str) -> list[str]:
    """Split `text` into sentences, stripped, without empty ones."""
    sentences: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        after = match.end()
        if after >= len(text) or not _starts_sentence(text[after]):
            continue
        stop = match.group("stop")
        if stop == ".":
            word = _last_word(text, match.end("stop"))
            if _is_abbreviation(word):
                continue
        sentence = text[start : match.end("close")].strip()
        if sentence:
            sentences.append(sentence)
        start = after
    rest = text[start:].strip()
    if rest:
        sentences.append(rest)
    return sentences
