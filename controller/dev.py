"""`vertexops dev`: the whole product on one machine, with no Google account and no cluster.

It starts a local Kubernetes control plane (etcd + kube-apiserver), installs the CRDs, starts the Google API
emulator and the operator (as its own process, under a ServiceAccount with only the operator's rights),
applies the sample resources, and shows their progress until Ctrl-C; then it stops everything it started
and removes its temporary files.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib import resources as package_files
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import yaml
from kubernetes import client as k8s

from controller.api.resource import GROUP, VERSION
from controller.crdgen import install_crds
from controller.testenv.controlplane import ControlPlane, ControlPlaneError
from controller.testenv.operator import OperatorProcess, grant_operator_rights
from controller.testenv.tools import resolve_tools
from emulator.config import EmulatorConfig
from emulator.server import Emulator

DEMO_NAMESPACE = "vertexops-demo"
PLURALS = {"TuningJob": "tuningjobs", "TunedModel": "tunedmodels"}
SAMPLE_FILES = ("tuningjob.yaml", "tunedmodel.yaml")
# The sample TuningJob's datasets, put in the emulator's Cloud Storage so the demo runs the preflight.
SAMPLE_DATASETS = {
    ("vertexops-demo", "support/train.jsonl"): "support-train.jsonl",
    ("vertexops-demo", "support/validation.jsonl"): "support-validation.jsonl",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-scale",
        type=float,
        default=30.0,
        help="emulated seconds per real second (default 30: a 30-minute tuning job takes a minute)",
    )
    parser.add_argument(
        "--sample",
        action="append",
        type=Path,
        default=[],
        metavar="FILE",
        help="apply this manifest instead of the built-in samples (repeatable)",
    )
    parser.add_argument("--no-samples", action="store_true", help="start everything but apply nothing")
    parser.add_argument(
        "--fail",
        action="store_true",
        help="make the emulator fail every tuning job halfway, to see how failures look",
    )
    parser.add_argument(
        "--exit-when-done",
        action="store_true",
        help="stop once every sample is Ready or Stalled (exit 0 if all are Ready) instead of at Ctrl-C",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="with --exit-when-done: give up after this many seconds"
    )
    parser.add_argument(
        "--node",
        action="store_true",
        help="run the operator as Pods of the Helm chart on a real local node (needs root; slower to start)",
    )


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    out = sys.stdout
    try:
        with (
            tempfile.TemporaryDirectory(prefix="vertexops-dev-") as workdir,
            _environment(args, Path(workdir)) as env,
        ):
            documents = [] if args.no_samples else _samples(args.sample)
            _apply(env.control_plane, documents)
            _print_instructions(out, env, documents)
            if not documents and args.exit_when_done:
                return 0
            return _watch(out, env, documents, stop, args)
    except ControlPlaneError as err:  # a component that would not start, a chart that would not install
        _say(f"error: {err}")
        return 1


class _Environment:
    def __init__(self, control_plane: ControlPlane, emulator: Emulator, where: str) -> None:
        self.control_plane = control_plane
        self.emulator = emulator
        self.where = where  # one line: where the operator's log, the emulator and the metrics are


def _emulator_config(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        time_scale=args.time_scale,
        pending_seconds=30,
        step_seconds=20,
        total_steps=60,
        gemini_step_seconds=10,
    )


@contextlib.contextmanager
def _environment(args: argparse.Namespace, workdir: Path) -> Iterator[_Environment]:
    if args.node:
        from controller.devnode import node_cluster  # noqa: PLC0415 - only --node needs the node harness

        with node_cluster(_emulator_config(args), DEMO_NAMESPACE, "vertexops-demo", _say) as (
            node,
            emu,
            where,
        ):
            if args.fail:
                emu.fail_jobs(at_fraction=0.5)
            upload_sample_datasets(emu)
            yield _Environment(node.control_plane, emu, where)
            _say("stopping the node, the emulator and the control plane")
        return
    _say("starting the local control plane (etcd + kube-apiserver)")
    tools = resolve_tools(install=True)
    with ControlPlane(tools=tools) as control_plane:
        install_crds(control_plane.kubectl)
        control_plane.kubectl("create", "namespace", DEMO_NAMESPACE)
        config = _emulator_config(args)
        _say(f"starting the Google API emulator (time scale {args.time_scale:g})")
        with Emulator(config) as emulator:
            if args.fail:
                emulator.fail_jobs(at_fraction=0.5)
            upload_sample_datasets(emulator)
            _say("starting the operator under its own ServiceAccount")
            operator = OperatorProcess(
                grant_operator_rights(control_plane),
                emulator.url,
                workdir / "operator.log",
                project="vertexops-demo",
                namespaces=[DEMO_NAMESPACE],
                preflight_default=None,  # the operator's own default: the sample's datasets are checked
                extra_args=[
                    "--poll-min-seconds=1",
                    "--poll-max-seconds=3",
                    "--metrics-interval-seconds=2",
                    "--metrics-status-seconds=2",  # the demo's jobs take minutes: show every reading
                ],
            ).start()
            where = (
                f"Operator log: {operator.log_path}   Emulator: {emulator.url}   "
                f"Metrics: http://127.0.0.1:{operator.http_port}/metrics"
            )
            try:
                yield _Environment(control_plane, emulator, where)
            finally:
                _say("stopping the operator, the emulator and the control plane")
                operator.stop()


def upload_sample_datasets(emulator: Emulator) -> None:
    """Put the sample TuningJob's training and validation files in the emulator's Cloud Storage."""
    _say("putting the sample datasets in the emulator's Cloud Storage (gs://vertexops-demo/support/)")
    samples = package_files.files("controller.samples")
    for (bucket, name), file in SAMPLE_DATASETS.items():
        emulator.put_object(bucket, name, samples.joinpath(file).read_bytes())


def _samples(files: list[Path]) -> list[dict[str, Any]]:
    texts = (
        [f.read_text() for f in files]
        if files
        else [package_files.files("controller.samples").joinpath(name).read_text() for name in SAMPLE_FILES]
    )
    return [doc for text in texts for doc in yaml.safe_load_all(text) if doc]


def _apply(control_plane: ControlPlane, documents: list[dict[str, Any]]) -> None:
    if documents:
        text = "".join("---\n" + yaml.safe_dump(doc) for doc in documents)
        control_plane.kubectl("apply", "-n", DEMO_NAMESPACE, "-f", "-", input=text)


def _print_instructions(out: TextIO, env: _Environment, documents: list[dict[str, Any]]) -> None:
    kubectl = env.control_plane.tools.kubectl
    kubeconfig = env.control_plane.kubeconfig
    names = [d["metadata"]["name"] for d in documents if d.get("kind") == "TuningJob"]
    name = names[0] if names else "NAME"
    vertexops = Path(sys.executable).parent / "vertexops"
    out.write(
        f"""
