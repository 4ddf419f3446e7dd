"""`vertexops compare RESOURCE`: the same prompts to the base model and to the tuned model, side by side.

The prompts are the resource's `spec.testPrompts` (each with its own generationConfig), or those of a file:
one prompt per line, or a YAML/JSON list of strings or of `{prompt, generationConfig}`. `--output json`
gives CI one document with both answers per prompt and a summary; the exit code is non-zero when any call
failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any, TextIO

import yaml

from controller.console.google import Model, base_model, tuned_model
from controller.console.prompt import add_generation_arguments, generation_config
from controller.console.render import error_line, side_by_side
from controller.console.target import ConsoleError, Target, add_target_arguments, load_target
from controller.google.errors import GoogleAPIError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument(
        "-f",
        "--prompts",
        type=Path,
        metavar="FILE",
        help="prompts from this file (one per line, or a YAML/JSON list) instead of spec.testPrompts",
    )
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text", help="output format")
    add_generation_arguments(parser)
    parser.add_argument("--system", metavar="TEXT", help="a system instruction sent to both models")


def run(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        target = load_target(args)
        tuned = tuned_model(target, args)
        base = base_model(target, args)
        prompts = _prompts(target, args.prompts)
        overrides = generation_config(args) or {}
        results = []
        for prompt in prompts:
            config = {**(prompt.get("generationConfig") or {}), **overrides} or None
            contents = [{"role": "user", "parts": [{"text": prompt["prompt"]}]}]
            results.append(
                {
                    "prompt": prompt["prompt"],
                    "generationConfig": config,
                    "base": _ask(base, contents, config, args.system),
                    "tuned": _ask(tuned, contents, config, args.system),
                }
            )
    except (ConsoleError, GoogleAPIError) as error:
        error_line(str(error), err)
        return 1
    summary = _summary(results)
    report: dict[str, Any] = {
        "resource": {"kind": target.kind, "name": target.name, "namespace": target.namespace},
        "baseModel": base.resource,
        "tunedModel": tuned.resource,
        "results": results,
        "summary": summary,
    }
    if args.output == "json":
        out.write(json.dumps(report, indent=2) + "\n")
    else:
        _print_text(report, base, tuned, out)
    failed = summary["errors"]
    if failed:
        for result in results:
            for side in ("base", "tuned"):
                if result[side]["error"]:
                    error_line(f"{side} model on {result['prompt']!r}: {result[side]['error']}", err)
    return 1 if failed else 0


def _prompts(target: Target, path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        found = [p for p in target.spec.get("testPrompts") or [] if isinstance(p, dict) and p.get("prompt")]
        if not found:
            raise ConsoleError(f"{target.ref} has no spec.testPrompts; give prompts with --prompts FILE")
        return found
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConsoleError(f"cannot read {path}: {err.strerror}") from None
    if path.suffix in (".yaml", ".yml", ".json"):
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ConsoleError(f"{path} is not valid YAML/JSON: {err}") from None
        if not isinstance(loaded, list):
            raise ConsoleError(
                f"{path} must hold a list of prompts (strings or {{prompt, generationConfig}})"
            )
        prompts = []
        for index, item in enumerate(loaded):
            if isinstance(item, str) and item.strip():
                prompts.append({"prompt": item})
            elif isinstance(item, dict) and isinstance(item.get("prompt"), str):
                prompts.append(item)
            else:
                raise ConsoleError(f"{path}: item {index} must be a string or have a string 'prompt'")
        return prompts
    prompts = [{"prompt": line.strip()} for line in text.splitlines() if line.strip()]
    if not prompts:
        raise ConsoleError(f"{path} holds no prompts")
    return prompts


def _ask(
    model: Model, contents: list[dict[str, Any]], config: dict[str, Any] | None, system: str | None
) -> dict[str, Any]:
    try:
        answer = model.generate(contents, config, system)
    except GoogleAPIError as error:
        return {
            "text": None,
            "finishReason": None,
            "outputTokens": None,
            "error": " ".join(str(error).split()),
        }
    candidate = answer.candidates[0] if answer.candidates else None
    usage = answer.usage_metadata
    return {
        "text": answer.text,
        "finishReason": candidate.finish_reason if candidate else None,
        "outputTokens": usage.candidates_token_count if usage else None,
        "error": None,
    }


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    answered = [r for r in results if not r["base"]["error"] and not r["tuned"]["error"]]
    return {
        "prompts": len(results),
        "answeredByBoth": len(answered),
        "differ": sum(1 for r in answered if r["base"]["text"].strip() != r["tuned"]["text"].strip()),
        "errors": sum(1 for r in results for side in ("base", "tuned") if r[side]["error"]),
        "baseOutputTokens": sum(r["base"]["outputTokens"] or 0 for r in answered),
        "tunedOutputTokens": sum(r["tuned"]["outputTokens"] or 0 for r in answered),
    }


def summary_line(summary: dict[str, Any]) -> str:
    return (
        f"{summary['prompts']} prompts: {summary['answeredByBoth']} answered by both, "
        f"{summary['differ']} answered differently, {summary['errors']} errors; "
        f"output tokens base {summary['baseOutputTokens']}, tuned {summary['tunedOutputTokens']}"
    )


def _print_text(report: dict[str, Any], base: Model, tuned: Model, out: TextIO) -> None:
    width = max(24, min(60, (shutil.get_terminal_size((100, 24)).columns - 3) // 2))
    for index, result in enumerate(report["results"], 1):
        out.write(f"Q{index}: {result['prompt']}\n")
        left = (
            result["base"]["text"] if not result["base"]["error"] else f"(error: {result['base']['error']})"
        )
        right = (
            result["tuned"]["text"]
            if not result["tuned"]["error"]
            else f"(error: {result['tuned']['error']})"
        )
        for line in side_by_side(base.label, tuned.label, width):
            out.write(f"  {line}\n")
        for line in side_by_side("─" * width, "─" * width, width, gap="─┼─"):
            out.write(f"  {line}\n")
        for line in side_by_side(left, right, width):
            out.write(f"  {line}\n")
        out.write("\n")
    out.write(summary_line(report["summary"]) + "\n")
