{{/*
Rules values.schema.json cannot express; each refuses with the value to change. Included
(output discarded) by every template that renders objects, so `helm template --show-only`
of any one file still checks them.
*/}}
{{- define "castle.validate" -}}
{{- $voters := int .Values.controllers.replicas -}}
{{- if and (eq (mod $voters 2) 0) (not .Values.controllers.allowEvenReplicas) -}}
{{- fail (printf "controllers.replicas=%d is even: a Raft quorum of %d voters tolerates no more failures than one of %d. Use an odd count (3 or 5), or set controllers.allowEvenReplicas=true to run it anyway." $voters $voters (sub $voters 1)) -}}
{{- end -}}
{{- if and (not .Values.controllers.combined) (lt (int .Values.brokers.replicas) 1) -}}
{{- fail "controllers.combined=false makes the voters controller-only, so nothing would serve clients: set brokers.replicas to 1 or more." -}}
{{- end -}}
{{- if and (gt (int .Values.brokers.replicas) 0) (le (int .Values.brokers.nodeIdOffset) $voters) -}}
{{- fail (printf "brokers.nodeIdOffset=%d collides with the voters' node ids 1..%d: set it above controllers.replicas." (int .Values.brokers.nodeIdOffset) $voters) -}}
{{- end -}}
{{- if and .Values.persistence.enabled .Values.persistence.requireStorageClass (not .Values.persistence.storageClass) -}}
{{- fail "persistence.requireStorageClass=true but persistence.storageClass is empty: name the StorageClass for the data volumes (kubectl get storageclass), or set persistence.enabled=false to keep data in an emptyDir." -}}
{{- end -}}
{{- $owned := list "node.id" "cluster.id" "process.roles" "controller.quorum.voters" "data.dir" "client.port" "controller.port" "http.port" "listener.host" "advertised.host" -}}
{{- range $where, $config := dict "config" .Values.config "controllers.config" .Values.controllers.config "brokers.config" .Values.brokers.config -}}
{{- range $key, $_ := $config -}}
{{- if has $key $owned -}}
{{- fail (printf "%s sets %s, which the chart sets itself from the pod and its values (ports.*, clusterId, controllers.*); remove it." $where $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
