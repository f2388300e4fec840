{{/*
Graceful stop, connection age, probes and the helm test: helpers and cross-key rules.
*/}}

{{/* Seconds of a duration written as values.schema.json allows it ("1h30m", "90s", "5s"). */}}
{{- define "credvault.durationSeconds" -}}
{{- $d := toString . -}}
{{- $total := 0 -}}
{{- range $unit, $factor := dict "h" 3600 "m" 60 "s" 1 -}}
{{- $part := regexFind (printf "[0-9]+%s" $unit) $d -}}
{{- if $part -}}
{{- $total = add $total (mul (int (trimSuffix $unit $part)) $factor) -}}
{{- end -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
The pod's terminationGracePeriodSeconds for a workload's settings:
include "credvault.terminationGracePeriod" (list $ $w.settings). It must exceed the
pre-stop delay plus the drain timeout, or the kubelet's SIGKILL cuts the drain short.
*/}}
{{- define "credvault.terminationGracePeriod" -}}
{{- $root := index . 0 -}}
{{- $s := index . 1 -}}
{{- if kindIs "invalid" $s.terminationGracePeriodSeconds -}}
{{- add (include "credvault.durationSeconds" $s.shutdown.preStopDelay | int) (int $root.Values.shutdown.drainTimeoutSeconds) 10 -}}
{{- else -}}
{{- int $s.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/* One probe's timings: include "credvault.probeTimings" $s.probes.startup */}}
{{- define "credvault.probeTimings" -}}
initialDelaySeconds: {{ int .initialDelaySeconds }}
periodSeconds: {{ int .periodSeconds }}
timeoutSeconds: {{ int .timeoutSeconds }}
failureThreshold: {{ int .failureThreshold }}
{{- end -}}

{{/*
The Deployment's spec.strategy: rollingUpdate only with type RollingUpdate (the API
server refuses it with Recreate, and a split override cannot remove the default's).
*/}}
{{- define "credvault.updateStrategy" -}}
{{- $u := . -}}
type: {{ $u.type }}
{{- if and (eq $u.type "RollingUpdate") $u.rollingUpdate }}
rollingUpdate:
  {{- toYaml $u.rollingUpdate | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Cross-key rules of the values above; renders nothing or fails naming the value. */}}
{{- define "credvault.validateOperations" -}}
{{- $v := .Values -}}
{{- if not $v.bootstrap.enabled -}}
{{- range $w := include "credvault.workloads" . | fromJsonArray -}}
{{- $s := $w.settings -}}
{{- $where := ternary (printf "split.%s" $w.component) "server" (eq $v.mode "split") -}}
{{- $preStop := include "credvault.durationSeconds" $s.shutdown.preStopDelay | int -}}
{{- if gt $preStop 600 -}}
{{- fail (printf "%s.shutdown.preStopDelay: %s is longer than credvaultd allows (10m)" $where $s.shutdown.preStopDelay) -}}
{{- end -}}
{{- if lt (include "credvault.durationSeconds" $s.maxConnectionAge | int) 1 -}}
{{- fail (printf "%s.maxConnectionAge: %s; it must be at least 1s" $where (toString $s.maxConnectionAge)) -}}
{{- end -}}
{{- $needed := add $preStop (int $v.shutdown.drainTimeoutSeconds) -}}
{{- if le (include "credvault.terminationGracePeriod" (list $ $s) | int) $needed -}}
{{- fail (printf "%s.terminationGracePeriodSeconds: %d does not exceed %s.shutdown.preStopDelay + shutdown.drainTimeoutSeconds (%d seconds): the kubelet would kill the pod while calls still drain" $where (int $s.terminationGracePeriodSeconds) $where $needed) -}}
{{- end -}}
{{- range $p := list "startup" "readiness" "liveness" -}}
{{- $probe := index $s.probes $p -}}
{{- if ge (int $probe.timeoutSeconds) (int $probe.periodSeconds) -}}
{{- fail (printf "%s.probes.%s.timeoutSeconds: %d must be less than periodSeconds (%d)" $where $p (int $probe.timeoutSeconds) (int $probe.periodSeconds)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $t := $v.tests -}}
{{- if $t.enabled -}}
{{- if and $t.clientSecret.name $t.tokenSecret.name -}}
{{- fail "tests: set clientSecret.name or tokenSecret.name, not both (the test Pod authenticates one way)" -}}
{{- end -}}
{{- if and $v.listeners.write.requireClientCert (not $t.clientSecret.name) -}}
{{- fail "tests.clientSecret.name: required with listeners.write.requireClientCert: the test Pod's TLS handshake needs a client certificate (a kubernetes.io/tls Secret)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
