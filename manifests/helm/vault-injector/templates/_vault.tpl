{{/* Connection to Vault (README: Connecting to your Vault). */}}

{{/* "true" when the webhook gets a CA bundle file, from caBundle or caSecret. */}}
{{- define "vault-injector.vaultCA" -}}
{{- if and .Values.vault.caBundle .Values.vault.caSecret.name -}}
{{- fail "set vault.caBundle or vault.caSecret.name, not both" -}}
{{- end -}}
{{- if or .Values.vault.caBundle .Values.vault.caSecret.name -}}true{{- end -}}
{{- end -}}

{{/* The webhook flags of the vault.* connection values and agent.resources; empty values
     keep the webhook's defaults. */}}
{{- define "vault-injector.vaultArgs" -}}
{{- with .Values.vault.authType }}
- --default-auth-type={{ . }}
{{- end }}
{{- with .Values.vault.namespace }}
- --vault-namespace={{ . }}
{{- end }}
{{- with .Values.vault.tlsServerName }}
- --vault-tls-server-name={{ . }}
{{- end }}
{{- if include "vault-injector.vaultCA" . }}
- --vault-ca-bundle=/etc/vault-injector/vault-ca/ca.crt
{{- end }}
{{- with .Values.vault.tlsSecret }}
- --vault-tls-secret={{ . }}
{{- end }}
{{- with .Values.vault.proxyAddress }}
- --vault-proxy-address={{ . }}
{{- end }}
{{- if .Values.vault.allowHTTP }}
- --allow-http-vault=true
{{- end }}
{{- if .Values.vault.allowTLSSkipVerify }}
- --allow-vault-tls-skip-verify=true
{{- end }}
{{- with .Values.agent.resources }}
{{- with .requests }}
{{- with .cpu }}
- --agent-cpu-request={{ . }}
{{- end }}
{{- with .memory }}
- --agent-memory-request={{ . }}
{{- end }}
{{- end }}
{{- with .limits }}
{{- with .cpu }}
- --agent-cpu-limit={{ . }}
{{- end }}
{{- with .memory }}
- --agent-memory-limit={{ . }}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}
