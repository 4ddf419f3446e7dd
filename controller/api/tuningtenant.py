"""`TuningTenant`: what the namespaces of one team may do on Google, and as whom. Owned by the platform admin.

A shared cluster runs one operator for many teams. Without a tenant every TuningJob is sent to Google with the
operator's own identity, in whatever project it names, reading whatever bucket it names: a confused deputy.
A TuningTenant binds a set of namespaces to a Google service account (impersonated for every call made for
them), the projects, locations, job service accounts, dataset prefixes and base models they may use, and
limits on what they may run at once.

Why cluster-scoped and not one object per namespace (Config Connector's `ConfigConnectorContext`): the
built-in `admin` and `edit` ClusterRoles are granted per namespace with RoleBindings, and a RoleBinding can
never grant rights on a cluster-scoped kind. So no namespace role, aggregated or bound by a namespace admin,
can edit the tenant that constrains that namespace; only a ClusterRoleBinding (a cluster admin's act) can.
One tenant can also cover many namespaces by label, which a per-namespace object cannot.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from controller.api.base import ApiModel, StatusModel
from controller.api.resource import ObjectMeta, PrinterColumn, ResourceInfo, age_column

PROJECT_PATTERN = r"^([a-z][-a-z0-9.:]{4,98}[a-z0-9]|[0-9]{1,20})$"
LOCATION_PATTERN = r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$"
SERVICE_ACCOUNT_PATTERN = r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.:-]+\.[a-zA-Z]{2,}$"
# A bucket and a prefix inside it, ending in '/' so that gs://team-a/ never also allows gs://team-ab/.
# A Cloud Storage folder, or the Vertex AI multimodal datasets of one project and location (the form ends in
# '/datasets/', so a prefix never matches the start of a longer dataset ID).
DATASET_PREFIX_PATTERN = (
    r"^(gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]/([^/]+/)*"
    r"|projects/[a-z0-9]([-a-z0-9.:]{0,98}[a-z0-9])?/locations/[a-z][a-z0-9-]{0,61}[a-z0-9]/datasets/)$"
)
NAMESPACE_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

ProjectID = Annotated[str, StringConstraints(max_length=100, pattern=PROJECT_PATTERN)]
Location = Annotated[str, StringConstraints(max_length=63, pattern=LOCATION_PATTERN)]
ServiceAccountEmail = Annotated[str, StringConstraints(max_length=254, pattern=SERVICE_ACCOUNT_PATTERN)]
DatasetPrefix = Annotated[str, StringConstraints(max_length=1024, pattern=DATASET_PREFIX_PATTERN)]
NamespaceName = Annotated[str, StringConstraints(min_length=1, max_length=63, pattern=NAMESPACE_PATTERN)]
BaseModelName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@/-]*$")
]
LabelName = Annotated[str, StringConstraints(min_length=1, max_length=317)]
LabelText = Annotated[str, StringConstraints(max_length=63)]


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class LabelSelectorRequirement(ApiModel):
    """One requirement of a label selector, as in every Kubernetes `LabelSelector`."""

    key: LabelName = Field(description="Label key the requirement applies to.")
    operator: SelectorOperator = Field(description="In, NotIn, Exists or DoesNotExist.")
    values: list[LabelText] | None = Field(
        default=None,
        max_length=64,
        description="Values for In and NotIn (at least one); must be empty for Exists and DoesNotExist.",
    )


class LabelSelector(ApiModel):
    """Namespaces by their labels: every matchLabels entry and matchExpressions requirement must hold."""

    match_labels: dict[LabelName, LabelText] | None = Field(
        default=None, max_length=32, description="Labels a namespace must carry, with these values."
    )
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, max_length=32, description="Requirements on a namespace's labels."
    )


class NamespaceSelection(ApiModel):
    """The namespaces a tenant covers: those named, and those whose labels match the selector."""

    names: list[NamespaceName] | None = Field(
        default=None,
        max_length=256,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Namespaces covered by name.",
    )
    selector: LabelSelector | None = Field(
        default=None,
        description=(
            "Namespaces covered by their labels. Only a cluster admin should be able to label namespaces, "
            "or a tenant could join another tenant by labelling its own namespace."
        ),
    )


class TenantLimits(ApiModel):
    """What the tenant may spend; each limit left out is not enforced."""

    max_active_jobs: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description=(
            "At most this many TuningJobs of the tenant's namespaces pending or running on Google at once. "
            "A job whose remote job already exists (a rebuilt cluster) is adopted at once and counts; "
            "further creates wait, with Reconciling=True and reason WaitingForTenantQuota, and are made one "
            "at a time in creation order (creationTimestamp, then namespace, name and UID) as others "
            "finish or are deleted."
        ),
    )
    max_epochs: int | None = Field(
        default=None,
        ge=1,
        description=(
            "The highest hyperParameters.epochCount (of spec.supervisedTuningSpec or "
            "spec.preferenceOptimizationSpec) a job may ask for. A job that sets no epochCount is refused "
            "too, since Vertex AI would then choose the count."
        ),
    )
    max_billable_tokens_per_job: int | None = Field(
        default=None,
        ge=1,
        description=(
            "Cancel a job once Vertex AI reports more billable tokens than this in "
            "status.tuningDataStats.totalBillableTokenCount (reported when training starts, epochs "
            "included). The job ends Stalled with reason PolicyDenied."
        ),
    )


class TuningTenantSpec(ApiModel):
    """The namespaces of one tenant, the Google identity they act as, and what they may use."""

    namespaces: NamespaceSelection = Field(
        description=(
            "The namespaces this tenant covers. A namespace covered by two tenants may create nothing "
            "remote until one lets it go."
        )
    )
    google_service_account: ServiceAccountEmail | None = Field(
        default=None,
        description=(
            "Google service account the operator impersonates for every call made for these namespaces' "
            "resources (the operator's own identity needs roles/iam.serviceAccountTokenCreator on it). "
            "When absent the operator calls Google as itself, which only the projects below confine."
        ),
    )
    projects: list[ProjectID] = Field(
        min_length=1,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Google Cloud projects (IDs as spec.projectID names them) the tenant's jobs may run in.",
    )
    default_project: ProjectID | None = Field(
        default=None,
        description=(
            "Project of a TuningJob that sets no spec.projectID; the first of projects when absent. Must be "
            "one of projects."
        ),
    )
    locations: list[Location] | None = Field(
        default=None,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Vertex AI locations the tenant's jobs may use; any location when absent.",
    )
    default_location: Location | None = Field(
        default=None,
        description=(
            "Location of a TuningJob that sets no spec.location; the operator's --location when absent. "
            "Must be one of locations when both are set."
        ),
    )
    job_service_accounts: list[ServiceAccountEmail] | None = Field(
        default=None,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description=(
            "Service accounts a TuningJob may run as (spec.serviceAccount). When absent no job may set "
            "one, and jobs run as the Vertex AI tuning service agent."
        ),
    )
    dataset_uri_prefixes: list[DatasetPrefix] = Field(
        alias="datasetURIPrefixes",
        min_length=1,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description=(
            "Cloud Storage prefixes (gs://bucket/ or gs://bucket/folder/, ending in '/') under which the "
            "training and validation data must lie; projects/P/locations/L/datasets/ allows the Vertex AI "
            "multimodal datasets of project P in location L."
        ),
    )
    base_models: list[BaseModelName] | None = Field(
        default=None,
        max_length=64,
        json_schema_extra={"x-kubernetes-list-type": "set"},
        description="Base models a TuningJob may tune (spec.baseModel, exactly); any model when absent.",
    )
    limits: TenantLimits | None = Field(default=None, description="Limits on what the tenant may run.")
    require_dataset_preflight: bool | None = Field(
        default=None,
        description=(
            "Every TuningJob of these namespaces has its dataset checked before the job is created "
            "(spec.preflight.mode Required, whatever the operator's default); a job asking for WarnOnly or "
            "Skip is refused."
        ),
    )


TENANT_SPEC_RULES: tuple[dict[str, str], ...] = (
    {
        "rule": "has(self.namespaces.names) || has(self.namespaces.selector)",
        "message": "namespaces: set names, selector or both",
        "fieldPath": ".namespaces",
    },
    {
        "rule": "!has(self.defaultProject) || self.defaultProject in self.projects",
        "message": "defaultProject must be one of projects",
        "fieldPath": ".defaultProject",
    },
    {
        "rule": "!has(self.defaultLocation) || !has(self.locations) || "
        "self.defaultLocation in self.locations",
        "message": "defaultLocation must be one of locations",
        "fieldPath": ".defaultLocation",
    },
)


class TenantUsage(StatusModel):
    """How much of the tenant's limits is in use, as the operator last counted it."""

    active_jobs: int | None = Field(
        default=None,
        description="TuningJobs of the tenant created (or being created) on Google and not yet finished.",
    )
    waiting_jobs: int | None = Field(
        default=None, description="TuningJobs waiting for a free place under limits.maxActiveJobs."
    )
    max_active_jobs: int | None = Field(default=None, description="The limit they are counted against.")


