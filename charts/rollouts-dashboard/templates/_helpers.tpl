{{- define "rd.name" -}}rollouts-dashboard{{- end -}}

{{- define "rd.fullname" -}}
{{- if contains "rollouts-dashboard" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-rollouts-dashboard" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "rd.labels" -}}
app.kubernetes.io/name: {{ include "rd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "rd.selector" -}}
app.kubernetes.io/name: {{ include "rd.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "rd.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "rd.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The rules the dashboard needs: read everything it shows; write only
what its actions send (none when readonly). */}}
{{- define "rd.rules" -}}
- apiGroups: [argoproj.io]
  resources: [rollouts, analysisruns, experiments]
  verbs: [get, list, watch]
- apiGroups: [apps]
  resources: [replicasets, deployments]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [pods, events]
  verbs: [get, list, watch]
- apiGroups: [networking.istio.io]
  resources: [virtualservices, destinationrules]
  verbs: [get, list, watch]
{{- if not .Values.readonly }}
- apiGroups: [argoproj.io]
  resources: [rollouts, rollouts/status]
  verbs: [patch, update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [update, patch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
{{- end -}}
