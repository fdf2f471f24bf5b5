{{/* Labels on every object; `app.kubernetes.io/part-of: fluxsight` is what the deploy tests look for. */}}
{{- define "fluxsight.labels" -}}
app.kubernetes.io/name: fluxsight
app.kubernetes.io/part-of: fluxsight
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: fluxsight-{{ .Chart.Version }}
{{- end }}

{{/* The ServiceAccount the RBAC binds: fluxsight's own, or notification-controller's for a sidecar. */}}
{{- define "fluxsight.serviceAccount" -}}
{{- if eq .Values.mode "sidecar" }}notification-controller{{ else }}fluxsight{{ end }}
{{- end }}

{{/* Labels of the pod fluxsight runs in. */}}
{{- define "fluxsight.podSelector" -}}
{{- if eq .Values.mode "sidecar" }}
app: notification-controller
{{- else }}
app.kubernetes.io/name: fluxsight
app.kubernetes.io/component: standalone
{{- end }}
{{- end }}

{{/*
The fluxsight container, shared by the Deployment and the sidecar patch. In a sidecar
there is no readinessProbe: a pod is Ready only when every container is, so one would
take notification-controller out of its Services whenever fluxsight is not ready; the
health port moves to 9441 (the controller has 9440).
*/}}
{{- define "fluxsight.container" -}}
name: fluxsight
image: {{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
args:
{{- if eq .Values.mode "sidecar" }}
  - --health-listen=0.0.0.0:9441
{{- end }}
{{- if .Values.logFormat }}
  - --log-format={{ .Values.logFormat }}
{{- end }}
  {{- /* The receiver binds 0.0.0.0 and the NetworkPolicy is its guard until
  pipeline.receiver.hmac_secret is set (then signatures are required and the flag has
  no effect): SECURITY.md "Unsigned receiver". */}}
  - --allow-unsigned
env:
  - name: RUNTIME_NAMESPACE
    valueFrom:
      fieldRef:
        fieldPath: metadata.namespace
  - name: FLUXSIGHT_LOG
    value: {{ .Values.logLevel | quote }}
ports:
  - name: http-fluxsight
    containerPort: 9797
    protocol: TCP
  - name: healthz
    containerPort: {{ if eq .Values.mode "sidecar" }}9441{{ else }}9440{{ end }}
    protocol: TCP
{{- if eq .Values.mode "sidecar" }}
startupProbe:
  httpGet:
    path: /healthz
    port: healthz
  periodSeconds: 2
  failureThreshold: 30
{{- else }}
readinessProbe:
  httpGet:
    path: /readyz
    port: healthz
  periodSeconds: 5
{{- end }}
livenessProbe:
  httpGet:
    path: /healthz
    port: healthz
  periodSeconds: 10
  failureThreshold: 3
resources: {{- toYaml .Values.resources | nindent 2 }}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  readOnlyRootFilesystem: true
  allowPrivilegeEscalation: false
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
volumeMounts:
  - name: fluxsight-config
    mountPath: /etc/fluxsight
    readOnly: true
  - name: fluxsight-state
    mountPath: /var/lib/fluxsight
  - name: fluxsight-tmp
    mountPath: /tmp
{{- end }}

{{- define "fluxsight.volumes" -}}
- name: fluxsight-config
  configMap:
    name: fluxsight-pipeline
- name: fluxsight-state
{{- if .Values.state.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.state.existingClaim }}
{{- else }}
  emptyDir:
    sizeLimit: {{ .Values.state.sizeLimit }}
{{- end }}
- name: fluxsight-tmp
  emptyDir:
    sizeLimit: 16Mi
{{- end }}

{{/*
The strategic-merge patch that adds the sidecar to notification-controller, for
FluxInstance `spec.kustomize.patches` or a bootstrap kustomization (NOTES prints it).
*/}}
{{- define "fluxsight.sidecarPatch" -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: notification-controller
spec:
  template:
    spec:
      terminationGracePeriodSeconds: 30
      containers:
        - {{- include "fluxsight.container" . | nindent 10 }}
      volumes: {{- include "fluxsight.volumes" . | nindent 8 }}
{{- end }}

{{/* Keeps notification-controller's Services published while fluxsight is down (a crash-looping container makes its pod unready). */}}
{{- define "fluxsight.servicesPatch" -}}
apiVersion: v1
kind: Service
metadata:
  name: notification-controller
spec:
  publishNotReadyAddresses: true
{{- end }}
