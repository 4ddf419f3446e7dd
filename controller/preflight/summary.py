"""The preflight's result as `status.preflight` shows it, from the reports of the files it read.

One sentence (`message`) says what a user needs first: how many errors and the first of them, or how many
examples and tokens were found. The first problems are listed, each naming file, line and field.
"""

from __future__ import annotations

from dataclasses import dataclass

from controller.api.conditions import Reason
from controller.api.tuningjob import PreflightMode
from controller.external import JsonObject
from controller.preflight.dataset import FileReport, FileRole, validation_share_error
from controller.preflight.limits import DatasetLimits


@dataclass(frozen=True)
class Unreadable:
    """A file the preflight could not read: missing, or the identity may not read it."""

    uri: str
    role: FileRole
    reason: Reason
    message: str


def summarize(
    reports: list[FileReport | Unreadable],
    *,
    mode: PreflightMode,
    strict: bool,
    epochs: int | None,
    digest: str,
    checked: str,
    max_problems: int,
    limits: DatasetLimits,
) -> JsonObject:
    read = [r for r in reports if isinstance(r, FileReport)]
    unreadable = [r for r in reports if isinstance(r, Unreadable)]
    training = next((r for r in read if r.role is FileRole.TRAINING), None)
    validation = next((r for r in read if r.role is FileRole.VALIDATION), None)
    # Problems of a file alone come from its (cached) report; one across both files is found here.
    across = [e for e in [validation_share_error(training, validation, limits)] if e]
    problems = [f"error: {message}" for message in [*(u.message for u in unreadable), *across]]
    for report in read:
        problems.extend(report.problems)
    errors = len(unreadable) + len(across) + sum(r.errors for r in read)
    warnings = sum(r.warnings for r in read)
    largest = max(read, key=lambda r: r.largest_tokens, default=None)

    status: JsonObject = {
        "mode": mode.value,
        "strict": strict or None,
        "checkedTime": checked,
        "inputsDigest": digest,
        "files": [_file(r) for r in read] or None,
        "trainingExampleCount": training.examples if training else None,
        "validationExampleCount": validation.examples if validation else None,
        "estimatedTrainingTokens": training.tokens if training else None,
        "epochCount": epochs,
        "estimatedBillableTokens": training.tokens * epochs if training and epochs else None,
        "largestExample": (
            {"uri": largest.uri, "line": largest.largest_line, "estimatedTokens": largest.largest_tokens}
            if largest is not None and largest.largest_line
            else None
        ),
        "errorCount": errors,
        "warningCount": warnings,
        "problems": problems[:max_problems] or None,
    }
    if errors:
        firsts = [u.message for u in unreadable] + across + [r.first_error for r in read if r.first_error]
        first = firsts[0] if firsts else ""
        status["result"] = "Failed"
        status["reason"] = unreadable[0].reason.value if unreadable else Reason.INVALID_DATASET.value
        status["message"] = (
            f"the dataset has {errors} error{'s' if errors != 1 else ''}"
            + (f" and {warnings} warning{'s' if warnings != 1 else ''}" if warnings else "")
            + f"; first: {first}"
        )
    else:
        status["result"] = "PassedWithWarnings" if warnings else "Passed"
        found = f"{training.examples if training else 0} training examples"
        if validation is not None:
            found += f" and {validation.examples} validation examples"
        tokens = f"about {training.tokens if training else 0} tokens"
        if status["estimatedBillableTokens"] is not None:
            tokens += f" ({status['estimatedBillableTokens']} billable over {epochs} epochs)"
        status["message"] = f"{found}, {tokens}" + (
            f"; {warnings} warning{'s' if warnings != 1 else ''}, first: "
            + problems[0].removeprefix("warning: ")
            if warnings
            else ""
        )
    return {key: value for key, value in status.items() if value is not None}


def _file(report: FileReport) -> JsonObject:
    return {
        "uri": report.uri,
        "role": report.role.value,
        "generation": report.generation,
        "size": report.size,
        "exampleCount": report.examples,
        "estimatedTokens": report.tokens,
        "errorCount": report.errors,
        "warningCount": report.warnings,
    }
