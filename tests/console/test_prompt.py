"""`vertexops prompt`: streamed answers, the chat's history, the flags, and the errors a user meets."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

from console_support import API_KEY, Console, sample
from kubernetes import client as k8s

from emulator.generation import answer_words


def _expected(label: str, prompt: str) -> str:
    return " ".join(answer_words(label, prompt))


def test_streamed_chunks_are_printed_in_order_as_they_arrive(console: Console) -> None:
    """The first chunk is on the user's screen before the emulator has even sent the last one."""
    prompt = "How do I reset my password on the new portal?"
    proc = subprocess.Popen(
        console.argv("prompt", "tj/support-assistant", prompt),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=console.env(),
    )
    assert proc.stdout is not None
    received: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 5)
        if not ready:
            continue
        data = os.read(proc.stdout.fileno(), 65536)
        if not data:
            break
        received.append((time.time(), data))
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""

    [record] = [
        r
        for r in console.emulator.state.generations.records("endpoints.streamGenerateContent")
        if r.body["contents"][-1]["parts"][0]["text"] == prompt
    ]
    assert len(record.chunk_texts) >= 3, "the answer should come in several chunks"
    printed = b"".join(data for _, data in received).decode()
    assert printed == "".join(record.chunk_texts) + "\n", "chunks printed out of order or altered"
    assert printed.strip() == _expected("support-assistant-v1", prompt)
    first_seen, first_data = received[0]
    assert first_data.decode().startswith(record.chunk_texts[0])
    assert first_seen < record.chunk_times[-1], "the first chunk was printed only after the last was sent"


def test_chat_sends_the_earlier_turns_with_each_prompt(console: Console) -> None:
    before = len(console.emulator.state.generations.records("tunedModels.streamGenerateContent"))
    result = console.run("prompt", "tunedmodel/product-one-liners", stdin="Kayak paddle\nWool beanie\n")
    assert result.returncode == 0, result.stderr
    first, second = (
        _expected("Product one-liners", "Kayak paddle"),
        _expected("Product one-liners", "Wool beanie"),
    )
    assert result.stdout == f"> Kayak paddle\n{first}\n> Wool beanie\n{second}\n"
    records = console.emulator.state.generations.records("tunedModels.streamGenerateContent")[before:]
    assert [r.contents for r in records] == [
        [{"role": "user", "parts": [{"text": "Kayak paddle"}]}],
        [
            {"role": "user", "parts": [{"text": "Kayak paddle"}]},
            {"role": "model", "parts": [{"text": first}]},
            {"role": "user", "parts": [{"text": "Wool beanie"}]},
        ],
    ]


