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
- apiGroups: [networking.k8s.io]
  resources: [ingresses]
  verbs: [get, list, watch]
- apiGroups: [gateway.networking.k8s.io]
  resources: [httproutes, grpcroutes, tcproutes, tlsroutes]
  verbs: [get, list, watch]
{{- if or (eq .Values.auth.mode "none") (and .Values.history.podLogs (ne .Values.history.database "off")) }}
{{/* With auth none everyone reads pod logs with the dashboard's own
account; with history.podLogs it keeps an aborted canary's last lines. */}}
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
{{- end }}
{{- if not .Values.readonly }}
{{- if eq .Values.auth.mode "none" }}
- apiGroups: [argoproj.io]
  resources: [rollouts, rollouts/status]
  verbs: [patch, update]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [update, patch]
{{- end }}
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end }}
{{- end -}}

{{/* Cluster-scoped rules for signed-in people (auth proxy or token): ask
what each may do, check their tokens, act as them. Empty with auth none. */}}
{{- define "rd.authRules" -}}
{{- if ne .Values.auth.mode "none" }}
- apiGroups: [authorization.k8s.io]
  resources: [subjectaccessreviews]
  verbs: [create]
{{- end }}
{{- if eq .Values.auth.mode "token" }}
- apiGroups: [authentication.k8s.io]
  resources: [tokenreviews]
  verbs: [create]
{{- end }}
{{/* People act, and read pod logs, as themselves: read-only too. */}}
{{- if has .Values.auth.mode (list "proxy" "oidc") }}
{{- if .Values.auth.impersonableGroups }}
- apiGroups: [""]
  resources: [users]
  verbs: [impersonate]
- apiGroups: [""]
  resources: [groups]
  verbs: [impersonate]
  resourceNames: {{ toJson .Values.auth.impersonableGroups }}
{{- else }}
- apiGroups: [""]
  resources: [users, groups]
  verbs: [impersonate]
{{- end }}
{{- end }}
{{- end -}}
