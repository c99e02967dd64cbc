{{/* The release's full name: the release name when it already contains the chart's. */}}
{{- define "pod-eni-exporter.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "pod-eni-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "pod-eni-exporter.labels" -}}
{{ include "pod-eni-exporter.selectorLabels" . }}
app.kubernetes.io/part-of: pod-eni-exporter
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "pod-eni-exporter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pod-eni-exporter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "pod-eni-exporter.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "pod-eni-exporter.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "pod-eni-exporter.fullname" .)) .Values.web.tls.secretName -}}
{{- end -}}

{{/* Whether a web config file is mounted at all. */}}
{{- define "pod-eni-exporter.webConfigEnabled" -}}
{{- if or .Values.web.tls.enabled .Values.web.basicAuth.enabled .Values.web.extraConfig .Values.web.existingConfigSecret -}}true{{- end -}}
{{- end -}}

{{- define "pod-eni-exporter.webConfigSecretName" -}}
{{- default (printf "%s-web-config" (include "pod-eni-exporter.fullname" .)) .Values.web.existingConfigSecret -}}
{{- end -}}

{{/* The web config (exporter-toolkit format) the values ask for. */}}
{{- define "pod-eni-exporter.webConfig" -}}
{{- $config := dict -}}
{{- if .Values.web.tls.enabled -}}
{{- $tls := dict "cert_file" "/etc/pod-eni-exporter/tls/tls.crt" "key_file" "/etc/pod-eni-exporter/tls/tls.key" "min_version" .Values.web.tls.minVersion -}}
{{- if ne .Values.web.tls.clientAuthType "NoClientCert" -}}
{{- $_ := set $tls "client_auth_type" .Values.web.tls.clientAuthType -}}
{{- $_ := set $tls "client_ca_file" (printf "/etc/pod-eni-exporter/tls/%s" .Values.web.tls.clientCaKey) -}}
{{- end -}}
{{- with .Values.web.tls.clientAllowedSans -}}
{{- $_ := set $tls "client_allowed_sans" . -}}
{{- end -}}
{{- $_ := set $config "tls_server_config" $tls -}}
{{- end -}}
{{- if .Values.web.basicAuth.enabled -}}
{{- $hash := required "web.basicAuth.passwordHash is required with web.basicAuth.enabled (a bcrypt hash: htpasswd -nBC 10 \"\" | tr -d ':\\n')" .Values.web.basicAuth.passwordHash -}}
{{- $_ := set $config "basic_auth_users" (dict .Values.web.basicAuth.username $hash) -}}
{{- end -}}
{{- toYaml (mergeOverwrite $config (deepCopy .Values.web.extraConfig)) -}}
{{- end -}}
