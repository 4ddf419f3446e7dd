"""The `vertexops` command line: one entry point, one subcommand per job.

Subcommands import their module only when chosen, so `vertexops crds` does not pay for the operator's
imports and a broken optional piece cannot stop the others from starting.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

# subcommand -> (module, help). Each module exposes `add_arguments(parser)` and `run(args) -> int`.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("controller.manager_cli", "run the operator against a cluster (in-cluster or a kubeconfig)"),
    "dev": ("controller.dev", "local control plane + emulator + operator + samples, with live progress"),
    "crds": ("controller.crdgen", "write the CustomResourceDefinitions generated from the models"),
    "docs": ("controller.docgen", "write the field, condition and configuration reference pages"),
    "emulator": ("emulator.cli", "serve the fake Vertex AI and Gemini API on loopback"),
    "tools": ("controller.testenv.tools", "install or locate kube-apiserver, etcd, kubectl and helm"),
    "prompt": ("controller.console.prompt", "ask a tuned model (a chat without TEXT), answers streamed"),
    "watch": ("controller.console.watch", "a job's state, progress and training curves, live"),
    "compare": (
        "controller.console.compare",
        "test prompts sent to the base and the tuned model, side by side",
    ),
}
# Commands whose positionals may come after options (`prompt tj/x -n ns "text"`, as kubectl users type).
INTERMIXED = frozenset({"prompt", "watch", "compare"})


def main(argv: Sequence[str] | None = None, prog: str = "vertexops") -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = args_list[0] if args_list else None
    chosen_parser: argparse.ArgumentParser | None = None
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_run=module.run)
            chosen_parser = sub_parser
    if chosen in INTERMIXED and chosen_parser is not None:
        args = chosen_parser.parse_intermixed_args(args_list[1:])
    else:
        args = parser.parse_args(args_list)
    run: Callable[[argparse.Namespace], int] = args._run
    return run(args)


def kubectl_plugin() -> int:
    """`kubectl vertexops ...`: kubectl finds `kubectl-vertexops` on PATH and passes every argument on."""
    return main(prog="kubectl vertexops")


if __name__ == "__main__":
    sys.exit(main())
