"""Discord's ``enforce_nonce``: a create-message retried with its nonce is the same message.

Discord checks a nonce sent with ``enforce_nonce: true`` against the same author's messages of
"the past few minutes" and returns the earlier message instead of creating another. It echoes the
nonce in the create response and the MESSAGE_CREATE event only: messages read back later carry no
nonce, so a bot cannot find its earlier post by nonce after the window (or after a restart).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

#: Discord documents only "a few minutes"; the low end, so a bot is not tested against more.
DEFAULT_WINDOW = 120.0
MAX_NONCE_LENGTH = 25


@dataclass
class _Seen:
    message_id: int
    at: float


class NonceCache:
    """(author id, nonce) -> the message it created, for ``window`` seconds on the fake's clock."""

    def __init__(self, clock: Callable[[], float], window: float = DEFAULT_WINDOW) -> None:
        self.clock = clock
        self.window = window
        #: How many creates were answered with an earlier message instead of a new one.
        self.hits = 0
        self._seen: dict[tuple[int, str], _Seen] = {}

    def find(self, author_id: int, nonce: str) -> int | None:
        """The id of the message this nonce created within the window, if any."""
        seen = self._seen.get((author_id, nonce))
        if seen is None or self.clock() - seen.at > self.window:
            return None
        return seen.message_id

    def remember(self, author_id: int, nonce: str, message_id: int) -> None:
        self._seen[(author_id, nonce)] = _Seen(message_id, self.clock())
