"""Write the files that are derived from other files, or with `--check` fail when a committed one is stale.

What it writes, and from what:

| output | source |
|---|---|
| `charts/vertexops/crds/*.yaml` | `crds/` (written by `vertexops crds`), copied byte for byte |
| `charts/vertexops/dashboards/vertexops.json` | the panels below (a test scrapes each metric) |
| `docs/metrics.md` | `controller.runtime.metrics.METRICS` |
| `charts/vertexops/templates/tenancy-admission-policy.yaml` | `controller.tenancy.admission` |
| `manifests/install.yaml` | `helm template` of the chart with default values, behind its Namespace |
| `manifests/argocd/argocd-cm-health.yaml` | `manifests/argocd/health/*/*/health.lua` |
| the argocd-cm snippet in `docs/gitops.md` | the same, between its BEGIN and END markers |

Run it from the repository root: `.venv/bin/python manifests/generate.py [--check]`. It needs Helm, which
`tools/install-tools.sh` installs (`vertexops tools --print` shows where).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from controller.runtime.metrics import catalogue_markdown
from controller.testenv.tools import resolve_tools

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "vertexops"
CRDS = ROOT / "crds"
DASHBOARD = CHART / "dashboards" / "vertexops.json"
METRICS_DOC = ROOT / "docs" / "metrics.md"
INSTALL = ROOT / "manifests" / "install.yaml"
HEALTH = ROOT / "manifests" / "argocd" / "health" / "tuning.vertexops.dev"
ARGOCD_CM = ROOT / "manifests" / "argocd" / "argocd-cm-health.yaml"
GITOPS_DOC = ROOT / "docs" / "gitops.md"
KINDS = ("TuningJob", "TunedModel")

RELEASE = "vertexops"
NAMESPACE = "vertexops-system"

Outputs = dict[Path, str]


# -- CRDs ----------------------------------------------------------------------------------------------------


def chart_crds() -> Outputs:
    """Helm installs what is in the chart's crds/ folder; keep it the same as the generated CRDs."""
    return {CHART / "crds" / source.name: source.read_text() for source in sorted(CRDS.glob("*.yaml"))}


# -- dashboard -----------------------------------------------------------------------------------------------

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
NAMESPACE_FILTER = 'namespace=~"$namespace"'


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend, "refId": ref}


def _panel(
    title: str,
    description: str,
    targets: list[tuple[str, str]],
    grid: tuple[int, int, int, int],
    *,
    unit: str = "short",
    stacked: bool = False,
) -> dict[str, Any]:
    x, y, w, h = grid
    custom: dict[str, Any] = {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}
    if stacked:
        custom.update({"stacking": {"mode": "normal", "group": "A"}, "fillOpacity": 60})
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit, "custom": custom}, "overrides": []},
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
        "targets": [_target(expr, legend, chr(ord("A") + i)) for i, (expr, legend) in enumerate(targets)],
    }


def _quantiles(metric: str, by: str) -> list[tuple[str, str]]:
    return [
        (
            f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket[$__rate_interval])))",
            f"p{round(q * 100)} {{{{{by}}}}}",
        )
        for q in (0.5, 0.9, 0.99)
    ]


