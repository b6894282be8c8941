{{/*
The objects are named after the release, which Argo CD names after the
Application: a tenant namespace holds one release per app, so a chart suffix
would only lengthen every name. 47 characters leave room for the longest
suffix (-success-rate) within a DNS label.
*/}}
{{- define "tenant-app.fullname" -}}
{{- .Values.fullnameOverride | default .Release.Name | trunc 47 | trimSuffix "-" -}}
{{- end }}

{{- define "tenant-app.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end }}

{{/* The labels on every object the chart creates. */}}
{{- define "tenant-app.labels" -}}
{{ include "tenant-app.selectorLabels" . }}
app.kubernetes.io/version: {{ include "tenant-app.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The labels that select the app's pods, of every version. */}}
{{- define "tenant-app.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tenant-app.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tenant-app.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion -}}
{{- end }}

{{/* The version the app reports: values.version, else the image tag. */}}
{{- define "tenant-app.version" -}}
{{- .Values.version | default (include "tenant-app.tag" .) -}}
{{- end }}

{{/*
The Services. Clients (and the Ingress) use the fullname in both strategies:
with canary it selects every version's pods, so the canary gets its share of
traffic by its share of pods; with blueGreen it is the active Service.
*/}}
{{- define "tenant-app.serviceName" -}}
{{- include "tenant-app.fullname" . -}}
{{- end }}
{{- define "tenant-app.stableServiceName" -}}
{{- include "tenant-app.fullname" . }}-stable
{{- end }}
{{- define "tenant-app.canaryServiceName" -}}
{{- include "tenant-app.fullname" . }}-canary
{{- end }}
{{- define "tenant-app.previewServiceName" -}}
{{- include "tenant-app.fullname" . }}-preview
{{- end }}

{{/* The Service the new version is analysed through. */}}
{{- define "tenant-app.newVersionServiceName" -}}
{{- if eq .Values.strategy "blueGreen" -}}
{{ include "tenant-app.previewServiceName" . }}
{{- else -}}
{{ include "tenant-app.canaryServiceName" . }}
{{- end -}}
{{- end }}

{{/* An Argo Rollouts argument reference, {{args.NAME}}, left for Argo Rollouts. */}}
{{- define "tenant-app.arg" -}}
{{- printf "{{args.%s}}" . -}}
{{- end }}

{{/* Whether the Prometheus templates are on: "true" or "". */}}
{{- define "tenant-app.prometheusEnabled" -}}
{{- if and .Values.analysis.enabled (or .Values.analysis.successRate.enabled .Values.analysis.latency.enabled) }}true{{ end -}}
{{- end }}

{{/* Names of the AnalysisTemplates the chart renders, as a JSON list. */}}
{{- define "tenant-app.analysisTemplates" -}}
{{- $names := list -}}
{{- if .Values.analysis.enabled -}}
{{- $fullname := include "tenant-app.fullname" . -}}
{{- if .Values.analysis.successRate.enabled }}{{ $names = append $names (printf "%s-success-rate" $fullname) }}{{ end -}}
{{- if .Values.analysis.latency.enabled }}{{ $names = append $names (printf "%s-latency" $fullname) }}{{ end -}}
{{- if .Values.analysis.web.enabled }}{{ $names = append $names (printf "%s-web" $fullname) }}{{ end -}}
{{- end -}}
{{- toJson $names -}}
{{- end }}

{{/*
The analysis a canary step or the blue-green pre-promotion runs: the chart's
templates, and the arguments only the Rollout knows (the new version's pod
template hash, its namespace, the Service it answers on). Empty when no
template is on.
*/}}
{{- define "tenant-app.analysis" -}}
{{- $templates := include "tenant-app.analysisTemplates" . | fromJsonArray -}}
{{- if $templates -}}
templates:
  {{- range $templates }}
  - templateName: {{ . }}
  {{- end }}
args:
  - name: namespace
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  {{- if include "tenant-app.prometheusEnabled" . }}
  - name: new-hash
    valueFrom:
      podTemplateHashValue: Latest
  {{- end }}
  {{- if .Values.analysis.web.enabled }}
  - name: service
    value: {{ include "tenant-app.newVersionServiceName" . }}
  {{- end }}
{{- end -}}
{{- end }}

{{/*
The arguments of the Prometheus templates. The address and the tenant come
from values when set, else from the tenant's defaults Secret; the
Authorization header only ever from the Secret, so no credential sits in Git.
*/}}
{{- define "tenant-app.prometheusArgs" -}}
{{- $secret := .Values.analysis.defaultsSecret -}}
- name: prometheus-address
  {{- if .Values.analysis.prometheus.address }}
  value: {{ .Values.analysis.prometheus.address | quote }}
  {{- else if $secret }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: prometheus-address
  {{- else }}
  {{- fail "analysis.prometheus.address: set it, or analysis.defaultsSecret to read the tenant's default" }}
  {{- end }}
- name: tenant
  {{- if .Values.tenant }}
  value: {{ .Values.tenant | quote }}
  {{- else if $secret }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: tenant
  {{- else }}
  {{- fail "tenant: set it, or analysis.defaultsSecret to read the tenant's default" }}
  {{- end }}
{{- if $secret }}
- name: authorization
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: authorization
{{- end }}
- name: namespace
- name: new-hash
{{- end }}

{{/*
The Prometheus provider: address, timeout and headers (the tenant's scope
and credentials).
*/}}
{{- define "tenant-app.prometheusProvider" -}}
address: {{ include "tenant-app.arg" "prometheus-address" | quote }}
timeout: {{ .Values.analysis.prometheus.timeoutSeconds }}
{{- if or .Values.analysis.prometheus.tenantHeader .Values.analysis.defaultsSecret }}
headers:
  {{- with .Values.analysis.prometheus.tenantHeader }}
  - key: {{ . }}
    value: {{ include "tenant-app.arg" "tenant" | quote }}
  {{- end }}
  {{- if .Values.analysis.defaultsSecret }}
  - key: Authorization
    value: {{ include "tenant-app.arg" "authorization" | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The label matchers that scope a query to the new version of this app. */}}
{{- define "tenant-app.promSelector" -}}
{{- $p := .Values.analysis.prometheus -}}
{{- $m := list -}}
{{- with $p.tenantLabel }}{{ $m = append $m (printf "%s=%q" . (include "tenant-app.arg" "tenant")) }}{{ end -}}
{{- with $p.namespaceLabel }}{{ $m = append $m (printf "%s=%q" . (include "tenant-app.arg" "namespace")) }}{{ end -}}
{{- with $p.podTemplateHashLabel }}{{ $m = append $m (printf "%s=%q" . (include "tenant-app.arg" "new-hash")) }}{{ end -}}
{{- with $p.excludeRoutes }}{{ $m = append $m (printf "route!~%q" .) }}{{ end -}}
{{- join "," $m -}}
{{- end }}

{{/*
Success and failure conditions of a Prometheus metric, from a comparison
such as ">= {{args.min-success-rate}}" and analysis.noData. A query without
data returns an empty vector (no series) or NaN (no requests in the window).
*/}}
{{- define "tenant-app.conditions" -}}
{{- $has := "len(result) > 0 && !isNaN(result[0])" -}}
{{- $noData := .root.Values.analysis.noData -}}
{{- if eq $noData "pass" -}}
successCondition: {{ printf "len(result) == 0 || isNaN(result[0]) || result[0] %s" .pass | quote }}
{{- else -}}
successCondition: {{ printf "%s && result[0] %s" $has .pass | quote }}
{{- if eq $noData "inconclusive" }}
failureCondition: {{ printf "%s && result[0] %s" $has .fail | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* How often and how long a metric is measured, and what it tolerates. */}}
{{- define "tenant-app.measurement" -}}
{{- $a := .Values.analysis -}}
{{- if gt (int $a.failureLimit) (int $a.count) }}
{{- fail (printf "analysis.failureLimit (%v) must be at most analysis.count (%v)" $a.failureLimit $a.count) }}
{{- end }}
{{- if gt (int $a.inconclusiveLimit) (int $a.count) }}
{{- fail (printf "analysis.inconclusiveLimit (%v) must be at most analysis.count (%v)" $a.inconclusiveLimit $a.count) }}
{{- end -}}
interval: {{ $a.interval }}
count: {{ $a.count }}
failureLimit: {{ $a.failureLimit }}
consecutiveErrorLimit: {{ $a.consecutiveErrorLimit }}
inconclusiveLimit: {{ $a.inconclusiveLimit }}
{{- with $a.initialDelay }}
initialDelay: {{ . }}
{{- end }}
{{- end }}
