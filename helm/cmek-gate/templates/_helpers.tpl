{{/*
Names, labels and derived values shared by the templates. Only simple constructs are used
(helm/check_chart.py renders these templates with its own small renderer).
*/}}

{{/* The chart name, or nameOverride, as a DNS label. */}}
{{- define "cmek-gate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the release's resources (also the Service name). */}}
{{- define "cmek-gate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* chart-version, for the helm.sh/chart label. */}}
{{- define "cmek-gate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The labels that select the pods. */}}
{{- define "cmek-gate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cmek-gate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The labels on every resource. */}}
{{- define "cmek-gate.labels" -}}
helm.sh/chart: {{ include "cmek-gate.chart" . }}
{{ include "cmek-gate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: cmek-gate
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The ServiceAccount's name. */}}
{{- define "cmek-gate.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cmek-gate.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret holding the serving certificate (tls.crt, tls.key), mounted at /tls. */}}
{{- define "cmek-gate.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "cmek-gate.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/* The serving Certificate (cert-manager); the webhook's caBundle is injected from it. */}}
{{- define "cmek-gate.servingCertName" -}}
{{- printf "%s-serving" (include "cmek-gate.fullname" .) -}}
{{- end -}}

{{/* The chart's own CA: its Certificate, Secret and Issuer share this name. */}}
{{- define "cmek-gate.caName" -}}
{{- printf "%s-ca" (include "cmek-gate.fullname" .) -}}
{{- end -}}

{{/* The self-signed Issuer that signs the CA. */}}
{{- define "cmek-gate.selfSignedIssuerName" -}}
{{- printf "%s-selfsigned" (include "cmek-gate.fullname" .) -}}
{{- end -}}

{{/* The ConfigMap of policy files, mounted at /policies. */}}
{{- define "cmek-gate.policiesConfigMapName" -}}
{{- printf "%s-policies" (include "cmek-gate.fullname" .) -}}
{{- end -}}

{{/* The ConfigMap of the params override, mounted at /params. */}}
{{- define "cmek-gate.paramsConfigMapName" -}}
{{- printf "%s-params" (include "cmek-gate.fullname" .) -}}
{{- end -}}

{{/* The name the API server connects to: <service>.<namespace>.svc */}}
{{- define "cmek-gate.serviceHost" -}}
{{- printf "%s.%s.svc" (include "cmek-gate.fullname" .) .Release.Namespace -}}
{{- end -}}

{{/* The image reference: repository@digest, or repository:tag (tag defaults to appVersion). */}}
{{- define "cmek-gate.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The webhook's caBundle without cert-manager: webhook.caBundle as PEM (base64-encoded here) or
already base64-encoded. Rendering fails when it is empty: a .svc name cannot have a certificate
the API server's default roots trust.
*/}}
{{- define "cmek-gate.caBundle" -}}
{{- $ca := trim .Values.webhook.caBundle -}}
{{- if not $ca -}}
{{- fail "webhook.caBundle is required when certManager.enabled is false: the PEM of the CA that signed the serving certificate (--set-file webhook.caBundle=ca.crt) or its base64 encoding; see certs/README.md" -}}
{{- end -}}
{{- if hasPrefix "-----BEGIN" $ca -}}
{{- printf "%s\n" $ca | b64enc -}}
{{- else -}}
{{- $ca -}}
{{- end -}}
{{- end -}}

{{/*
The matchConditions of both webhooks (see webhook.skipTerminating), indented for a webhook entry.
*/}}
{{- define "cmek-gate.webhookMatchConditions" -}}
    {{- if .Values.webhook.skipTerminating }}
    # An object being deleted is not checked: controllers (Config Connector, Knative) remove their
    # finalizers with an UPDATE, and denying it would leave a non-compliant object stuck Terminating.
    matchConditions:
      - name: not-terminating
        expression: "!has(object.metadata.deletionTimestamp)"
    {{- end }}
{{- end }}

{{/*
The namespaceSelector and rules of both webhooks: the same resources reach the mutating and the
validating webhook.
*/}}
{{- define "cmek-gate.webhookSelection" }}
    namespaceSelector:
      matchExpressions:
        # Never the gate's own namespace, nor webhook.excludedNamespaces.
        - key: kubernetes.io/metadata.name
          operator: NotIn
          values:
            - {{ .Release.Namespace | quote }}
            {{- range .Values.webhook.excludedNamespaces }}
            - {{ . | quote }}
            {{- end }}
        {{- if .Values.webhook.ignoreNamespaceLabel }}
        # The opt-out label.
        - key: {{ .Values.webhook.ignoreNamespaceLabel | quote }}
          operator: DoesNotExist
        {{- end }}
        {{- with .Values.webhook.namespaceSelectorExpressions }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    rules:
      # Knative / Cloud Run for Anthos: a Configuration can be created directly, bypassing Services.
      - apiGroups:
          - serving.knative.dev
        apiVersions:
          - "*"
        operations:
          - CREATE
          - UPDATE
        resources:
          - services
          - configurations
        scope: Namespaced
      # Config Connector (how Config Sync usually manages Cloud Run).
      - apiGroups:
          - run.cnrm.cloud.google.com
        apiVersions:
          - "*"
        operations:
          - CREATE
          - UPDATE
        resources:
          - runservices
          - runjobs
        scope: Namespaced
{{- end }}

{{/*
Checks the live values (also when live.enabled is false, so a wrong value is found before it is
switched on): rendering fails, naming the value, rather than the pods failing to start.
*/}}
{{- define "cmek-gate.validateLive" -}}
{{- $live := .Values.live -}}
{{- if not (has $live.unreachable (list "deny" "warn" "allow")) -}}
{{- fail (printf "live.unreachable must be deny, warn or allow, not %q" (toString $live.unreachable)) -}}
{{- end -}}
{{- range $name := list "googleTimeout" "cacheTTL" "notFoundTTL" -}}
{{- $value := toString (index $live $name) -}}
{{- if and $value (not (regexMatch "^([0-9]+(\\.[0-9]+)?|([0-9]+(ns|us|ms|s|m|h|d))+)$" $value)) -}}
{{- fail (printf "live.%s must be a duration such as 2s, 500ms or 5m, not %q" $name $value) -}}
{{- end -}}
{{- end -}}
{{- range $api, $url := $live.endpoints -}}
{{- if not (has $api (list "cloudkms" "cloudresourcemanager" "artifactregistry")) -}}
{{- fail (printf "live.endpoints: unknown API %q (cloudkms, cloudresourcemanager or artifactregistry)" $api) -}}
{{- end -}}
{{- if not (regexMatch "^https?://[^\\s,]+$" (toString $url)) -}}
{{- fail (printf "live.endpoints.%s must be an http:// or https:// URL, not %q" $api (toString $url)) -}}
{{- end -}}
{{- end -}}
{{- if and $live.gcpServiceAccount $live.credentialsSecret -}}
{{- fail "live.gcpServiceAccount (Workload Identity) and live.credentialsSecret (a key file) are both set: set one (a key file would win over Workload Identity)" -}}
{{- end -}}
{{- if and $live.gcpServiceAccount (not .Values.serviceAccount.create) -}}
{{- fail "live.gcpServiceAccount needs serviceAccount.create: annotate your existing ServiceAccount with iam.gke.io/gcp-service-account yourself and leave live.gcpServiceAccount empty" -}}
{{- end -}}
{{- end -}}

{{/* The `cmek-gate serve` arguments of live mode (none without live.enabled), as list items. */}}
{{- define "cmek-gate.liveArgs" -}}
{{- include "cmek-gate.validateLive" . -}}
{{- $live := .Values.live -}}
{{- if $live.enabled }}
- --live
- --live-unreachable={{ $live.unreachable }}
{{- with $live.googleTimeout }}
- --google-timeout={{ . }}
{{- end }}
{{- with $live.cacheTTL }}
- --google-cache-ttl={{ . }}
{{- end }}
{{- with $live.notFoundTTL }}
- --google-not-found-ttl={{ . }}
{{- end }}
{{- range $api, $url := $live.endpoints }}
- {{ printf "--google-endpoint=%s=%s" $api $url | quote }}
{{- end }}
{{- if $live.googleCA.configMapName }}
- --google-ca=/google-ca/{{ $live.googleCA.key }}
{{- end }}
{{- end }}
{{- end -}}
