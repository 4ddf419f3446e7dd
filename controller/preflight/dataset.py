"""One dataset file checked line by line: counts, token estimates, the largest example, its problems.

`FileReport` keeps only totals and the first `max_problems` messages, so its size does not grow with the
file; with `lines.iter_lines` the whole check runs in memory bounded by one line and one download chunk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from controller.preflight.example import Severity, check_line, quick_characters
from controller.preflight.limits import CHARACTERS_PER_TOKEN, DataFormat, DatasetLimits, estimate_tokens
from controller.preflight.lines import TooLong, iter_lines
from controller.preflight.preference import check_preference_line

LINE_CHECKS = {DataFormat.SUPERVISED: check_line, DataFormat.PREFERENCE: check_preference_line}
# A tight pass for the shape nearly every line of a format has; a line it does not take goes to LINE_CHECKS.
QUICK_CHECKS = {DataFormat.SUPERVISED: quick_characters}


class FileRole(StrEnum):
    TRAINING = "training"
    VALIDATION = "validation"


@dataclass
class FileReport:
    uri: str
    role: FileRole
    generation: str
    size: int
    examples: int = 0  # lines that are valid examples
    lines: int = 0
    tokens: int = 0  # estimated, valid examples only
    largest_line: int = 0
    largest_tokens: int = 0
    errors: int = 0
    warnings: int = 0
    problems: list[str] = field(default_factory=list)  # the first ones, errors and warnings in line order
    max_problems: int = 20
    first_error: str | None = None

    def add(self, severity: Severity, message: str) -> None:
        if severity is Severity.ERROR:
            self.errors += 1
            self.first_error = self.first_error or message
        else:
            self.warnings += 1
        if len(self.problems) < self.max_problems:
            self.problems.append(f"{severity.value}: {message}")


def check_file(
    chunks: Iterable[bytes],
    *,
    uri: str,
    role: FileRole,
    generation: str,
    size: int,
    limits: DatasetLimits,
    max_problems: int = 20,
) -> FileReport:
    """Read every line of one file and check it; file-level limits (size, example counts) included."""
    report = FileReport(uri, role, generation, size, max_problems=max_problems)
    if size > limits.max_file_bytes:
        # Vertex AI refuses the file whatever its lines hold: not worth reading gigabytes to say more.
        report.add(
            Severity.ERROR,
            f"{uri}: {size} bytes is over the {limits.max_file_bytes} bytes (1 GB) a JSONL dataset may hold; "
            "its lines were not read",
        )
        return report
    # Far above what a valid example can hold (the token limit at 4 characters a token, in UTF-8, twice).
    max_line_bytes = limits.max_tokens_per_example * 4 * 4 * 2
    max_examples = (
        limits.max_validation_examples if role is FileRole.VALIDATION else limits.max_training_examples
    )
    check = LINE_CHECKS[limits.data_format]
    quick = QUICK_CHECKS.get(limits.data_format)
    max_characters = limits.max_tokens_per_example * CHARACTERS_PER_TOKEN  # more: a token-limit warning
    for number, line in enumerate(iter_lines(chunks, max_line_bytes), start=1):
        report.lines = number
        if isinstance(line, TooLong):
            report.add(
                Severity.ERROR,
                f"{uri} line {number}: {line.length} bytes on one line, far over what an example of at most "
                f"{limits.max_tokens_per_example} tokens holds; not read",
            )
            continue
        if not line or line.isspace():
            report.add(Severity.WARNING, f"{uri} line {number}: blank line")
            continue
        characters = quick(line) if quick is not None else None
        if characters is not None and characters <= max_characters:
            tokens = estimate_tokens(characters)
        else:
            checked = check(line, limits)
            if checked.problems:
                for problem in checked.problems:
                    report.add(problem.severity, problem.describe(f"{uri} line {number}"))
                if not checked.valid:
                    continue
            tokens = checked.tokens
        report.examples += 1
        if report.examples == max_examples + 1:
            limit = "validation dataset" if role is FileRole.VALIDATION else "training dataset"
            report.add(
                Severity.ERROR,
                f"{uri} line {number}: example {report.examples} is over the {max_examples} examples a "
                f"{limit} may hold",
            )
        report.tokens += tokens
        if tokens > report.largest_tokens:
            report.largest_tokens, report.largest_line = tokens, number
    if report.examples == 0 and report.errors == 0:
        report.add(Severity.ERROR, f"{uri}: holds no examples (one JSON object per line)")
    return report


def validation_share_error(
    training: FileReport | None, validation: FileReport | None, limits: DatasetLimits
) -> str | None:
    """Preference tuning's limit across both files: above `validation_share_above` validation examples,
    at most `max_validation_share` of the number of training examples."""
    if training is None or validation is None or limits.validation_share_above is None:
        return None
    allowed = int(training.examples * limits.max_validation_share)
    if validation.examples <= max(limits.validation_share_above, allowed):
        return None
    return (
        f"{validation.uri}: {validation.examples} validation examples; above "
        f"{limits.validation_share_above} they may be at most {limits.max_validation_share:.0%} of the "
        f"{training.examples} training examples ({allowed})"
    )


__all__ = ["FileReport", "FileRole", "check_file", "estimate_tokens"]
