{{/* Name of every object: fullnameOverride, else the release name (plus the chart name unless
the release name already contains it). */}}
{{- define "vault-injector.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Selector labels are fixed (not per release): the webhook's objectSelector excludes pods
labelled app.kubernetes.io/name=vault-injector, whatever the release. */}}
{{- define "vault-injector.selectorLabels" -}}
app.kubernetes.io/name: vault-injector
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "vault-injector.labels" -}}
app.kubernetes.io/name: vault-injector
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: vault-injector
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vault-injector.tlsSecret" -}}
{{- .Values.tls.secretName | default (printf "%s-tls" (include "vault-injector.fullname" .)) -}}
{{- end -}}

{{- define "vault-injector.selfManaged" -}}
{{- if eq .Values.tls.mode "self-managed" -}}true{{- else if eq .Values.tls.mode "cert-manager" -}}{{- else -}}
{{- fail (printf "tls.mode must be self-managed or cert-manager, not %q" .Values.tls.mode) -}}
{{- end -}}
{{- end -}}

{{/* "true" when /mutate requires the API server's client certificate (webhook.clientCA). */}}
{{- define "vault-injector.clientCA" -}}
{{- with .Values.webhook.clientCA -}}
{{- if and .bundle .secret.name -}}
{{- fail "set webhook.clientCA.bundle or webhook.clientCA.secret.name, not both" -}}
{{- end -}}
{{- if or .bundle .secret.name -}}true{{- end -}}
{{- end -}}
{{- end -}}
