{{/*
Names and labels.
*/}}
{{- define "credvault.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "credvault.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "credvault.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "credvault.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: credvault
{{- end -}}

{{/* Selector labels of one component: include "credvault.selectorLabels" (list $ "write") */}}
{{- define "credvault.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "credvault.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "credvault.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "credvault.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "credvault.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/*
The credvaultd workloads of this release, as JSON: a list of
{name, component, suffix, tiers, settings}. combined: one workload running both tiers;
split: a write workload and a decrypt workload, each with server settings overridden by
split.<tier>.
*/}}
{{- define "credvault.workloads" -}}
{{- $workloads := list -}}
{{- if eq .Values.mode "split" -}}
{{- range $tier := list "write" "decrypt" -}}
{{- $settings := mergeOverwrite (deepCopy $.Values.server) (deepCopy (index $.Values.split $tier)) -}}
{{- $workloads = append $workloads (dict "name" (printf "%s-%s" (include "credvault.fullname" $) $tier) "component" $tier "tiers" (list $tier) "settings" $settings) -}}
{{- end -}}
{{- else -}}
{{- $workloads = append $workloads (dict "name" (include "credvault.fullname" .) "component" "server" "tiers" (list "write" "decrypt") "settings" (deepCopy .Values.server)) -}}
{{- end -}}
{{- toJson $workloads -}}
{{- end -}}

{{/* The component label of the pods that serve a tier ("write" or "decrypt"). */}}
{{- define "credvault.componentOf" -}}
{{- $root := index . 0 -}}
{{- if eq $root.Values.mode "split" -}}{{ index . 1 }}{{- else -}}server{{- end -}}
{{- end -}}

{{/*
Cross-key rules that values.schema.json cannot express, each failing with a message
that names the value. Included by every template that renders a workload.
*/}}
{{- define "credvault.validate" -}}
{{- $v := .Values -}}
{{- if not $v.bootstrap.enabled -}}
{{- if not $v.keys.rootKeyPins -}}
{{- fail "keys.rootKeyPins: required with the write tier. On a first install, install with bootstrap.enabled=true, read the pins from the init-root-key Job's log, set them here and upgrade (docs/operations.md)." -}}
{{- end -}}
{{- if not $v.tls.secretName -}}
{{- fail "tls.secretName: required: every listener serves TLS (plaintext is allowed on loopback only, which Kubernetes probes and Services cannot reach)" -}}
{{- end -}}
{{- if not $v.tls.clientCA.secretName -}}
{{- range $name := list "write" "decrypt" "admin" -}}
{{- if (index $v.listeners $name).requireClientCert -}}
{{- fail (printf "listeners.%s.requireClientCert: true needs tls.clientCA.secretName (the CA that issues client certificates)" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and (not $v.policy.existingConfigMap) (not $v.policy.principals) -}}
{{- fail "policy: set policy.principals or policy.existingConfigMap; an empty policy denies every call" -}}
{{- end -}}
{{- /* Each port of a pod is one socket: credvaultd refuses two listeners on one address. */ -}}
{{- $ports := list (list "listeners.write.port" $v.listeners.write.port) (list "listeners.decrypt.port" $v.listeners.decrypt.port) -}}
{{- range $name := list "admin" "health" -}}
{{- if (index $v.listeners $name).enabled -}}
{{- $ports = append $ports (list (printf "listeners.%s.port" $name) (index $v.listeners $name).port) -}}
{{- end -}}
{{- end -}}
{{- if $v.metrics.enabled -}}
{{- $ports = append $ports (list "metrics.port" $v.metrics.port) -}}
{{- end -}}
{{- $seen := dict -}}
{{- range $p := $ports -}}
{{- $port := toString (int (index $p 1)) -}}
{{- if hasKey $seen $port -}}
{{- fail (printf "%s: port %s is also %s; every listener needs a port of its own" (index $p 0) $port (get $seen $port)) -}}
{{- end -}}
{{- $_ := set $seen $port (index $p 0) -}}
{{- end -}}
{{- end -}}
{{- $versions := list -}}
{{- range $version := $v.keys.writerKeys.versions -}}{{- $versions = append $versions (int $version) -}}{{- end -}}
{{- if not (has (int $v.keys.writerKeys.current) $versions) -}}
{{- fail (printf "keys.writerKeys.current: version %v is not in keys.writerKeys.versions" $v.keys.writerKeys.current) -}}
{{- end -}}
{{- if and (has $v.database.sslmode (list "verify-ca" "verify-full")) (not $v.database.caSecret.name) -}}
{{- fail (printf "database.caSecret.name: required with database.sslmode %s (libpq needs the server's CA certificate)" $v.database.sslmode) -}}
{{- end -}}
{{- if eq $v.keys.sealKey.provider "file" -}}
{{- if not $v.keys.sealKey.file.secretName -}}
{{- fail "keys.sealKey.file.secretName: required with keys.sealKey.provider file" -}}
{{- end -}}
{{- else -}}
{{- $p := $v.keys.sealKey.pkcs11 -}}
{{- if or (not $p.module) (not $p.tokenLabel) (not $p.keyLabel) (not $p.pin.secretName) -}}
{{- fail "keys.sealKey.pkcs11: module, tokenLabel, keyLabel and pin.secretName are required with keys.sealKey.provider pkcs11" -}}
{{- end -}}
{{- end -}}
{{- range $i, $k := $v.keys.previousSealKeys -}}
{{- if eq $k.provider "file" -}}
{{- if not (and $k.file $k.file.secretName) -}}
{{- fail (printf "keys.previousSealKeys[%d].file.secretName: required with provider file" $i) -}}
{{- end -}}
{{- else -}}
{{- $p := $k.pkcs11 | default dict -}}
{{- if or (not $p.module) (not $p.tokenLabel) (not $p.keyLabel) (not (and $p.pin $p.pin.secretName)) -}}
{{- fail (printf "keys.previousSealKeys[%d].pkcs11: module, tokenLabel, keyLabel and pin.secretName are required with provider pkcs11" $i) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $v.keys.auditSigningKey.secretName -}}
{{- fail "keys.auditSigningKey.secretName: required: the decrypt tier signs erasure receipts and audit checkpoints with it (a 32-byte key, made like the seal key; docs/operations.md)" -}}
{{- end -}}
{{- if not $v.keys.keyDirectorySigningKeys.secretName -}}
{{- fail "keys.keyDirectorySigningKeys.secretName: required: the decrypt tier signs org key records with it (key-directory-<version>.key, 32-byte seeds made like the seal key; docs/operations.md)" -}}
{{- end -}}
{{- $directoryVersions := list -}}
{{- range $version := $v.keys.keyDirectorySigningKeys.versions -}}{{- $directoryVersions = append $directoryVersions (int $version) -}}{{- end -}}
{{- if not (has (int $v.keys.keyDirectorySigningKeys.current) $directoryVersions) -}}
{{- fail (printf "keys.keyDirectorySigningKeys.current: version %v is not in keys.keyDirectorySigningKeys.versions" $v.keys.keyDirectorySigningKeys.current) -}}
{{- end -}}
{{- if and (eq $v.mode "split") (not $v.bootstrap.enabled) (not $v.keys.keyDirectoryPins) -}}
{{- fail "keys.keyDirectoryPins: required in mode split: the write tier seals only to org keys signed by a pinned key directory key. Print them with `credvaultd key-directory-pins --config=<the decrypt tier's configuration>` (docs/operations.md)." -}}
{{- end -}}
{{- if lt (int $v.limits.maxRequestBytes) (add (int $v.limits.maxSecretSize) 16384) -}}
{{- fail (printf "limits.maxRequestBytes: must be at least limits.maxSecretSize + 16384 (%d)" (add (int $v.limits.maxSecretSize) 16384)) -}}
{{- end -}}
{{- if gt (int $v.limits.defaultPageSize) (int $v.limits.maxPageSize) -}}
{{- fail "limits.defaultPageSize: must not exceed limits.maxPageSize" -}}
{{- end -}}
{{- if and $v.keyAuthority.clientSecret.name $v.keyAuthority.tokenSecret.name -}}
{{- fail "keyAuthority: set clientSecret.name or tokenSecret.name, not both (the write pods authenticate to the key authority one way)" -}}
{{- end -}}
{{- include "credvault.validatePlatform" . -}}
{{- end -}}

{{/* A listener section of the server configuration: include "credvault.listener" (list $ "write") */}}
{{- define "credvault.listener" -}}
{{- $root := index . 0 -}}
{{- $name := index . 1 -}}
{{- $l := index $root.Values.listeners $name -}}
{{ $name }}:
  address: {{ printf "%s:%d" (include "credvault.hostForAddress" $root) (int $l.port) | quote }}
  tls:
    cert_file: /etc/credvault/tls/server.crt
    key_file: /etc/credvault/tls/server.key
    {{- if $root.Values.tls.clientCA.secretName }}
    client_ca_file: /etc/credvault/client-ca/ca.crt
    {{- end }}
    {{- /* Without a client CA no certificate can be verified; validate refuses that
           combination outside bootstrap, whose init-root-key Job opens no listener. */}}
    require_client_cert: {{ and $l.requireClientCert (not (empty $root.Values.tls.clientCA.secretName)) }}
{{- end -}}

{{- define "credvault.hostForAddress" -}}
{{- if contains ":" .Values.listenHost -}}[{{ .Values.listenHost }}]{{- else -}}{{ .Values.listenHost }}{{- end -}}
{{- end -}}

{{- define "credvault.dbRole" -}}
{{- $root := index . 0 -}}
{{- $role := index . 1 -}}
{{- $r := index $root.Values.database $role -}}
{{ $role }}:
  user: {{ printf "%s_%s" $root.Values.database.rolePrefix $role | quote }}
  password_env: {{ printf "CREDVAULT_DB_%s_PASSWORD" (upper $role) }}
  pool_size: {{ int $r.poolSize }}
{{- end -}}

{{/*
Split mode: whether the write-only pods ask the decrypt tier's KeyAuthorityService
("true" or ""): a write-only process with a client certificate or token for it.
include "credvault.asksKeyAuthority" (dict "root" $ "tiers" (list "write")).
*/}}
{{- define "credvault.asksKeyAuthority" -}}
{{- $ka := .root.Values.keyAuthority -}}
{{- if and (has "write" .tiers) (not (has "decrypt" .tiers)) (or $ka.clientSecret.name $ka.tokenSecret.name) -}}true{{- end -}}
{{- end -}}

{{/*
The credvaultd configuration file (server/config/config_schema.cc) of a process running
`tiers`: include "credvault.config" (dict "root" $ "tiers" (list "write")). Only the
sections of those tiers are rendered: the server refuses sections of tiers it does not
run, and a write-only process must not name the seal key.
*/}}
{{- define "credvault.config" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $write := has "write" .tiers -}}
{{- $decrypt := has "decrypt" .tiers -}}
{{- $s := default $v.server .settings -}}
# Rendered by the credvault Helm chart from its values; see `credvaultd serve --help`.
tiers: [{{ join ", " .tiers }}]
listeners:
  max_connection_age: {{ $s.maxConnectionAge }}
{{- if $write }}
{{ include "credvault.listener" (list $root "write") | indent 2 }}
{{- end }}
{{- if $decrypt }}
{{ include "credvault.listener" (list $root "decrypt") | indent 2 }}
{{- if $v.listeners.admin.enabled }}
{{ include "credvault.listener" (list $root "admin") | indent 2 }}
{{- end }}
{{- end }}
{{- if $v.listeners.health.enabled }}
  health:
    address: {{ printf "%s:%d" (include "credvault.hostForAddress" $root) (int $v.listeners.health.port) | quote }}
{{- end }}
{{- if $v.metrics.enabled }}
metrics:
  address: {{ printf "%s:%d" (include "credvault.hostForAddress" $root) (int $v.metrics.port) | quote }}
{{- end }}
database:
  host: {{ $v.database.host | quote }}
  {{- if kindIs "string" $v.database.port }}
  port: {{ $v.database.port | quote }}
  {{- else }}
  port: {{ int $v.database.port }}
  {{- end }}
  dbname: {{ $v.database.dbname | quote }}
  sslmode: {{ $v.database.sslmode }}
{{- if $v.database.allowInsecureTransport }}
  allow_insecure_transport: true
{{- end }}
  connect_timeout: {{ $v.database.connectTimeout }}
  statement_timeout: {{ $v.database.statementTimeout }}
  acquire_timeout: {{ $v.database.acquireTimeout }}
{{- if $write }}
{{ include "credvault.dbRole" (list $root "writer") | indent 2 }}
{{- end }}
{{- if $decrypt }}
{{ include "credvault.dbRole" (list $root "decryptor") | indent 2 }}
{{ include "credvault.dbRole" (list $root "admin") | indent 2 }}
{{- end }}
keys:
  writer_keys:
    current: {{ int $v.keys.writerKeys.current }}
    files:
    {{- range $version := $v.keys.writerKeys.versions }}
      {{ int $version }}: {{ printf "/etc/credvault/keys/writer-%d.key" (int $version) | quote }}
    {{- end }}
{{- if $v.keys.rootKeyPins }}
  root_key_pins:
  {{- range $version, $pin := $v.keys.rootKeyPins }}
    {{ $version }}: {{ $pin | quote }}
  {{- end }}
{{- end }}
{{- if and $write $v.keys.keyDirectoryPins }}
  key_directory_pins:
  {{- range $version, $pin := $v.keys.keyDirectoryPins }}
    {{ $version }}: {{ $pin | quote }}
  {{- end }}
{{- end }}
{{- if $decrypt }}
  seal_key:
    provider: {{ $v.keys.sealKey.provider }}
  {{- if eq $v.keys.sealKey.provider "file" }}
    file: /etc/credvault/keys/seal.key
  {{- else }}
    pkcs11:
      module: {{ $v.keys.sealKey.pkcs11.module | quote }}
      token_label: {{ $v.keys.sealKey.pkcs11.tokenLabel | quote }}
      key_label: {{ $v.keys.sealKey.pkcs11.keyLabel | quote }}
    {{- if eq $v.keys.sealKey.pkcs11.pin.as "file" }}
      pin_file: /etc/credvault/keys/pkcs11.pin
    {{- else }}
      pin_env: CREDVAULT_PKCS11_PIN
    {{- end }}
  {{- end }}
  {{- with $v.keys.previousSealKeys }}
  previous_seal_keys:
  {{- range $i, $k := . }}
    - provider: {{ $k.provider }}
    {{- if eq $k.provider "file" }}
      file: {{ printf "/etc/credvault/keys/previous-seal-%d.key" $i | quote }}
    {{- else }}
      pkcs11:
        module: {{ $k.pkcs11.module | quote }}
        token_label: {{ $k.pkcs11.tokenLabel | quote }}
        key_label: {{ $k.pkcs11.keyLabel | quote }}
      {{- if eq (default "env" $k.pkcs11.pin.as) "file" }}
        pin_file: {{ printf "/etc/credvault/keys/previous-pkcs11-%d.pin" $i | quote }}
      {{- else }}
        pin_env: {{ printf "CREDVAULT_PKCS11_PIN_PREVIOUS_%d" $i }}
      {{- end }}
    {{- end }}
  {{- end }}
  {{- end }}
  audit_signing_key_file: /etc/credvault/keys/audit-signing.key
  key_directory_signing_keys:
    current: {{ int $v.keys.keyDirectorySigningKeys.current }}
    files:
    {{- range $version := $v.keys.keyDirectorySigningKeys.versions }}
      {{ int $version }}: {{ printf "/etc/credvault/keys/key-directory-%d.key" (int $version) | quote }}
    {{- end }}
{{- end }}
policy_file: /etc/credvault/policy/policy.yaml
{{- with $v.auth.kubernetes }}
{{- if .enabled }}
auth:
  kubernetes:
    issuer: {{ .issuer | quote }}
    audience: {{ .audience | quote }}
    {{- if .jwksFile }}
    jwks_file: {{ .jwksFile | quote }}
    {{- else }}
    jwks_url: {{ .jwksUrl | quote }}
    {{- with .jwksCaFile }}
    jwks_ca_file: {{ . | quote }}
    {{- end }}
    {{- with .jwksTokenFile }}
    jwks_token_file: {{ . | quote }}
    {{- end }}
    {{- end }}
    refresh_interval: {{ .refreshInterval }}
    max_clock_skew: {{ .maxClockSkew }}
{{- end }}
{{- end }}
limits:
  max_secret_size: {{ int $v.limits.maxSecretSize }}
  default_page_size: {{ int $v.limits.defaultPageSize }}
  max_page_size: {{ int $v.limits.maxPageSize }}
  compare_per_minute: {{ int $v.limits.comparePerMinute }}
  max_request_bytes: {{ int $v.limits.maxRequestBytes }}
  max_queued_requests: {{ int $v.limits.maxQueuedRequests }}
  max_requests_per_org: {{ int $v.limits.maxRequestsPerOrg }}
orgs:
  provision_on_first_put: {{ $v.orgs.provisionOnFirstPut }}
idempotency:
  retention: {{ $v.idempotency.retention }}
retention:
  deleted_credentials: {{ $v.retention.deletedCredentials }}
  audit_events: {{ $v.retention.auditEvents }}
  enabled: {{ $v.retention.enabled }}
  interval: {{ $v.retention.interval }}
  batch_size: {{ int $v.retention.batchSize }}
audit_checkpoints:
  interval: {{ $v.auditCheckpoints.interval }}
reseal:
  batch_size: {{ int $v.reseal.batchSize }}
  poll_interval: {{ $v.reseal.pollInterval }}
logging:
  level: {{ $v.logging.level }}
shutdown:
  drain_timeout: {{ printf "%ds" (int $v.shutdown.drainTimeoutSeconds) }}
  pre_stop_delay: {{ $s.shutdown.preStopDelay }}
{{- if include "credvault.asksKeyAuthority" . }}
{{- $ka := $v.keyAuthority }}
key_authority:
  address: {{ printf "%s-decrypt:%d" (include "credvault.fullname" $root) (int $v.listeners.decrypt.port) | quote }}
  {{- with $ka.serverName }}
  server_name: {{ . | quote }}
  {{- end }}
  tls:
    ca_file: /etc/credvault/key-authority/ca.crt
    {{- if $ka.clientSecret.name }}
    cert_file: /etc/credvault/key-authority/tls.crt
    key_file: /etc/credvault/key-authority/tls.key
    {{- end }}
  {{- if $ka.tokenSecret.name }}
  bearer_token_file: /etc/credvault/key-authority/token
  {{- end }}
{{- end }}
{{- end -}}

{{/*
Hardened security contexts. Every credvault container runs as non-root with a read-only
root filesystem, no capabilities and no privilege escalation, under the seccomp profile
of securityContext.seccompProfile (RuntimeDefault unless a Localhost profile is named).
The ids are omitted when openshift is true or an id is null, so that OpenShift's
restricted SCC assigns them from the namespace's range. podSecurityContext and
containerSecurityContext add or replace fields (null removes one); validate refuses an
override that would undo the hardening.
*/}}
{{- define "credvault.securityIds" -}}
{{- $ids := dict -}}
{{- if not .Values.openshift -}}
{{- range $key := list "runAsUser" "runAsGroup" -}}
{{- $id := index $.Values.securityContext $key -}}
{{- if not (kindIs "invalid" $id) -}}{{- $_ := set $ids $key (int $id) -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- toJson $ids -}}
{{- end -}}

{{- define "credvault.overlaySecurityContext" -}}
{{- $base := index . 0 -}}
{{- range $key, $value := index . 1 -}}
{{- if kindIs "invalid" $value -}}{{- $_ := unset $base $key -}}{{- else -}}{{- $_ := set $base $key $value -}}{{- end -}}
{{- end -}}
{{- toYaml $base -}}
{{- end -}}

{{- define "credvault.podSecurityContext" -}}
{{- $v := .Values -}}
{{- $sc := include "credvault.securityIds" . | fromJson -}}
{{- $_ := set $sc "runAsNonRoot" true -}}
{{- if and (not $v.openshift) (not (kindIs "invalid" $v.securityContext.fsGroup)) -}}
{{- $_ := set $sc "fsGroup" (int $v.securityContext.fsGroup) -}}
{{- end -}}
{{- with $v.securityContext.fsGroupChangePolicy -}}{{- $_ := set $sc "fsGroupChangePolicy" . -}}{{- end -}}
{{- $_ = set $sc "seccompProfile" (deepCopy $v.securityContext.seccompProfile) -}}
{{- include "credvault.overlaySecurityContext" (list $sc (deepCopy (default dict $v.podSecurityContext))) -}}
{{- end -}}

{{- define "credvault.containerSecurityContext" -}}
{{- $v := .Values -}}
{{- $sc := include "credvault.securityIds" . | fromJson -}}
{{- $_ := set $sc "runAsNonRoot" true -}}
{{- $_ = set $sc "allowPrivilegeEscalation" false -}}
{{- $_ = set $sc "privileged" false -}}
{{- $_ = set $sc "readOnlyRootFilesystem" true -}}
{{- $_ = set $sc "capabilities" (dict "drop" (list "ALL")) -}}
{{- $_ = set $sc "seccompProfile" (deepCopy $v.securityContext.seccompProfile) -}}
{{- /* An id the pod-level override sets or removes (null) holds for the container too. */ -}}
{{- $podIds := dict -}}
{{- range $key := list "runAsUser" "runAsGroup" -}}
{{- if hasKey (default dict $v.podSecurityContext) $key -}}{{- $_ := set $podIds $key (index $v.podSecurityContext $key) -}}{{- end -}}
{{- end -}}
{{- $sc = include "credvault.overlaySecurityContext" (list $sc $podIds) | fromYaml -}}
{{- include "credvault.overlaySecurityContext" (list $sc (deepCopy (default dict $v.containerSecurityContext))) -}}
{{- end -}}

{{/* Environment of a database role's password: include "credvault.dbPasswordEnv" (list $ "writer") */}}
{{- define "credvault.dbPasswordEnv" -}}
{{- $root := index . 0 -}}
{{- $role := index . 1 -}}
{{- $s := (index $root.Values.database $role).passwordSecret -}}
- name: {{ printf "CREDVAULT_DB_%s_PASSWORD" (upper $role) }}
  valueFrom:
    secretKeyRef:
      name: {{ $s.name | quote }}
      key: {{ $s.key | quote }}
{{- end -}}

{{- define "credvault.dbCaEnv" -}}
{{- if .Values.database.caSecret.name -}}
- name: PGSSLROOTCERT
  value: /etc/credvault/db-ca/ca.crt
{{- end }}
{{- end -}}

{{- define "credvault.dbCaVolume" -}}
{{- if .Values.database.caSecret.name -}}
- name: db-ca
  secret:
    secretName: {{ .Values.database.caSecret.name | quote }}
    defaultMode: 288 # 0440
    items:
      - key: {{ .Values.database.caSecret.key | quote }}
        path: ca.crt
{{- end }}
{{- end -}}

{{- define "credvault.dbCaMount" -}}
{{- if .Values.database.caSecret.name -}}
- name: db-ca
  mountPath: /etc/credvault/db-ca
  readOnly: true
{{- end }}
{{- end -}}

{{/*
Key material of a process running `tiers`, as {volumes, mounts, env} in JSON.
Key files are mounted one by one with subPath: credvaultd opens key files with
O_NOFOLLOW and refuses a symbolic link, and a Secret volume presents its entries as
links into a timestamped directory. A subPath mount is the file itself. (It also means
a changed key Secret reaches a pod only when the pod restarts.)
*/}}
{{- define "credvault.keyMaterial" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $decrypt := has "decrypt" .tiers -}}
{{- $volumes := list -}}
{{- $mounts := list -}}
{{- $env := list -}}
{{- $items := list -}}
{{- range $version := $v.keys.writerKeys.versions -}}
{{- $items = append $items (dict "key" (printf "writer-%d.key" (int $version)) "path" (printf "writer-%d.key" (int $version))) -}}
{{- $mounts = append $mounts (dict "name" "writer-keys" "mountPath" (printf "/etc/credvault/keys/writer-%d.key" (int $version)) "subPath" (printf "writer-%d.key" (int $version)) "readOnly" true) -}}
{{- end -}}
{{- $volumes = append $volumes (dict "name" "writer-keys" "secret" (dict "secretName" $v.keys.writerKeys.secretName "defaultMode" 288 "items" $items)) -}}
{{- if $decrypt -}}
{{- if eq $v.keys.sealKey.provider "file" -}}
{{- $volumes = append $volumes (dict "name" "seal-key" "secret" (dict "secretName" $v.keys.sealKey.file.secretName "defaultMode" 288 "items" (list (dict "key" $v.keys.sealKey.file.key "path" "seal.key")))) -}}
{{- $mounts = append $mounts (dict "name" "seal-key" "mountPath" "/etc/credvault/keys/seal.key" "subPath" "seal.key" "readOnly" true) -}}
{{- else -}}
{{- $p := $v.keys.sealKey.pkcs11 -}}
{{- if eq $p.pin.as "file" -}}
{{- $volumes = append $volumes (dict "name" "pkcs11-pin" "secret" (dict "secretName" $p.pin.secretName "defaultMode" 288 "items" (list (dict "key" $p.pin.key "path" "pkcs11.pin")))) -}}
{{- $mounts = append $mounts (dict "name" "pkcs11-pin" "mountPath" "/etc/credvault/keys/pkcs11.pin" "subPath" "pkcs11.pin" "readOnly" true) -}}
{{- else -}}
{{- $env = append $env (dict "name" "CREDVAULT_PKCS11_PIN" "valueFrom" (dict "secretKeyRef" (dict "name" $p.pin.secretName "key" $p.pin.key))) -}}
{{- end -}}
{{- end -}}
{{- $hsm := eq $v.keys.sealKey.provider "pkcs11" -}}
{{- range $i, $k := $v.keys.previousSealKeys -}}
{{- if eq $k.provider "file" -}}
{{- $name := printf "previous-seal-key-%d" $i -}}
{{- $path := printf "previous-seal-%d.key" $i -}}
{{- $volumes = append $volumes (dict "name" $name "secret" (dict "secretName" $k.file.secretName "defaultMode" 288 "items" (list (dict "key" (default "seal.key" $k.file.key) "path" $path)))) -}}
{{- $mounts = append $mounts (dict "name" $name "mountPath" (printf "/etc/credvault/keys/%s" $path) "subPath" $path "readOnly" true) -}}
{{- else -}}
{{- $hsm = true -}}
{{- $pin := $k.pkcs11.pin -}}
{{- if eq (default "env" $pin.as) "file" -}}
{{- $name := printf "previous-pkcs11-pin-%d" $i -}}
{{- $path := printf "previous-pkcs11-%d.pin" $i -}}
{{- $volumes = append $volumes (dict "name" $name "secret" (dict "secretName" $pin.secretName "defaultMode" 288 "items" (list (dict "key" (default "pin" $pin.key) "path" $path)))) -}}
{{- $mounts = append $mounts (dict "name" $name "mountPath" (printf "/etc/credvault/keys/%s" $path) "subPath" $path "readOnly" true) -}}
{{- else -}}
{{- $env = append $env (dict "name" (printf "CREDVAULT_PKCS11_PIN_PREVIOUS_%d" $i) "valueFrom" (dict "secretKeyRef" (dict "name" $pin.secretName "key" (default "pin" $pin.key)))) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $hsm -}}
{{- $p := $v.keys.sealKey.pkcs11 -}}
{{- $volumes = concat $volumes $p.volumes -}}
{{- $mounts = concat $mounts $p.volumeMounts -}}
{{- $env = concat $env $p.env -}}
{{- end -}}
{{- $volumes = append $volumes (dict "name" "audit-signing-key" "secret" (dict "secretName" $v.keys.auditSigningKey.secretName "defaultMode" 288 "items" (list (dict "key" $v.keys.auditSigningKey.key "path" "audit-signing.key")))) -}}
{{- $mounts = append $mounts (dict "name" "audit-signing-key" "mountPath" "/etc/credvault/keys/audit-signing.key" "subPath" "audit-signing.key" "readOnly" true) -}}
{{- $directoryItems := list -}}
{{- range $version := $v.keys.keyDirectorySigningKeys.versions -}}
{{- $directoryItems = append $directoryItems (dict "key" (printf "key-directory-%d.key" (int $version)) "path" (printf "key-directory-%d.key" (int $version))) -}}
{{- $mounts = append $mounts (dict "name" "key-directory-keys" "mountPath" (printf "/etc/credvault/keys/key-directory-%d.key" (int $version)) "subPath" (printf "key-directory-%d.key" (int $version)) "readOnly" true) -}}
{{- end -}}
{{- $volumes = append $volumes (dict "name" "key-directory-keys" "secret" (dict "secretName" $v.keys.keyDirectorySigningKeys.secretName "defaultMode" 288 "items" $directoryItems)) -}}
{{- end -}}
{{- if include "credvault.asksKeyAuthority" . -}}
{{- /* Split mode: what the write pods show the key authority, and the CA they check it with. */ -}}
{{- $ka := $v.keyAuthority -}}
{{- $volumes = append $volumes (dict "name" "key-authority-ca" "secret" (dict "secretName" (default $v.tls.secretName $ka.caSecret.name) "defaultMode" 288 "items" (list (dict "key" $ka.caSecret.key "path" "ca.crt")))) -}}
{{- $mounts = append $mounts (dict "name" "key-authority-ca" "mountPath" "/etc/credvault/key-authority/ca.crt" "subPath" "ca.crt" "readOnly" true) -}}
{{- if $ka.clientSecret.name -}}
{{- $volumes = append $volumes (dict "name" "key-authority-client" "secret" (dict "secretName" $ka.clientSecret.name "defaultMode" 288 "items" (list (dict "key" $ka.clientSecret.certKey "path" "tls.crt") (dict "key" $ka.clientSecret.keyKey "path" "tls.key")))) -}}
{{- $mounts = append $mounts (dict "name" "key-authority-client" "mountPath" "/etc/credvault/key-authority/tls.crt" "subPath" "tls.crt" "readOnly" true) -}}
{{- $mounts = append $mounts (dict "name" "key-authority-client" "mountPath" "/etc/credvault/key-authority/tls.key" "subPath" "tls.key" "readOnly" true) -}}
{{- else -}}
{{- $volumes = append $volumes (dict "name" "key-authority-token" "secret" (dict "secretName" $ka.tokenSecret.name "defaultMode" 288 "items" (list (dict "key" $ka.tokenSecret.key "path" "token")))) -}}
{{- $mounts = append $mounts (dict "name" "key-authority-token" "mountPath" "/etc/credvault/key-authority/token" "subPath" "token" "readOnly" true) -}}
{{- end -}}
{{- end -}}
{{- toJson (dict "volumes" $volumes "mounts" $mounts "env" $env) -}}
{{- end -}}


{{/*
Cross-key rules of the Services and routes, NetworkPolicy, pod labels, autoscaling and
pod security: each renders nothing or fails naming the value.
*/}}
{{- define "credvault.validatePlatform" -}}
{{- $v := .Values -}}
{{- if ne $v.service.type "ClusterIP" -}}
{{- fail (printf "service.type: %s would apply to every Service, exposing the decrypt and admin listeners too; it only takes ClusterIP now. Set service.write.type (and service.decrypt.type or service.admin.type only if they must be reachable from outside the cluster) instead." $v.service.type) -}}
{{- end -}}
{{- range $name := list "write" "decrypt" "admin" -}}
{{- $s := index $v.service $name -}}
{{- if and $s.ingress.enabled (not $s.ingress.host) -}}
{{- fail (printf "service.%s.ingress.host: required with service.%s.ingress.enabled (TLS passthrough routes by the SNI host name)" $name $name) -}}
{{- end -}}
{{- if and $s.tlsRoute.enabled (not $s.tlsRoute.parentRefs) -}}
{{- fail (printf "service.%s.tlsRoute.parentRefs: required with service.%s.tlsRoute.enabled (the Gateway listener in Passthrough mode that carries it)" $name $name) -}}
{{- end -}}
{{- if and (or $s.loadBalancerSourceRanges $s.externalTrafficPolicy) (not (has (default $v.service.type $s.type) (list "LoadBalancer" "NodePort"))) -}}
{{- fail (printf "service.%s: loadBalancerSourceRanges and externalTrafficPolicy apply only to type LoadBalancer or NodePort (service.%s.type)" $name $name) -}}
{{- end -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled $v.networkPolicy.egress.enabled (not $v.networkPolicy.egress.to) -}}
{{- fail "networkPolicy.egress.to: required with networkPolicy.egress.enabled: without an egress rule for the database (PostgreSQL host and port) every pod stays unready and the migration Job cannot connect" -}}
{{- end -}}
{{- /* The chart's own labels: a podLabels entry with one of these keys would change a
       selector label (the Deployment's selector is immutable and must match its pods)
       or repeat a key, which the API server refuses. */ -}}
{{- $reserved := list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "app.kubernetes.io/part-of" "helm.sh/chart" -}}
{{- $labelSets := list (list "server.podLabels" $v.server.podLabels) (list "migration.podLabels" $v.migration.podLabels) -}}
{{- range $tier := list "write" "decrypt" -}}
{{- with (index $v.split $tier).podLabels -}}{{- $labelSets = append $labelSets (list (printf "split.%s.podLabels" $tier) .) -}}{{- end -}}
{{- end -}}
{{- range $set := $labelSets -}}
{{- range $key, $_ := index $set 1 -}}
{{- if has $key $reserved -}}
{{- fail (printf "%s: %s is set by the chart (a selector or standard label of its pods); use another key" (index $set 0) $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if not $v.bootstrap.enabled -}}
{{- range $w := include "credvault.workloads" . | fromJsonArray -}}
{{- $a := $w.settings.autoscaling -}}
{{- if and $a.enabled (gt (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- $where := ternary (printf "split.%s.autoscaling" $w.component) "server.autoscaling" (eq $v.mode "split") -}}
{{- fail (printf "%s: minReplicas %d is greater than maxReplicas %d" $where (int $a.minReplicas) (int $a.maxReplicas)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $seccomp := $v.securityContext.seccompProfile -}}
{{- if and (eq $seccomp.type "Localhost") (not $seccomp.localhostProfile) -}}
{{- fail "securityContext.seccompProfile.localhostProfile: required with type Localhost (the profile's path under the kubelet's seccomp directory)" -}}
{{- end -}}
{{- if and (ne $seccomp.type "Localhost") $seccomp.localhostProfile -}}
{{- fail "securityContext.seccompProfile.localhostProfile: only with type Localhost" -}}
{{- end -}}
{{- range $key := list "runAsUser" "runAsGroup" -}}
{{- $id := index $v.securityContext $key -}}
{{- if and (not (kindIs "invalid" $id)) (eq (int $id) 0) -}}
{{- fail (printf "securityContext.%s: 0 is root; credvault runs as non-root (null or openshift: true lets the platform choose the id)" $key) -}}
{{- end -}}
{{- end -}}
{{- range $what := list "podSecurityContext" "containerSecurityContext" -}}
{{- $o := default dict (index $v $what) -}}
{{- range $key, $want := dict "runAsNonRoot" true "allowPrivilegeEscalation" false "privileged" false "readOnlyRootFilesystem" true -}}
{{- if and (hasKey $o $key) (ne (toString (index $o $key)) (toString $want)) -}}
{{- fail (printf "%s.%s: the chart keeps it %v (hardened pods); it cannot be overridden" $what $key $want) -}}
{{- end -}}
{{- end -}}
{{- range $key := list "capabilities" "seccompProfile" "runAsUser" "runAsGroup" -}}
{{- if and (hasKey $o $key) (not (kindIs "invalid" (index $o $key))) (or (ne $key "runAsUser") (eq (int (index $o $key)) 0)) (or (ne $key "runAsGroup") (eq (int (index $o $key)) 0)) -}}
{{- fail (printf "%s.%s: set it with securityContext (ids, seccompProfile) instead; capabilities stay dropped and a 0 id is root" $what $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Egress rules of every pod under networkPolicy.egress: DNS, then the configured rules. */}}
{{- define "credvault.egressRules" -}}
{{- $e := .Values.networkPolicy.egress -}}
# DNS.
- to:
    {{- toYaml $e.dns.to | nindent 4 }}
  ports:
    {{- toYaml $e.dns.ports | nindent 4 }}
{{- with $e.to }}
{{ toYaml . }}
{{- end }}
{{- end -}}
