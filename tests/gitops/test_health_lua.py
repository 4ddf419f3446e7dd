"""The Argo CD health checks, run by a real Lua 5.1 in the sandbox Argo CD gives custom checks.

Argo CD runs a health.lua from argocd-cm with the base library and little else: no `string`, `math`, `os`
or `io`. Here each script runs in a fresh environment holding only the safe base functions, with the
string metatable removed too, so a script that leans on a library fails here as it would in Argo CD.
tools/gitops runs the same cases again in gopher-lua, the Lua that Argo CD embeds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

# A hard import: the Lua 5.1 runtime comes from the dev extra (lupa); if it is missing these checks must fail
# loudly, not be skipped.
from lupa import lua51 as lupa

from controller.api.tunedmodel import TunedModel
from controller.api.tuningjob import TuningJob

HEALTH = Path(__file__).resolve().parents[2] / "manifests" / "argocd" / "health" / "tuning.vertexops.dev"
KINDS = ("TuningJob", "TunedModel")
MODELS: dict[str, Any] = {"TuningJob": TuningJob, "TunedModel": TunedModel}

SAFE_BASE_FUNCTIONS = (
    "assert",
    "error",
    "ipairs",
    "next",
    "pairs",
    "pcall",
    "select",
    "tonumber",
    "tostring",
    "type",
    "unpack",
    "xpcall",
)

_RUNNER = """
function(source, obj, names)
  local env = {}
  for _, name in ipairs(names) do env[name] = _G[name] end
  env.obj = obj
  local chunk, err = loadstring(source, "=health.lua")
  if chunk == nil then error(err) end
  setfenv(chunk, env)
  return chunk()
end
"""


def run_health(source: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Run one health script on one object in a fresh restricted runtime; return its table as a dict."""
    runtime = lupa.LuaRuntime(register_eval=False, register_builtins=False)
    runtime.execute('debug.setmetatable("", nil)')  # no ("x"):find(...) through the string metatable
    runner = runtime.eval(_RUNNER)
    table = runtime.table_from(obj, recursive=True)
    names = runtime.table_from(list(SAFE_BASE_FUNCTIONS))
    result = runner(source, table, names)
    return {str(k): v for k, v in dict(result).items()}


def cases() -> list[Any]:
    params = []
    for kind in KINDS:
        spec = yaml.safe_load((HEALTH / kind / "health_test.yaml").read_text())
        for case in spec["tests"]:
            params.append(pytest.param(kind, case, id=f"{kind}/{Path(case['inputPath']).stem}"))
    return params


@pytest.mark.parametrize(("kind", "case"), cases())
def test_health_matches_the_expectation(kind: str, case: dict[str, Any]) -> None:
    source = (HEALTH / kind / "health.lua").read_text()
    obj = yaml.safe_load((HEALTH / kind / case["inputPath"]).read_text())
    assert run_health(source, obj) == case["healthStatus"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_testdata_file_has_an_expectation(kind: str) -> None:
    spec = yaml.safe_load((HEALTH / kind / "health_test.yaml").read_text())
    listed = {case["inputPath"] for case in spec["tests"]}
    present = {f"testdata/{p.name}" for p in (HEALTH / kind / "testdata").glob("*.yaml")}
    assert listed == present
    statuses = {case["healthStatus"]["status"] for case in spec["tests"]}
    assert statuses == {"Healthy", "Progressing", "Degraded"}


@pytest.mark.parametrize("kind", KINDS)
def test_testdata_objects_match_the_current_schema(kind: str) -> None:
    """Recorded objects that no longer fit the models mean the status changed: record them again."""
    for path in sorted((HEALTH / kind / "testdata").glob("*.yaml")):
        obj = yaml.safe_load(path.read_text())
        assert obj["kind"] == kind, path.name
        MODELS[kind].model_validate(obj)


def test_both_kinds_share_one_script() -> None:
    scripts = {(HEALTH / kind / "health.lua").read_text() for kind in KINDS}
    assert len(scripts) == 1


@pytest.mark.parametrize(
    "script",
    [
        'return {status = string.upper("healthy")}',
        'return {status = ("healthy"):upper()}',
        "return {status = tostring(math.floor(1.5))}",
        'return {status = os.getenv("HOME")}',
        'return {status = io.read("*l")}',
        'return {status = require("os").time()}',
    ],
)
def test_the_sandbox_refuses_libraries(script: str) -> None:
    with pytest.raises(lupa.LuaError):
        run_health(script, {"metadata": {"name": "x"}})
