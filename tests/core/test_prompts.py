"""Prompt weighting syntax and how prompts become CLIP embeddings (chunking, weights)."""

import pytest
import torch

from riffusion_core.prompt_weights import chunk_tokens, parse_prompt_weights

W = 1.1


def approx_pairs(pairs):
    return [(text, pytest.approx(weight)) for text, weight in pairs]


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("plain jazz", [("plain jazz", 1.0)]),
        ("(jazz)", [("jazz", W)]),
        ("[jazz]", [("jazz", 1 / W)]),
        ("((jazz))", [("jazz", W * W)]),
        ("a (b:1.4) c", [("a ", 1.0), ("b", 1.4), (" c", 1.0)]),
        ("(a (b:2))", [("a ", W), ("b", 2 * W)]),
        ("[(a)]", [("a", 1.0)]),
        ("(b: 0.5 )", [("b", 0.5)]),
        (r"\(not weighted\)", [("(not weighted)", 1.0)]),
        (r"a \[b\] \\ c", [(r"a [b] \ c", 1.0)]),
        ("ratio 3:4 beat", [("ratio 3:4 beat", 1.0)]),
        ("(unclosed jazz", [("unclosed jazz", W)]),
        ("stray) bracket]", [("stray) bracket]", 1.0)]),
        ("x (:1.5)", [("x ", 1.0)]),
        ("", []),
    ],
)
def test_parse_prompt_weights(prompt, expected):
    assert parse_prompt_weights(prompt) == approx_pairs(expected)


def test_weight_without_open_bracket_is_text():
    assert parse_prompt_weights("a:1.5)") == [("a:1.5)", 1.0)]


def test_chunks_of_75_and_commas_as_break_points():
    ids = list(range(200))
    chunks = chunk_tokens(ids, [1.0] * 200, 75)
    assert [len(c[0]) for c in chunks] == [75, 75, 50]
    assert [t for c in chunks for t in c[0]] == ids
    comma = 1000
    with_comma = [*range(60), comma, *range(100, 139)]  # comma is token 61 of 100
    chunks = chunk_tokens(with_comma, [float(i) for i in range(100)], 75, frozenset({comma}))
    assert chunks[0][0][-1] == comma and len(chunks[0][0]) == 61
    assert chunks[1][0] == list(range(100, 139)) and chunks[1][1][0] == 61.0
    # A comma too far back (more than 20 tokens) is not used.
    early = [comma, *range(99)]
    assert len(chunk_tokens(early, [1.0] * 100, 75, frozenset({comma}))[0][0]) == 75
    assert chunk_tokens([], [], 75) == [([], [])]


def test_prompt_is_chunked_into_bos_eos_wrapped_77_token_windows(tiny_pipeline):
    pipe = tiny_pipeline
    long_prompt = " ".join(["the"] * 200)  # "the" is one token in the tiny vocabulary
    ids, _ = pipe._tokens(long_prompt)
    assert len(ids) == 200
    embedding = pipe._encode_prompt(long_prompt)
    assert embedding.shape == (1, 77 * 3, pipe.text_encoder.config.hidden_size)
    assert pipe._encode_prompt("drum").shape == (1, 77, pipe.text_encoder.config.hidden_size)
    # The first chunk is the first 75 tokens encoded on their own.
    first = pipe._encode_chunk(ids[:75], [1.0] * 75)
    assert torch.equal(embedding[:, :77], first)


def test_weights_change_embeddings_and_unit_weight_does_not(tiny_pipeline):
    pipe = tiny_pipeline
    plain = pipe._encode_prompt("jazz piano")
    assert torch.equal(pipe._encode_prompt("jazz (piano:1.0)"), plain)
    assert not torch.allclose(pipe._encode_prompt("jazz (piano:1.5)"), plain)
    assert not torch.allclose(pipe._encode_prompt("jazz [piano]"), plain)


def test_escaped_brackets_are_tokenised_literally(tiny_pipeline):
    ids, weights = tiny_pipeline._tokens(r"\(x\)")
    direct = tiny_pipeline.tokenizer("(x)", add_special_tokens=False).input_ids
    assert ids == direct and weights == [1.0] * len(ids)
