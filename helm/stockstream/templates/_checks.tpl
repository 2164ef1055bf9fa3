{{/*
What values.schema.json cannot say: checks across values, failing the render with the values'
names. Included by the worker StatefulSet, which every release renders.
*/}}
{{- define "stockstream.checks" -}}
{{- $partitions := int .Values.kafka.partitions -}}
{{- $auto := .Values.autoscaling -}}

{{- /* A partition has one owner: a worker beyond the partition count owns nothing, and its
       /health never turns ready. */ -}}
{{- if $auto.enabled -}}
{{- if gt (int $auto.maxReplicas) $partitions -}}
{{- fail (printf "autoscaling.maxReplicas (%d) exceeds kafka.partitions (%d): a worker beyond the partition count owns nothing; lower autoscaling.maxReplicas or add partitions" (int $auto.maxReplicas) $partitions) -}}
{{- end -}}
{{- if gt (int $auto.minReplicas) (int $auto.maxReplicas) -}}
{{- fail (printf "autoscaling.minReplicas (%d) exceeds autoscaling.maxReplicas (%d)" (int $auto.minReplicas) (int $auto.maxReplicas)) -}}
{{- end -}}
{{- else if gt (int .Values.worker.replicaCount) $partitions -}}
{{- fail (printf "worker.replicaCount (%d) exceeds kafka.partitions (%d): a worker beyond the partition count owns nothing; lower worker.replicaCount or add partitions" (int .Values.worker.replicaCount) $partitions) -}}
{{- end -}}

{{- /* Memory: one RocksDB per partitioned table (positions, reservation_requests,
       channel_state in tables/store.py) per partition held. A worker holds its active
       partitions and as many standbys (one standby replica), and the estimate assumes one
       worker away (a drain, a crash) with its partitions spread over the others. */ -}}
{{- $tables := 3 -}}
{{- $replicas := int (ternary $auto.minReplicas .Values.worker.replicaCount $auto.enabled) -}}
{{- $survivors := max 1 (sub $replicas 1) -}}
{{- $held := min $partitions (div (add (mul 2 $partitions) $survivors -1) $survivors) -}}
{{- $rocksdb := .Values.worker.rocksdb -}}
{{- $perStore := add $rocksdb.blockCacheMB (mul 2 $rocksdb.writeBufferMB) -}}
{{- $needed := add .Values.worker.processMemoryMB (mul $held $tables $perStore) -}}
{{- $request := .Values.worker.resources.requests.memory -}}
{{- if lt (int64 (include "stockstream.mebibytes" $request)) (int64 $needed) -}}
{{- $when := ternary (printf "with one of the %d workers away" $replicas) "as the only worker" (gt $replicas 1) -}}
{{- fail (printf "worker.resources.requests.memory (%s) is below the %dMi a worker needs: worker.processMemoryMB %d + %d partitions held (%s) x %d tables x (worker.rocksdb.blockCacheMB %d + 2 x worker.rocksdb.writeBufferMB %d); raise the request or lower the RocksDB sizes" (toString $request) (int64 $needed) (int .Values.worker.processMemoryMB) (int $held) $when $tables (int $rocksdb.blockCacheMB) (int $rocksdb.writeBufferMB)) -}}
{{- end -}}
{{- with .Values.worker.resources.limits -}}
{{- if and .memory (lt (int64 (include "stockstream.mebibytes" .memory)) (int64 (include "stockstream.mebibytes" $request))) -}}
{{- fail (printf "worker.resources.limits.memory (%s) is below worker.resources.requests.memory (%s)" (toString .memory) (toString $request)) -}}
{{- end -}}
{{- end -}}

{{- if include "stockstream.sasl" . -}}
{{- if not (and .Values.kafka.sasl.username .Values.kafka.sasl.passwordSecret.name) -}}
{{- fail (printf "kafka.securityProtocol %s needs kafka.sasl.username and kafka.sasl.passwordSecret.name" .Values.kafka.securityProtocol) -}}
{{- end -}}
{{- end -}}

{{- range $name, $sink := .Values.sinks -}}
{{- /* The sink refuses to start without every variable its config names. */ -}}
{{- range $field, $var := $sink.config -}}
{{- if and (hasSuffix "_env" $field) (not (hasKey (default dict $sink.secretEnv) (toString $var))) -}}
{{- fail (printf "sinks.%s.config.%s names %s: set it in sinks.%s.secretEnv.%s (a Secret's name and key)" $name $field $var $name $var) -}}
{{- end -}}
{{- end -}}
{{- /* An EDI 846 sink's files and interchange control numbers must outlive the pod. */ -}}
{{- if eq $sink.config.kind "edi846" -}}
{{- if not $sink.storage -}}
{{- fail (printf "sinks.%s is an edi846 sink: give sinks.%s.storage, a volume for its files and control numbers" $name $name) -}}
{{- end -}}
{{- if not (hasPrefix (printf "%s/" (include "stockstream.spoolDir" $)) (toString $sink.config.directory)) -}}
{{- fail (printf "sinks.%s.config.directory must lie under %s, where sinks.%s.storage is mounted" $name (include "stockstream.spoolDir" $) $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