class TuningTenantStatus(StatusModel):
    """Which namespaces the tenant covers now, and how much of its limits they use."""

    observed_generation: int | None = Field(
        default=None, description="metadata.generation of the spec the status was computed from."
    )
    namespaces: list[str] | None = Field(
        default=None, description="The namespaces this tenant covers now, by name or by label."
    )
    usage: TenantUsage | None = Field(default=None, description="Use of the limits.")


class TuningTenant(ApiModel):
    """A tenant: namespaces, the Google identity they use, and what they may do."""

    api_version: Literal["tuning.vertexops.dev/v1alpha1"] = Field(
        default="tuning.vertexops.dev/v1alpha1", alias="apiVersion"
    )
    kind: Literal["TuningTenant"] = "TuningTenant"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TuningTenantSpec
    status: TuningTenantStatus | None = None


TUNING_TENANT = ResourceInfo(
    kind="TuningTenant",
    plural="tuningtenants",
    singular="tuningtenant",
    short_names=("ttn",),
    description=(
        "TuningTenant, owned by the platform admin, binds namespaces to the Google service account the "
        "operator impersonates for them, and says which projects, locations, job service accounts, dataset "
        "prefixes and base models their TuningJobs may use and how many may run at once."
    ),
    printer_columns=(
        PrinterColumn(
            "Identity", ".spec.googleServiceAccount", description="Google service account impersonated."
        ),
        PrinterColumn("Namespaces", ".status.namespaces", description="Namespaces the tenant covers now."),
        PrinterColumn(
            "Active", ".status.usage.activeJobs", type="integer", description="Jobs pending or running."
        ),
        PrinterColumn(
            "Waiting", ".status.usage.waitingJobs", type="integer", description="Jobs waiting for quota."
        ),
        age_column(),
    ),
    namespaced=False,
    categories=(),
    spec_validations=TENANT_SPEC_RULES,
)
