"""`vertexops prompt RESOURCE [TEXT]`: ask a tuned model, the answer printed as it streams in.

Without TEXT it is a chat: every request carries the whole conversation so far (the API is stateless, so
the turns are kept here), until an empty line, `/exit` or end of input. `/reset` starts over.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from controller.console.google import Model, tuned_model
from controller.console.render import error_line
from controller.console.target import ConsoleError, add_target_arguments, load_target
from controller.google.errors import GoogleAPIError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser)
    parser.add_argument("text", nargs="?", metavar="TEXT", help="the prompt; without it, an interactive chat")
    add_generation_arguments(parser)
    parser.add_argument("--system", metavar="TEXT", help="a system instruction sent with every prompt")
    parser.add_argument(
        "--checkpoint", metavar="ID", help="ask this checkpoint's own endpoint (a TuningJob's checkpointId)"
    )


def add_generation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--temperature", type=float, help="sampling temperature (0 to 2)")
    parser.add_argument("--top-p", type=float, help="nucleus sampling cut-off (0 to 1)")
    parser.add_argument("--top-k", type=int, help="sample from the K most likely tokens")
    parser.add_argument("--max-output-tokens", type=int, help="upper bound on the answer's tokens")


def generation_config(args: argparse.Namespace) -> dict[str, Any] | None:
    """The flags given, as the API's `generationConfig` (None when none is given)."""
    config = {
        "temperature": args.temperature,
        "topP": args.top_p,
        "topK": args.top_k,
        "maxOutputTokens": args.max_output_tokens,
    }
    return {k: v for k, v in config.items() if v is not None} or None


def run(args: argparse.Namespace) -> int:
    out, err = sys.stdout, sys.stderr
    try:
        model = tuned_model(load_target(args), args, args.checkpoint)
        if args.text is not None:
            turns = [_user(args.text)]
            _answer(model, turns, args, out, err)
            return 0
        return _chat(model, args, sys.stdin, out, err)
    except (ConsoleError, GoogleAPIError) as error:
        error_line(str(error), err)
        return 1
    except KeyboardInterrupt:
        out.write("\n")
        return 130


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "parts": [{"text": text}]}


def _answer(
    model: Model, turns: list[dict[str, Any]], args: argparse.Namespace, out: TextIO, err: TextIO
) -> str:
    """Stream one answer to `out`, flushing each chunk; the whole text is returned for the next turn."""
    pieces: list[str] = []
    finish = None
    for chunk in model.stream(turns, generation_config(args), args.system):
        text = chunk.text
        if text:
            pieces.append(text)
            out.write(text)
            out.flush()
        if chunk.candidates and chunk.candidates[0].finish_reason:
            finish = chunk.candidates[0].finish_reason
        if chunk.prompt_feedback and chunk.prompt_feedback.block_reason:
            finish = f"blocked: {chunk.prompt_feedback.block_reason}"
    out.write("\n")
    out.flush()
    if finish and finish != "STOP":
        err.write(f"(the answer stopped early: {finish})\n")
    return "".join(pieces)


def _chat(model: Model, args: argparse.Namespace, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    interactive = stdin.isatty()
    if interactive:
        err.write(f"Chatting with {model.label}. An empty line, /exit or Ctrl-D ends; /reset forgets.\n")
    turns: list[dict[str, Any]] = []
    failed = False
    while True:
        try:
            line = input("> ") if interactive else stdin.readline()
        except EOFError:
            break
        if not interactive:
            if not line:
                break
            line = line.rstrip("\n")
            out.write(f"> {line}\n")
        text = line.strip()
        if not text or text in ("/exit", "/quit"):
            break
        if text == "/reset":
            turns = []
            err.write("(conversation forgotten)\n")
            continue
        turns.append(_user(text))
        try:
            answer = _answer(model, turns, args, out, err)
        except GoogleAPIError as error:
            out.write("\n")
            error_line(str(error), err)
            turns.pop()
            failed = True
            continue
        turns.append({"role": "model", "parts": [{"text": answer}]})
    return 1 if failed else 0
