"""What is wrong with the bot right now that no user can fix: the disk is full, the database
refuses writes. /about and the log say so; the next success of the same kind clears it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Problem:
    what: str  # for the operator: "the disk is full (DATA_DIR)", ...
    since: datetime


class Health:
    """Problems by kind ("disk", "database"), each with when it began."""

    def __init__(self) -> None:
        self._problems: dict[str, Problem] = {}

    def failed(self, kind: str, what: str) -> None:
        if kind not in self._problems:
            log.error("Problem: %s", what)
            self._problems[kind] = Problem(what, datetime.now(timezone.utc))

    def worked(self, kind: str) -> None:
        problem = self._problems.pop(kind, None)
        if problem is not None:
            log.info("Recovered: %s no longer (since %s)", problem.what, problem.since)

    @property
    def problems(self) -> list[Problem]:
        return list(self._problems.values())

    @property
    def by_kind(self) -> dict[str, Problem]:
        """The problems by kind (what /healthz reports each under)."""
        return dict(self._problems)