def test_generation_flags_system_instruction_and_checkpoint(console: Console) -> None:
    job = console.get("tuningjobs", "support-assistant")
    checkpoints = job["status"]["tunedModel"]["checkpoints"]
    with_endpoint = next(c for c in checkpoints if c.get("endpoint"))
    result = console.run(
        "prompt",
        "tj/support-assistant",
        "one two three four five six",
        "--temperature=0.3",
        "--top-p=0.9",
        "--top-k=20",
        "--max-output-tokens=4",
        "--system=Answer briefly.",
        f"--checkpoint={with_endpoint['checkpointId']}",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "[support-assistant-v1] six five four\n"
    assert "(the answer stopped early: MAX_TOKENS)" in result.stderr
    record = console.emulator.state.generations.records("endpoints.streamGenerateContent")[-1]
    assert record.model == with_endpoint["endpoint"]
    assert record.body["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "topK": 20,
        "maxOutputTokens": 4,
    }
    assert record.body["systemInstruction"] == {"parts": [{"text": "Answer briefly."}]}

    without = [c for c in checkpoints if not c.get("endpoint")]
    if without:
        result = console.run(
            "prompt", "tj/support-assistant", "hi", f"--checkpoint={without[0]['checkpointId']}"
        )
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1 and "has no endpoint of its own" in result.stderr


def test_tuned_model_is_asked_with_the_api_key_from_its_secret(console: Console) -> None:
    """The Secret's key is what reaches Google: a wrong key there gives Google's answer to a wrong key."""
    ok = console.run("prompt", "tm/product-one-liners", "Desk lamp")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == _expected("Product one-liners", "Desk lamp") + "\n"
    core = k8s.CoreV1Api(console.api)
    core.patch_namespaced_secret("gemini-key", console.namespace, {"stringData": {"key": "not-the-key"}})
    try:
        bad = console.run("prompt", "tm/product-one-liners", "Desk lamp")
    finally:
        core.patch_namespaced_secret("gemini-key", console.namespace, {"stringData": {"key": API_KEY}})
    assert bad.returncode == 1
    assert bad.stderr.count("\n") == 1
    assert "API key not valid" in bad.stderr
    assert "not-the-key" not in bad.stderr


def test_errors_are_one_clear_line_and_a_non_zero_exit(console: Console) -> None:
    unknown = console.run("prompt", "tj/no-such-job", "hi")
    assert (unknown.returncode, unknown.stdout) == (1, "")
    assert unknown.stderr == f'error: tuningjob "no-such-job" not found in namespace {console.namespace}\n'

    wrong_kind = console.run("prompt", "pod/x", "hi")
    assert wrong_kind.returncode == 1
    assert wrong_kind.stderr.startswith("error: resource 'pod/x' must be tj/NAME")

    # A TuningJob in a namespace no operator watches never gets a status: it is not Ready.
    idle = f"{console.namespace}-idle"
    k8s.CoreV1Api(console.api).create_namespace({"metadata": {"name": idle}})
    console.create("tuningjobs", sample("tuningjob.yaml"), namespace=idle)
    not_ready = console.run("prompt", "tj/support-assistant", "hi", namespace=idle)
    assert not_ready.returncode == 1
    assert not_ready.stderr.count("\n") == 1
    assert (
        f"tuningjob/support-assistant in namespace {idle} is not Ready yet (no state yet)" in not_ready.stderr
    )
    k8s.CoreV1Api(console.api).delete_namespace(idle)

    rule = console.emulator.add_fault("permission_denied", "endpoints.streamGenerateContent", times=1)
    try:
        denied = console.run("prompt", "tj/support-assistant", "hi")
    finally:
        console.emulator.remove_fault(rule.id)
    assert (denied.returncode, denied.stdout) == (1, "")
    assert denied.stderr.count("\n") == 1
    assert "Permission 'aiplatform.endpoints.predict' denied" in denied.stderr


def test_without_google_credentials_the_error_says_how_to_get_them(console: Console, tmp_path: Path) -> None:
    """Aimed at Google (no emulator URL) with ADC pointing at a missing key file: nothing is sent."""
    env = {k: v for k, v in console.env().items() if not k.startswith("VERTEXOPS_")}
    env["GOOGLE_APPLICATION_CREDENTIALS"] = str(tmp_path / "missing.json")
    result = subprocess.run(
        console.argv("prompt", "tj/support-assistant", "hi"),
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: no Google credentials (")
    assert "gcloud auth application-default login" in result.stderr


def test_a_failed_job_is_refused_as_one_that_will_not_become_ready(console: Console) -> None:
    console.emulator.fail_jobs(at_fraction=0.5, times=1)
    job = sample("tuningjob.yaml")
    job["metadata"]["name"] = "doomed"
    for field in ("publish", "testPrompts"):
        job["spec"].pop(field)
    console.create("tuningjobs", job)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status = console.get("tuningjobs", "doomed").get("status") or {}
        if any(c["type"] == "Stalled" and c["status"] == "True" for c in status.get("conditions") or []):
            break
        time.sleep(0.3)
    result = console.run("prompt", "tj/doomed", "hi")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.count("\n") == 1
    assert "tuningjob/doomed in namespace" in result.stderr
    assert "is not Ready and will not be without a change (JOB_STATE_FAILED" in result.stderr
