"""`vertexops compare`: the base and the tuned model on the same prompts, for people and for CI."""

from __future__ import annotations

import json
from pathlib import Path

from console_support import Console

from emulator.generation import answer_words


def _answer(label: str, prompt: str) -> str:
    return " ".join(answer_words(label, prompt))


def test_compare_json_holds_both_answers_per_test_prompt(console: Console) -> None:
    result = console.run("compare", "tj/support-assistant", "--output", "json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    job = console.get("tuningjobs", "support-assistant")
    prompts = [p["prompt"] for p in job["spec"]["testPrompts"]]
    assert [r["prompt"] for r in report["results"]] == prompts
    for r in report["results"]:
        assert r["base"]["text"] == _answer("gemini-2.5-flash", r["prompt"])
        assert r["tuned"]["text"] == _answer("support-assistant-v1", r["prompt"])
        assert r["base"]["error"] is None and r["tuned"]["error"] is None
    assert report["results"][1]["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 256}
    assert report["tunedModel"] == job["status"]["tunedModel"]["endpoint"]
    assert report["baseModel"].endswith("/publishers/google/models/gemini-2.5-flash")
    assert report["summary"] == {
        "prompts": 2,
        "answeredByBoth": 2,
        "differ": 2,
        "errors": 0,
        "baseOutputTokens": sum(len(answer_words("gemini-2.5-flash", p)) for p in prompts),
        "tunedOutputTokens": sum(len(answer_words("support-assistant-v1", p)) for p in prompts),
    }
    base_calls = console.emulator.state.generations.records("publishers.models.generateContent")
    assert [r.contents[-1]["parts"][0]["text"] for r in base_calls[-2:]] == prompts


def test_compare_text_of_a_tuned_model_with_prompts_from_a_file(console: Console, tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Kayak paddle\n\nWool beanie\n")
    result = console.run("compare", "tunedmodel/product-one-liners", "--prompts", str(prompts))
    assert result.returncode == 0, result.stderr
    assert "Q1: Kayak paddle" in result.stdout and "Q2: Wool beanie" in result.stdout
    assert _answer("gemini-1.5-flash-001-tuning", "Kayak paddle") in result.stdout
    assert _answer("Product one-liners", "Kayak paddle") in result.stdout
    assert (
        result.stdout.rstrip()
        .splitlines()[-1]
        .startswith("2 prompts: 2 answered by both, 2 answered differently, 0 errors")
    )


def test_compare_reports_a_failing_model_and_exits_non_zero(console: Console) -> None:
    rule = console.emulator.add_fault("permission_denied", "publishers.models.generateContent")
    try:
        result = console.run("compare", "tj/support-assistant", "-o", "json")
    finally:
        console.emulator.remove_fault(rule.id)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["summary"]["errors"] == 2
    assert all("denied" in r["base"]["error"] and r["tuned"]["error"] is None for r in report["results"])
    assert len(result.stderr.splitlines()) == 2
