#!/usr/bin/env python3
"""Writes a small word-level tokenizer into DIR, built offline with the `tokenizers` package.

    tiny-tokenizer.py DIR

Load generators that size their prompts in tokens (GuideLLM's synthetic data) want a tokenizer,
by default one fetched from the Hugging Face hub. This one needs no network: a vocabulary of
[UNK] and 512 made-up words, split on whitespace and punctuation, saved as tokenizer.json with
a tokenizer_config.json that transformers' AutoTokenizer reads from the directory.
"""

import json
import os
import sys

from tokenizers import Tokenizer, models, pre_tokenizers


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    vocab = {"[UNK]": 0}
    for i in range(512):
        vocab[f"w{i}"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
        json.dump(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "unk_token": "[UNK]",
                "model_max_length": 1_000_000,
            },
            f,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