Everything is running. From another terminal:

  export KUBECONFIG={kubeconfig}
  alias kubectl={kubectl}
  kubectl get tj -n {DEMO_NAMESPACE} -w
  kubectl describe tuningjob/{name} -n {DEMO_NAMESPACE}
  kubectl wait --for=condition=Ready tuningjob/{name} -n {DEMO_NAMESPACE} --timeout=10m

The console (the commands call the emulator instead of Google once these are set):

  export VERTEXOPS_VERTEX_BASE_URL={env.emulator.url} VERTEXOPS_GEMINI_BASE_URL={env.emulator.url}
  {vertexops} watch tj/{name} -n {DEMO_NAMESPACE}
  {vertexops} prompt tj/{name} -n {DEMO_NAMESPACE} "How do I reset my password?"
  {vertexops} compare tj/{name} -n {DEMO_NAMESPACE}

{env.where}
Press Ctrl-C to stop everything.

"""
    )
    out.flush()


def _watch(
    out: TextIO,
    env: _Environment,
    documents: list[dict[str, Any]],
    stop: threading.Event,
    args: argparse.Namespace,
) -> int:
    targets = [(d["kind"], d["metadata"]["name"]) for d in documents if d.get("kind") in PLURALS]
    tty = out.isatty()
    last_table = ""
    reported: set[tuple[str, str]] = set()
    deadline = time.monotonic() + args.timeout
    with env.control_plane.api_client() as api:
        custom = k8s.CustomObjectsApi(api)
        while not stop.is_set():
            objects = [_read(custom, kind, name) for kind, name in targets]
            table = _table(targets, objects)
            if table != last_table:
                if tty and last_table:
                    out.write(f"\x1b[{last_table.count(chr(10))}F\x1b[J")
                out.write(table)
                out.flush()
                last_table = table
            for (kind, name), obj in zip(targets, objects, strict=True):
                if obj is not None and (kind, name) not in reported and _finished(obj):
                    reported.add((kind, name))
                    out.write(_result(kind, name, obj))
                    out.flush()
                    last_table = ""
            if args.exit_when_done and targets and len(reported) == len(targets):
                ready = all(_condition(obj, "Ready") == "True" for obj in objects if obj is not None)
                return 0 if ready else 1
            if args.exit_when_done and time.monotonic() > deadline:
                out.write(f"timed out after {args.timeout:g}s\n")
                return 1
            stop.wait(1.0)
    return 0


def _read(custom: k8s.CustomObjectsApi, kind: str, name: str) -> dict[str, Any] | None:
    try:
        obj: dict[str, Any] = custom.get_namespaced_custom_object(
            GROUP, VERSION, DEMO_NAMESPACE, PLURALS[kind], name
        )
        return obj
    except k8s.ApiException:
        return None


def _condition(obj: dict[str, Any], type_: str) -> str | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get("status"))
    return None


def _finished(obj: dict[str, Any]) -> bool:
    return _condition(obj, "Ready") == "True" or _condition(obj, "Stalled") == "True"


def _bar(percent: float, width: int = 20) -> str:
    filled = round(width * max(0.0, min(100.0, percent)) / 100)
    return "#" * filled + "." * (width - filled)


def _table(targets: list[tuple[str, str]], objects: list[dict[str, Any] | None]) -> str:
    rows = [("KIND", "NAME", "STATE", "PROGRESS", "LOSS", "READY")]
    for (kind, name), obj in zip(targets, objects, strict=True):
        status = (obj or {}).get("status") or {}
        progress = str(status.get("progress") or "")
        percent = float(progress.rstrip("%")) if progress.endswith("%") else 0.0
        if "completedPercent" in status:
            percent = float(status["completedPercent"])
        loss = (status.get("latestMetrics") or {}).get("trainTotalLoss")
        snapshots = status.get("snapshots") or []
        if loss is None and snapshots:
            loss = snapshots[-1].get("meanLoss")
        rows.append(
            (
                kind,
                name,
                str(status.get("state") or "-"),
                f"[{_bar(percent)}] {percent:3.0f}%",
                f"{loss:.3f}" if isinstance(loss, int | float) else "-",
                _condition(obj or {}, "Ready") or "-",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows
    )


def _result(kind: str, name: str, obj: dict[str, Any]) -> str:
    status = obj.get("status") or {}
    lines = [f"\n{kind} {name}:"]
    if _condition(obj, "Ready") == "True":
        tuned = status.get("tunedModel") or {}
        lines.append(f"  tuned model: {tuned.get('model') or status.get('name')}")
        if tuned.get("endpoint"):
            lines.append(f"  endpoint:    {tuned['endpoint']}")
        for result in status.get("testPromptResults") or []:
            answer = result.get("responseText") or f"(error: {result.get('error')})"
            lines.append(f"  Q: {result.get('prompt')}\n  A: {answer}")
    else:
        for c in status.get("conditions") or []:
            if c.get("type") == "Stalled":
                lines.append(f"  stalled ({c.get('reason')}): {c.get('message')}")
    return "\n".join(lines) + "\n\n"


def _say(text: str) -> None:
    print(f"vertexops dev: {text}", file=sys.stderr, flush=True)


if os.name != "posix":  # pragma: no cover
    raise SystemExit("vertexops dev needs Linux (it runs etcd and kube-apiserver as local processes)")
