"""Parse the prompt weighting syntax users know from Stable Diffusion UIs.

`(word)` multiplies the weight of its text by 1.1, `[word]` divides it by 1.1, `(word:1.4)` sets
an explicit factor, nesting multiplies, and `\\(`, `\\)`, `\\[`, `\\]`, `\\\\` are literal
characters. Unbalanced brackets never fail: an unclosed bracket applies to the rest of the
prompt and a stray closing bracket is kept as text.
"""

from __future__ import annotations

import re

ROUND_FACTOR = 1.1
SQUARE_FACTOR = 1 / 1.1

_TOKEN = re.compile(
    r"""
    \\[()\[\]\\]                                # escaped bracket or backslash
    | \\                                        # a lone backslash is text
    | \(                                        # open round
    | \[                                        # open square
    | :\s*(?P<weight>[+-]?(?:\d+\.?\d*|\.\d+))\s*\)   # ":1.4)" closes round with a weight
    | \)                                        # close round
    | \]                                        # close square
    | [^\\()\[\]:]+                             # plain text
    | :                                         # a colon that is not a weight
    """,
    re.VERBOSE,
)


def parse_prompt_weights(text: str) -> list[tuple[str, float]]:
    """Split `text` into (fragment, weight) pairs; adjacent equal weights are merged."""
    pieces: list[list] = []  # [text, weight], mutable while brackets close
    round_open: list[int] = []
    square_open: list[int] = []

    def scale_from(start: int, factor: float) -> None:
        for piece in pieces[start:]:
            piece[1] *= factor

    for match in _TOKEN.finditer(text):
        token = match.group(0)
        weight = match.group("weight")
        if token.startswith("\\") and len(token) == 2:
            pieces.append([token[1], 1.0])
        elif token == "(":
            round_open.append(len(pieces))
        elif token == "[":
            square_open.append(len(pieces))
        elif weight is not None and round_open:
            scale_from(round_open.pop(), float(weight))
        elif token == ")" and round_open:
            scale_from(round_open.pop(), ROUND_FACTOR)
        elif token == "]" and square_open:
            scale_from(square_open.pop(), SQUARE_FACTOR)
        else:
            pieces.append([token, 1.0])
    for start in round_open:
        scale_from(start, ROUND_FACTOR)
    for start in square_open:
        scale_from(start, SQUARE_FACTOR)

    merged: list[tuple[str, float]] = []
    for fragment, weight in pieces:
        if merged and merged[-1][1] == weight:
            merged[-1] = (merged[-1][0] + fragment, weight)
        else:
            merged.append((fragment, weight))
    return [(fragment, weight) for fragment, weight in merged if fragment]


def chunk_tokens(
    ids: list[int],
    weights: list[float],
    size: int = 75,
    break_after: frozenset[int] = frozenset(),
    lookback: int = 20,
) -> list[tuple[list[int], list[float]]]:
    """Split a long prompt's tokens into chunks of at most `size` (CLIP sees 75 + BOS/EOS).

    A chunk that would overflow ends after the last `break_after` token (a comma) when one is
    within `lookback` tokens of the end, so phrases are not cut in half (as popular SD UIs do).
    An empty prompt is one empty chunk.
    """
    chunks: list[tuple[list[int], list[float]]] = []
    cur_ids: list[int] = []
    cur_w: list[float] = []
    for token, weight in zip(ids, weights, strict=True):
        if len(cur_ids) == size:
            cut = size
            for pos in range(size - 1, max(size - 1 - lookback, -1), -1):
                if cur_ids[pos] in break_after:
                    cut = pos + 1
                    break
            chunks.append((cur_ids[:cut], cur_w[:cut]))
            cur_ids, cur_w = cur_ids[cut:], cur_w[cut:]
        cur_ids.append(token)
        cur_w.append(weight)
    if cur_ids or not chunks:
        chunks.append((cur_ids, cur_w))
    return chunks
