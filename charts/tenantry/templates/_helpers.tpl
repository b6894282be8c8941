{{/*
Names are fixed, not prefixed with the release name: Tenantry's CRDs,
ClusterRoles and admission policies are cluster-wide, so a cluster runs one
release of it.
*/}}

{{/* The labels on every object the chart creates. */}}
{{- define "tenantry.labels" -}}
app.kubernetes.io/name: tenantry
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: tenantry
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{/* The labels that select the operator's pods. */}}
{{- define "tenantry.selectorLabels" -}}
app.kubernetes.io/name: tenantry
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "tenantry.serviceAccountName" -}}
{{ .Values.serviceAccount.name }}
{{- end }}

{{/*
The user the operator authenticates as. The guardrails exempt exactly this
identity, so it must follow the release namespace and ServiceAccount name.
*/}}
{{- define "tenantry.operatorUsername" -}}
system:serviceaccount:{{ .Release.Namespace }}:{{ include "tenantry.serviceAccountName" . }}
{{- end }}

{{/*
The match condition that lets the platform through the policies guarding
managed objects: the operator, the kube-system controllers (namespace
deletion, garbage collection) and cluster admins (system:masters).
*/}}
{{- define "tenantry.notThePlatform" -}}
- name: not-the-platform
  expression: >-
    !(request.userInfo.username == '{{ include "tenantry.operatorUsername" . }}'
    || request.userInfo.username.startsWith('system:serviceaccount:kube-system:')
    || request.userInfo.username == 'system:kube-controller-manager'
    || (has(request.userInfo.groups) && 'system:masters' in request.userInfo.groups))
{{- end }}

{{/* The operator image: a digest wins over a tag; the tag defaults to the app version. */}}
{{- define "tenantry.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
{{- end }}

{{/* A label map as the operator's selector flags take it: k=v,k2=v2 (sorted). */}}
{{- define "tenantry.selectorFlag" -}}
{{- $pairs := list -}}
{{- range $k, $v := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $k $v) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end }}
