{{/* Names. 40 characters leave room for "-worker-peers" and the StatefulSet's revision label. */}}
{{- define "stockstream.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "stockstream.worker" -}}{{ include "stockstream.fullname" . }}-worker{{- end -}}
{{/* The headless Service: each worker's stable DNS name, for requests forwarded to a key's owner. */}}
{{- define "stockstream.peers" -}}{{ include "stockstream.fullname" . }}-worker-peers{{- end -}}
{{- define "stockstream.sink" -}}{{ include "stockstream.fullname" .root }}-sink-{{ .name }}{{- end -}}

{{- define "stockstream.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "stockstream.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "stockstream.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{/* Labels: selectorLabels never change after install (selectors are immutable). */}}
{{- define "stockstream.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "stockstream.labels" -}}
{{ include "stockstream.selectorLabels" . }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: stockstream
{{- end -}}

{{/* Kafka security in use: SASL, and TLS files (a CA or a client certificate) to mount. */}}
{{- define "stockstream.sasl" -}}{{ if hasPrefix "SASL_" .Values.kafka.securityProtocol }}true{{ end }}{{- end -}}
{{- define "stockstream.tlsFiles" -}}
{{- $tls := .Values.kafka.tls -}}
{{- if and (has .Values.kafka.securityProtocol (list "SSL" "SASL_SSL")) (or $tls.caSecret.name $tls.clientCertSecret.name) }}true{{ end -}}
{{- end -}}

{{- define "stockstream.tlsDir" -}}/etc/stockstream/kafka-tls{{- end -}}

{{/* The environment every stockstream container shares: Kafka, its security, the log level. */}}
{{- define "stockstream.env" -}}
- name: STOCKSTREAM_KAFKA_BOOTSTRAP
  value: {{ .Values.kafka.bootstrap | quote }}
- name: STOCKSTREAM_TOPIC_PREFIX
  value: {{ .Values.kafka.topicPrefix | quote }}
- name: STOCKSTREAM_PARTITIONS
  value: {{ int64 .Values.kafka.partitions | quote }}
- name: STOCKSTREAM_REPLICATION_FACTOR
  value: {{ int64 .Values.kafka.replicationFactor | quote }}
- name: STOCKSTREAM_SCHEMA_REGISTRY_URL
  value: {{ .Values.kafka.schemaRegistryUrl | quote }}
- name: STOCKSTREAM_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: STOCKSTREAM_SECURITY_PROTOCOL
  value: {{ .Values.kafka.securityProtocol | quote }}
{{- if include "stockstream.sasl" . }}
{{- with .Values.kafka.sasl }}
- name: STOCKSTREAM_SASL_MECHANISM
  value: {{ .mechanism | quote }}
- name: STOCKSTREAM_SASL_USERNAME
  value: {{ .username | quote }}
- name: STOCKSTREAM_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .passwordSecret.name }}
      key: {{ .passwordSecret.key }}
{{- end }}
{{- end }}
{{- if include "stockstream.tlsFiles" . }}
{{- if .Values.kafka.tls.caSecret.name }}
- name: STOCKSTREAM_SSL_CAFILE
  value: {{ include "stockstream.tlsDir" . }}/ca.crt
{{- end }}
{{- if .Values.kafka.tls.clientCertSecret.name }}
- name: STOCKSTREAM_SSL_CERTFILE
  value: {{ include "stockstream.tlsDir" . }}/client.crt
- name: STOCKSTREAM_SSL_KEYFILE
  value: {{ include "stockstream.tlsDir" . }}/client.key
{{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The Kafka TLS files, from their Secrets, under one directory with fixed names. */}}
{{- define "stockstream.tlsVolume" -}}
{{- if include "stockstream.tlsFiles" . -}}
{{- $tls := .Values.kafka.tls -}}
- name: kafka-tls
  projected:
    defaultMode: 0440
    sources:
    {{- with $tls.caSecret }}
    {{- if .name }}
      - secret:
          name: {{ .name }}
          items:
            - {key: {{ .key | quote }}, path: ca.crt}
    {{- end }}
    {{- end }}
    {{- with $tls.clientCertSecret }}
    {{- if .name }}
      - secret:
          name: {{ .name }}
          items:
            - {key: {{ .certKey | quote }}, path: client.crt}
            - {key: {{ .keyKey | quote }}, path: client.key}
    {{- end }}
    {{- end }}
{{- end }}
{{- end -}}

{{- define "stockstream.tlsMount" -}}
{{- if include "stockstream.tlsFiles" . -}}
- name: kafka-tls
  mountPath: {{ include "stockstream.tlsDir" . }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* A memory quantity ("1Gi", "1536Mi", "2G", "805306368") in MiB, rounded down. */}}
{{- define "stockstream.mebibytes" -}}
{{- $q := toString . -}}
{{- $units := dict "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 -}}
{{- $bytes := 0.0 -}}
{{- $unit := regexFind "(Ki|Mi|Gi|Ti|k|M|G|T)$" $q -}}
{{- if $unit -}}
{{- $bytes = mulf (trimSuffix $unit $q | float64) (get $units $unit) -}}
{{- else -}}
{{- $bytes = float64 $q -}}
{{- end -}}
{{- divf $bytes 1048576.0 | floor | int64 -}}
{{- end -}}

{{/* Pod settings every stockstream pod shares (the service account apart: the init Job
runs before it exists). */}}
{{- define "stockstream.podSpec" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Where a sink's storage is mounted (an edi846 sink's directory lies under it). */}}
{{- define "stockstream.spoolDir" -}}/var/spool/stockstream{{- end -}}
