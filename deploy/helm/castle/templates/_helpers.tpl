{{/*
Names, labels and the node layout shared by every template. Pools: "controller" (the voters
of the metadata quorum, StatefulSet <fullname>) and "broker" (broker-only nodes, StatefulSet
<fullname>-broker, rendered only when brokers.replicas > 0).
*/}}

{{- define "castle.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-castle, or the release name alone when it already contains the chart's name. */}}
{{- define "castle.fullname" -}}
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

{{- define "castle.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "castle.headless" -}}
{{- printf "%s-headless" (include "castle.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "castle.clusterIdSecret" -}}
{{- printf "%s-cluster-id" (include "castle.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "castle.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "castle.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "castle.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "castle.selectorLabels" -}}
app.kubernetes.io/name: {{ include "castle.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "castle.labels" -}}
helm.sh/chart: {{ include "castle.chart" . }}
{{ include "castle.selectorLabels" . }}
app.kubernetes.io/version: {{ default .Chart.AppVersion .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The DNS name of a pod of a pool: <pod>.<headless>.<namespace>.svc.<clusterDomain>. */}}
{{- define "castle.podHost" -}}
{{- printf "%s-%d.%s.%s.svc.%s" .statefulSet (int .ordinal) (include "castle.headless" .root) .root.Release.Namespace .root.Values.clusterDomain -}}
{{- end -}}

{{/* controller.quorum.voters: id@<controller pod DNS name>:<controller port>, id = ordinal + 1. */}}
{{- define "castle.voters" -}}
{{- $root := . -}}
{{- $voters := list -}}
{{- range $ordinal := until (int .Values.controllers.replicas) -}}
{{- $host := include "castle.podHost" (dict "root" $root "statefulSet" (include "castle.fullname" $root) "ordinal" $ordinal) -}}
{{- $voters = append $voters (printf "%d@%s:%d" (add1 $ordinal) $host (int $root.Values.ports.controller)) -}}
{{- end -}}
{{- join "," $voters -}}
{{- end -}}

{{/*
The pools as a JSON list (templates range over `include "castle.pools" . | fromJsonArray`):
name, statefulSet, replicas, roles, nodeIdOffset, resources, config, and whether it serves clients.
*/}}
{{- define "castle.pools" -}}
{{- $fullname := include "castle.fullname" . -}}
{{- $pools := list -}}
{{- $controllerRoles := ternary "broker,controller" "controller" .Values.controllers.combined -}}
{{- $pools = append $pools (dict
    "name" "controller"
    "statefulSet" $fullname
    "replicas" (int .Values.controllers.replicas)
    "roles" $controllerRoles
    "broker" .Values.controllers.combined
    "nodeIdOffset" 1
    "resources" (default .Values.resources .Values.controllers.resources)
    "config" (default dict .Values.controllers.config)) -}}
{{- if gt (int .Values.brokers.replicas) 0 -}}
{{- $pools = append $pools (dict
    "name" "broker"
    "statefulSet" (printf "%s-broker" $fullname | trunc 63 | trimSuffix "-")
    "replicas" (int .Values.brokers.replicas)
    "roles" "broker"
    "broker" true
    "nodeIdOffset" (int .Values.brokers.nodeIdOffset)
    "resources" (default .Values.resources .Values.brokers.resources)
    "config" (default dict .Values.brokers.config)) -}}
{{- end -}}
{{- toJson $pools -}}
{{- end -}}

{{/* A config value as the server reads it: integers without an exponent (YAML numbers arrive as float64). */}}
{{- define "castle.configValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq (float64 (int64 .)) . -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else -}}
{{- . -}}
{{- end -}}
{{- end -}}

{{/* The env of a node's containers; castle-node.sh turns it into CASTLE_NODE_ID and CASTLE_ADVERTISED_HOST. */}}
{{- define "castle.podEnv" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: NODE_ID_OFFSET
  value: {{ int .pool.nodeIdOffset | quote }}
- name: HEADLESS_SERVICE
  value: {{ include "castle.headless" .root }}
- name: CLUSTER_DOMAIN
  value: {{ .root.Values.clusterDomain }}
- name: CONFIG_FILE
  value: /etc/castle/{{ .pool.name }}.properties
- name: CASTLE_CLUSTER_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "castle.clusterIdSecret" .root }}
      key: cluster-id
{{- end -}}

{{- define "castle.volumeMounts" -}}
- name: config
  mountPath: /etc/castle
  readOnly: true
- name: data
  mountPath: {{ .Values.persistence.mountPath }}
- name: tmp
  mountPath: /tmp
{{- end -}}
