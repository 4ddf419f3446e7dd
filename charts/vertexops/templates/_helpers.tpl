{{/* Names and labels shared by every template. */}}

{{- define "vertexops.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vertexops.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "vertexops.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vertexops.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vertexops.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vertexops.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vertexops
{{- end }}

{{- define "vertexops.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vertexops.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vertexops.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
The rights the operator uses, and nothing more. They mirror controller/rbac.py rule for rule; a test renders
the chart and compares, so change both together.
*/}}
{{- define "vertexops.watchRules" -}}
- apiGroups: ["tuning.vertexops.dev"]
  resources: ["tuningjobs", "tunedmodels"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["tuning.vertexops.dev"]
  resources: ["tuningjobs/status", "tunedmodels/status"]
  verbs: ["patch"]
- apiGroups: ["tuning.vertexops.dev"]
  resources: ["tuningjobs/finalizers", "tunedmodels/finalizers"]
  verbs: ["update"]
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch", "create", "patch"]
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get"]
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{- define "vertexops.leaderElectionRules" -}}
- apiGroups: ["coordination.k8s.io"]
  resources: ["leases"]
  verbs: ["get", "create", "update"]
{{- end }}

{{/* Cluster-wide rights of the tenancy (controller/rbac.py TENANCY_RULES). */}}
{{- define "vertexops.tenancyRules" -}}
- apiGroups: ["tuning.vertexops.dev"]
  resources: ["tuningtenants"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["tuning.vertexops.dev"]
  resources: ["tuningtenants/status"]
  verbs: ["patch"]
- apiGroups: [""]
  resources: ["namespaces"]
  verbs: ["get", "list", "watch"]
{{- end }}
