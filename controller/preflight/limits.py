"""The documented format and limits a tuning dataset is checked against, with where each comes from.

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

Preference tuning (`spec.preferenceOptimizationSpec`):
- "About preference tuning for Gemini models"
  (https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-preference-tuning), table
  "Limitations": text only; training dataset file size 1GB; maximum input and output tokens per training
  example 131,072; maximum training examples 10M text-only; maximum validation dataset size 5000 examples,
  or 30% of the number of training examples if there are more than 1000 validation examples.
- "Prepare preference tuning data for Gemini models"
  (https://cloud.google.com/vertex-ai/generative-ai/docs/models/gemini-preference-tuning-prepare): an
  example is `contents` (the supervised format, text only, ending with a user turn), an optional
  `system_instruction`, and `completions`: a pair of `{score, completion}`, one preferred (score 1) and one
  dispreferred (score 0), each completion a single model turn; "the sum of maximum input and maximum
  completion token counts must be <= 128K".

The validation-set limit is applied to the validation file; the file-size limit to each file (the page
states it for training data; a validation file is at most 5000 examples, far below it, in practice).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GIB = 1 << 30
# "a token is about four characters" (ai.google.dev/gemini-api/docs/tokens)
CHARACTERS_PER_TOKEN = 4


class DataFormat(StrEnum):
    """Which documented example format the lines are checked against: the tuning spec decides."""

    SUPERVISED = "supervised"
    PREFERENCE = "preference"


@dataclass(frozen=True)
class DatasetLimits:
    max_tokens_per_example: int = 131_072
    max_validation_examples: int = 5_000
    max_file_bytes: int = 1 * GIB
    max_training_examples: int = 1_000_000
    data_format: DataFormat = DataFormat.SUPERVISED
    # Preference tuning: above this many validation examples, at most this share of the training examples.
    validation_share_above: int | None = None
    max_validation_share: float = 1.0

    @property
    def key(self) -> str:
        """Part of the cache key of a checked file: a result holds only for the limits it was checked with."""
        return (
            f"{self.data_format.value}/{self.max_tokens_per_example}/{self.max_validation_examples}/"
            f"{self.max_file_bytes}/{self.max_training_examples}/{self.validation_share_above}/"
            f"{self.max_validation_share}"
        )


CURRENT = DatasetLimits()
# gemini-1.5-pro-002, gemini-1.5-flash-002, gemini-1.0-pro-002: 32,000 tokens, 256 validation examples.
LEGACY = DatasetLimits(max_tokens_per_example=32_000, max_validation_examples=256)
_LEGACY_PREFIXES = ("gemini-1.0-", "gemini-1.5-")
PREFERENCE = DatasetLimits(
    max_training_examples=10_000_000,
    data_format=DataFormat.PREFERENCE,
    validation_share_above=1_000,
    max_validation_share=0.3,
)


def limits_for(base_model: str | None, data_format: DataFormat = DataFormat.SUPERVISED) -> DatasetLimits:
    """The limits of the tuning method and the base model's family; for supervised tuning, the current
    table for every model newer than 1.5 (preference tuning has one table)."""
    if data_format is DataFormat.PREFERENCE:
        return PREFERENCE
    name = (base_model or "").rsplit("/", 1)[-1]
    return LEGACY if name.startswith(_LEGACY_PREFIXES) else CURRENT


def estimate_tokens(characters: int) -> int:
    """Tokens for this many characters of text, rounded up."""
    return -(-characters // CHARACTERS_PER_TOKEN)