def dashboard() -> dict[str, Any]:
    """The operator's Grafana dashboard: what the jobs do, how training goes, how the operator fares."""
    panels = [
        _panel(
            "Jobs by state",
            "TuningJobs and TunedModels by their last observed job state.",
            [("sum by (kind, state) (vertexops_jobs)", "{{kind}} {{state}}")],
            (0, 0, 12, 8),
            stacked=True,
        ),
        _panel(
            "Leader",
            "1 on the replica that holds the leader Lease and reconciles.",
            [("max by (instance) (vertexops_leader_election_leading)", "{{instance}}")],
            (12, 0, 12, 8),
        ),
        _panel(
            "Training loss",
            "Latest training loss of each tuning job, as Vertex AI reports it.",
            [
                (
                    f"max by (kind, namespace, name) (vertexops_tuning_train_loss{{{NAMESPACE_FILTER}}})",
                    "{{namespace}}/{{name}}",
                )
            ],
            (0, 8, 12, 9),
        ),
        _panel(
            "Validation loss",
            "Latest validation loss of each tuning job that has validation data.",
            [
                (
                    "max by (kind, namespace, name) "
                    f"(vertexops_tuning_validation_loss{{{NAMESPACE_FILTER}}})",
                    "{{namespace}}/{{name}}",
                )
            ],
            (12, 8, 12, 9),
        ),
        _panel(
            "Google API calls by code",
            "Calls per second to the Vertex AI and Gemini APIs, by HTTP status code.",
            [
                (
                    "sum by (api, code) (rate(vertexops_google_api_requests_total[$__rate_interval]))",
                    "{{api}} {{code}}",
                )
            ],
            (0, 17, 12, 8),
            unit="reqps",
            stacked=True,
        ),
        _panel(
            "Google API errors",
            'Failed calls per second by method and code; "error" means no answer arrived.',
            [
                (
                    "sum by (api, method, code) "
                    '(rate(vertexops_google_api_requests_total{code!~"2.."}[$__rate_interval]))',
                    "{{api}} {{method}} {{code}}",
                )
            ],
            (12, 17, 12, 8),
            unit="reqps",
        ),
        _panel(
            "Reconcile latency",
            "Quantiles of the time one reconcile takes, by kind.",
            _quantiles("vertexops_reconcile_duration_seconds", "kind"),
            (0, 25, 12, 8),
            unit="s",
        ),
        _panel(
            "Reconciles by result",
            "Reconciles per second: success, error (retried with backoff) or requeue (polling a job).",
            [
                (
                    "sum by (kind, result) (rate(vertexops_reconcile_total[$__rate_interval]))",
                    "{{kind}} {{result}}",
                )
            ],
            (12, 25, 12, 8),
            unit="ops",
        ),
        _panel(
            "Work queue depth",
            "Keys waiting for a worker; a depth that keeps growing means the workers cannot keep up.",
            [("max by (name) (vertexops_workqueue_depth)", "{{name}}")],
            (0, 33, 12, 8),
        ),
        _panel(
            "Longest running reconcile",
            "How long the oldest reconcile in progress has run; a line that only climbs is a stuck one.",
            [("max by (name) (vertexops_workqueue_longest_running_processor_seconds)", "{{name}}")],
            (12, 33, 12, 8),
            unit="s",
        ),
        _panel(
            "Google API latency",
            "Quantiles of the latency of calls to Google, by API.",
            _quantiles("vertexops_google_api_request_duration_seconds", "api"),
            (0, 41, 24, 8),
            unit="s",
        ),
    ]
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return {
        "title": "vertexops",
        "uid": "vertexops",
        "description": "Gemini tuning jobs run by the vertexops operator, and the operator's own health.",
        "tags": ["vertexops", "gemini", "kubernetes"],
        "editable": True,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "1m",
        "time": {"from": "now-6h", "to": "now"},
        "timezone": "",
        "graphTooltip": 1,
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                    "hide": 0,
                },
                {
                    "name": "namespace",
                    "label": "Namespace",
                    "type": "query",
                    "datasource": DATASOURCE,
                    "query": {
                        "query": "label_values(vertexops_tuning_train_loss, namespace)",
                        "refId": "namespace",
                    },
                    "definition": "label_values(vertexops_tuning_train_loss, namespace)",
                    "includeAll": True,
                    "multi": True,
                    "allValue": ".*",
                    "current": {"text": "All", "value": "$__all"},
                    "refresh": 2,
                    "hide": 0,
                },
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def dashboard_output() -> Outputs:
    return {DASHBOARD: json.dumps(dashboard(), indent=2) + "\n"}


# -- metrics reference ---------------------------------------------------------------------------------------


def metrics_doc() -> Outputs:
    lines = [
        "# Metrics",
        "",
        "<!-- Generated by manifests/generate.py from controller/runtime/metrics.py; do not edit. -->",
        "",
        "The operator serves Prometheus metrics on its HTTP port (8080 in the chart) at `/metrics`, beside",
        "`/healthz` and `/readyz`. The chart's metrics Service exposes that port, and",
        "`serviceMonitor.enabled` adds a ServiceMonitor for the Prometheus Operator. The chart also ships a",
        "Grafana dashboard",
        '(`dashboard.enabled`, on by default) as a ConfigMap labelled `grafana_dashboard: "1"`.',
        "",
        "Per-resource series (job state, losses) are removed when the resource is deleted. Only the leader",
        "reconciles, so reconcile, queue and Google API series move on one replica at a time;",
        "`vertexops_leader_election_leading` says which.",
        "",
        *catalogue_markdown().splitlines(),
    ]
    lines += [
        "",
        "## Queries",
        "",
        "| question | PromQL |",
        "|---|---|",
        '| Which jobs are running now? | `vertexops_jobs{state="JOB_STATE_RUNNING"}` |',
        '| Is a job still learning? | `deriv(vertexops_tuning_train_loss{name="NAME"}[30m])` |',
        "| Are Google calls failing? | `sum by (code) (rate(vertexops_google_api_requests_total"
        '{code!~"2.."}[5m]))` |',
        "| How slow are reconciles? | `histogram_quantile(0.99, sum by (le) "
        "(rate(vertexops_reconcile_duration_seconds_bucket[5m])))` |",
        "| Is the operator keeping up? | `max(vertexops_workqueue_depth)` |",
        "",
        "## Dashboard",
        "",
        "The chart's Grafana dashboard (`charts/vertexops/dashboards/vertexops.json`) has these panels; its",
        "`namespace` variable filters the per-job ones.",
        "",
        "| panel | shows |",
        "|---|---|",
        *(f"| {panel['title']} | {panel['description']} |" for panel in dashboard()["panels"]),
        "",
    ]
    return {METRICS_DOC: "\n".join(lines)}


# -- tenancy admission policy --------------------------------------------------------------------------------

