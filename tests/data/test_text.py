"""The byte-level tokenizer: round trips, fixed length, cut long prompts, one clear error."""
import numpy as np
import pytest

from jaxgen.data.text import BEGIN, END, PAD, VOCAB_SIZE, decode_text, encode_text
from jaxgen.errors import InputError


def test_prompts_round_trip_through_fixed_length_token_rows():
    texts = ["a thick slanted seven in the top left", "", "café 7"]
    tokens = encode_text(texts, 48)
    assert tokens.shape == (3, 48) and tokens.dtype == np.int32 and tokens.max() < VOCAB_SIZE
    assert tokens[1, :3].tolist() == [BEGIN, END, PAD]
    assert decode_text(tokens) == texts


def test_a_long_prompt_is_cut_and_keeps_its_end_token():
    tokens = encode_text(["x" * 100], 10)
    assert tokens[0, 0] == BEGIN and tokens[0, -1] == END
    assert decode_text(tokens) == ["x" * 8]


def test_too_short_a_length_is_one_error():
    with pytest.raises(InputError, match="length >= 3"):
        encode_text(["seven"], 2)
