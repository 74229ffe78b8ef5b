"""What each kind of request is called where people see it (status lines, /history, pages)."""

from __future__ import annotations

KIND_LABELS = {
    "riff": "Riff",
    "reroll": "Reroll",
    "variation": "Variation",
    "extend": "Extend",
    "song": "Song",
    "blend": "Blend",
    "blend-clip": "Blend clip",
    "remix": "Remix",
}


def kind_label(kind: str) -> str:
    """The kind's name for people ("blend-clip" -> "Blend clip"; an unknown one titled)."""
    return KIND_LABELS.get(kind, kind.replace("-", " ").title())
