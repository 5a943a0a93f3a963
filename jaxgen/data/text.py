"""A byte-level tokenizer of our own: any prompt, no vocabulary file, nothing to download.

Token ids: 0 pad, 1 begin, 2 end, and 3 + b for each UTF-8 byte b, so VOCAB_SIZE = 259. A prompt becomes
[begin, bytes..., end, pad...] of a fixed length (bytes beyond length - 2 are cut, the end token kept).
Latent diffusion's text model is a transformer trained with the diffusion model on token ids (its
tokenizer is BERT's); bytes keep ours self-contained at the cost of longer sequences.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from jaxgen.errors import InputError

PAD, BEGIN, END, OFFSET = 0, 1, 2, 3
VOCAB_SIZE = OFFSET + 256


def encode_text(texts: Sequence[str], length: int) -> np.ndarray:
    """(len(texts), length) int32 token ids."""
    if length < 3:
        raise InputError(f"a token sequence needs length >= 3 (begin, one byte, end), got {length}")
    tokens = np.full((len(texts), length), PAD, np.int32)
    for row, text in enumerate(texts):
        body = np.frombuffer(text.encode("utf-8"), np.uint8)[: length - 2].astype(np.int32) + OFFSET
        tokens[row, : body.size + 2] = np.concatenate([[BEGIN], body, [END]])
    return tokens


def decode_text(tokens: np.ndarray) -> list[str]:
    """The texts of token rows (what lies between begin and end; bytes cut mid-character are dropped)."""
    texts = []
    for row in np.asarray(tokens):
        body = row[1:]
        stop = np.flatnonzero(body == END)
        body = body[: stop[0]] if stop.size else body[body != PAD]
        texts.append(bytes((body - OFFSET).astype(np.uint8).tolist()).decode("utf-8", errors="ignore"))
    return texts