ADMISSION_TEMPLATE = CHART / "templates" / "tenancy-admission-policy.yaml"


def admission_policy_template() -> Outputs:
    """The ValidatingAdmissionPolicy and its binding, from the rules the operator also enforces."""
    from controller.tenancy.admission import admission_policy, admission_policy_binding  # noqa: PLC0415

    documents = "".join(
        "---\n" + yaml.safe_dump(doc, sort_keys=False, width=100)
        for doc in (admission_policy(), admission_policy_binding())
    )
    text = (
        "# Generated by manifests/generate.py from controller/tenancy/admission.py; do not edit by hand.\n"
        "# Refuses at `kubectl apply` what a TuningTenant forbids (value tenancy.admissionPolicy).\n"
        "{{- if .Values.tenancy.admissionPolicy }}\n"
        f"{documents}"
        "{{- end }}\n"
    )
    return {ADMISSION_TEMPLATE: text}


# -- install bundle ------------------------------------------------------------------------------------------

INSTALL_HEADER = """\
# vertexops install bundle: `kubectl apply --server-side -f manifests/install.yaml`.
# Generated by manifests/generate.py from charts/vertexops with default values; do not edit by hand.
# It installs into the vertexops-system namespace and watches every namespace. For other settings use the
# Helm chart, or render your own bundle with `helm template vertexops charts/vertexops --include-crds`.
"""


def install_bundle(helm: Path | None = None) -> Outputs:
    helm = helm or resolve_tools().helm
    rendered = subprocess.run(
        [str(helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--include-crds"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": NAMESPACE,
            "labels": {
                # The operator's pods meet the restricted Pod Security Standard; hold the namespace to it.
                "pod-security.kubernetes.io/enforce": "restricted",
                "app.kubernetes.io/part-of": "vertexops",
            },
        },
    }
    body = yaml.safe_dump(namespace, sort_keys=False)
    return {INSTALL: f"{INSTALL_HEADER}---\n{body}{rendered}"}


# -- Argo CD health checks in argocd-cm ---------------------------------------------------------------------

SNIPPET_BEGIN = "<!-- BEGIN argocd-cm (generated by manifests/generate.py) -->"
SNIPPET_END = "<!-- END argocd-cm -->"


def argocd_cm_snippet() -> str:
    """The argocd-cm keys that install both health checks, as Argo CD reads them."""
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata:",
        "  name: argocd-cm",
        "  namespace: argocd",
        "  labels:",
        "    app.kubernetes.io/name: argocd-cm",
        "    app.kubernetes.io/part-of: argocd",
        "data:",
    ]
    for kind in KINDS:
        lines.append(f"  resource.customizations.health.tuning.vertexops.dev_{kind}: |")
        lines += [
            f"    {line}" if line else "" for line in (HEALTH / kind / "health.lua").read_text().splitlines()
        ]
    return "\n".join(lines) + "\n"


def argocd_cm() -> Outputs:
    header = (
        "# The vertexops health checks for Argo CD. Merge into argocd-cm:\n"
        "#   kubectl -n argocd patch configmap argocd-cm --type merge --patch-file argocd-cm-health.yaml\n"
        "# Generated by manifests/generate.py from manifests/argocd/health; do not edit by hand.\n"
    )
    snippet = argocd_cm_snippet()
    outputs = {ARGOCD_CM: header + snippet}
    if GITOPS_DOC.exists():
        doc = GITOPS_DOC.read_text()
        before, found, rest = doc.partition(SNIPPET_BEGIN)
        _, found_end, after = rest.partition(SNIPPET_END)
        if not (found and found_end):
            raise SystemExit(
                f"{GITOPS_DOC.relative_to(ROOT)}: the {SNIPPET_BEGIN} and {SNIPPET_END} markers are missing"
            )
        outputs[GITOPS_DOC] = f"{before}{SNIPPET_BEGIN}\n```yaml\n{snippet}```\n{SNIPPET_END}{after}"
    return outputs


# -- driver --------------------------------------------------------------------------------------------------

# Ordered: the chart must hold the current CRDs and dashboard before it is rendered into the bundle.
GENERATORS: tuple[Callable[[], Outputs], ...] = (
    chart_crds,
    dashboard_output,
    metrics_doc,
    admission_policy_template,
    install_bundle,
    argocd_cm,
)


def stale_crd_copies() -> list[Path]:
    """Chart CRDs whose source is gone: a kind renamed or removed in crds/."""
    wanted = {source.name for source in CRDS.glob("*.yaml")}
    return sorted(p for p in (CHART / "crds").glob("*.yaml") if p.name not in wanted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail when an output is stale")
    args = parser.parse_args(argv)
    stale: list[Path] = stale_crd_copies()
    for generate in GENERATORS:
        for path, text in generate().items():
            if path.exists() and path.read_text() == text:
                continue
            if args.check:
                stale.append(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                print(f"wrote {path.relative_to(ROOT)}")
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run `python manifests/generate.py`)", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.unlink()
        print(f"removed {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
