"""The documented limits a supervised tuning dataset is checked against, with where each comes from.

Sources (Google Cloud documentation, read 2026-12):
- "About supervised fine-tuning for Gemini models"
  (https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning), table
  "Limitations" for Gemini 2.5 Pro / Flash / Flash-Lite and the later models: maximum input and output
  training tokens 131,072 per example; maximum validation dataset size 5000 examples; maximum training
  dataset file size 1GB for JSONL; maximum training dataset size 1M text-only examples (300K multimodal).
  The same page lists 32,000 tokens and 256 validation examples for the older gemini-1.5 and 1.0 models.
- "Prepare supervised fine-tuning data for Gemini models"
  (https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-supervised-tuning-prepare): the
  dataset is JSON Lines, one example per line, each with `contents` (required), `systemInstruction` and
  `tools` (optional).
- "Understand and count tokens" (https://ai.google.dev/gemini-api/docs/tokens): for Gemini models a token
  is about four characters. The preflight has no tokenizer, so its token counts are estimates from this.

The validation-set limit is applied to the validation file; the file-size limit to each file (the page
states it for training data; a validation file is at most 5000 examples, far below it, in practice).
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 1 << 30
# "a token is about four characters" (ai.google.dev/gemini-api/docs/tokens)
CHARACTERS_PER_TOKEN = 4


@dataclass(frozen=True)
class DatasetLimits:
    max_tokens_per_example: int = 131_072
    max_validation_examples: int = 5_000
    max_file_bytes: int = 1 * GIB
    max_training_examples: int = 1_000_000

    @property
    def key(self) -> str:
        """Part of the cache key of a checked file: a result holds only for the limits it was checked with."""
        return (
            f"{self.max_tokens_per_example}/{self.max_validation_examples}/{self.max_file_bytes}/"
            f"{self.max_training_examples}"
        )


CURRENT = DatasetLimits()
# gemini-1.5-pro-002, gemini-1.5-flash-002, gemini-1.0-pro-002: 32,000 tokens, 256 validation examples.
LEGACY = DatasetLimits(max_tokens_per_example=32_000, max_validation_examples=256)
_LEGACY_PREFIXES = ("gemini-1.0-", "gemini-1.5-")


def limits_for(base_model: str | None) -> DatasetLimits:
    """The limits of the base model's family; the current table for every model newer than 1.5."""
    name = (base_model or "").rsplit("/", 1)[-1]
    return LEGACY if name.startswith(_LEGACY_PREFIXES) else CURRENT


def estimate_tokens(characters: int) -> int:
    """Tokens for this many characters of text, rounded up."""
    return -(-characters // CHARACTERS_PER_TOKEN)
