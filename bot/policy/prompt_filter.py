"""Blocked words and regular expressions for prompts, matched safely.

Admins type the patterns, so a pattern may backtrack catastrophically (`(a+)+$`). Patterns are
compiled with the `regex` engine, which takes a timeout per search: a pattern is refused when it
is added if it is slow on a few adversarial probes, and at match time the whole filter has a
time budget; a prompt the filter cannot finish checking is refused (fail closed) with a message
that says so. Searches run with `concurrent=True` so they release the GIL off the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import regex

MAX_PATTERN_LENGTH = 200
MAX_WORD_LENGTH = 100
MAX_RULES = 50
PROBE_TIMEOUT_S = 0.05
MATCH_BUDGET_S = 0.25
FLAGS = regex.IGNORECASE | regex.V0
# Inputs on which exponential patterns show themselves quickly.
PROBES = (
    *(s * 60 + "!" for s in ("a", "ab", "aa", " ", "1", "a ", "x", ".")),
    "a" * 500,
    " " * 500,
)


class FilterRuleError(ValueError):
    """A word or pattern an admin typed cannot be used (message for the admin)."""


class FilterTimeout(Exception):
    """The filter could not finish checking a prompt within its budget."""


@dataclass(frozen=True)
class Blocked:
    """Which rule refused which text."""

    rule: str  # "word" or "pattern"
    index: int  # 1-based, as /admin words|patterns list shows it
    detail: str  # the word, or the pattern
    field: str  # "prompt", "negative prompt", ...


def normalise_word(word: str) -> str:
    word = " ".join(word.split()).casefold()
    if not word:
        raise FilterRuleError("A blocked word cannot be empty.")
    if len(word) > MAX_WORD_LENGTH:
        raise FilterRuleError(f"A blocked word can be at most {MAX_WORD_LENGTH} characters.")
    return word


def compile_word(word: str) -> regex.Pattern:
    """A word (or phrase) matches as a whole word: blocking "ass" leaves "bass" alone."""
    return regex.compile(rf"(?<!\w){regex.escape(word)}(?!\w)", FLAGS)


def compile_pattern(pattern: str) -> regex.Pattern:
    """Compile and vet an admin's regular expression; FilterRuleError says what is wrong."""
    if not pattern.strip():
        raise FilterRuleError("A blocked pattern cannot be empty.")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise FilterRuleError(f"A blocked pattern can be at most {MAX_PATTERN_LENGTH} characters.")
    try:
        compiled = regex.compile(pattern, FLAGS)
    except regex.error as exc:
        raise FilterRuleError(f"That is not a valid regular expression: {exc}.") from None
    if compiled.search(""):
        raise FilterRuleError("That pattern matches an empty prompt, so it would block everything.")
    for probe in PROBES:
        try:
            compiled.search(probe, timeout=PROBE_TIMEOUT_S)
        except TimeoutError:
            raise FilterRuleError(
                "That pattern is too slow to match (it backtracks catastrophically, e.g. "
                "nested repeats like (a+)+); please simplify it."
            ) from None
    return compiled


@dataclass(frozen=True)
class PromptFilter:
    """A server's blocked words and patterns, compiled once per settings change."""

    words: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    _compiled: tuple[tuple[str, int, str, regex.Pattern], ...] = field(
        default=(), repr=False, compare=False
    )

    @classmethod
    def build(cls, words: Sequence[str], patterns: Sequence[str]) -> PromptFilter:
        compiled = [("word", i, w, compile_word(w)) for i, w in enumerate(words, 1)]
        for i, pattern in enumerate(patterns, 1):
            try:
                compiled.append(("pattern", i, pattern, regex.compile(pattern, FLAGS)))
            except regex.error:
                continue  # vetted when added; a stored one that stopped compiling is skipped
        return cls(tuple(words), tuple(patterns), tuple(compiled))

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def find(
        self, texts: dict[str, str | None], budget_s: float = MATCH_BUDGET_S
    ) -> Blocked | None:
        """The first rule that matches one of `texts` (field name -> text), or None.

        Raises FilterTimeout when the rules cannot all be checked within `budget_s`.
        """
        deadline = time.monotonic() + budget_s
        for name, text in texts.items():
            if not text:
                continue
            for rule, index, detail, compiled in self._compiled:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise FilterTimeout()
                try:
                    if compiled.search(text, timeout=remaining, concurrent=True):
                        return Blocked(rule, index, detail, name)
                except TimeoutError:
                    raise FilterTimeout() from None
        return None


def describe(blocked: Blocked) -> str:
    """The refusal a user reads: which field, which rule (words are named, patterns numbered)."""
    if blocked.rule == "word":
        return (
            f"Your {blocked.field} contains “{blocked.detail}”, which is blocked on this "
            "server (admin setting: blocked words)."
        )
    return (
        f"Your {blocked.field} matches blocked pattern #{blocked.index} on this server "
        "(admin setting: blocked patterns)."
    )
