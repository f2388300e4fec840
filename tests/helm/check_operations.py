#!/usr/bin/env python3
"""Checks the day-2 parts of what the credvault chart rendered: graceful stop and
connection age (pod and server configuration), probe timings, update strategy, extra
containers, HPA behaviour, the ServiceMonitor endpoint, the PrometheusRule against the
alerts of docs/operations.md, the `helm test` Pod and extraObjects.

    check_operations.py --chart helm/credvault --values V.yaml [--values OVERLAY.yaml] \
        --rendered OUT.yaml --docs docs/operations.md

The expectations come from the values (the chart's values.yaml with each V.yaml over it)
and, for the alerts, from the YAML block of docs/operations.md "Metrics and alerts", so
the chart and the runbook cannot drift apart. With promtool on PATH the rendered rules
are also checked by `promtool check rules`. Prints one line per failed rule and exits 1
if any failed.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

from check_rendered import merge

FAILURES = []
CHECKS = [0]


def check(condition, message):
    CHECKS[0] += 1
    if not condition:
        FAILURES.append(message)
    return condition


def name_of(obj):
    return f'{obj["kind"]}/{obj["metadata"]["name"]}'


def seconds(duration):
    """Seconds of a duration as values.schema.json allows it: 1h30m, 90s, 5s."""
    match = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", str(duration))
    if not match or not duration:
        raise ValueError(f"not a duration: {duration!r}")
    h, m, s = (int(x or 0) for x in match.groups())
    return h * 3600 + m * 60 + s


def documented_alerts(docs_path):
    """The alerts of the YAML block under "Alerts worth setting" in docs/operations.md."""
    with open(docs_path) as f:
        text = f.read()
    section = text.split("## Metrics and alerts", 1)[1]
    block = re.search(r"Alerts worth setting.*?```yaml\n(.*?)```", section, re.S)
    if not check(block is not None, f"{docs_path}: no alert block under 'Metrics and alerts'"):
        return []
    return yaml.safe_load(block.group(1))


def check_workloads(objects, values, config_map):
    split = values["mode"] == "split"
    drain = values["shutdown"]["drainTimeoutSeconds"]
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in objects if h["kind"] == "HorizontalPodAutoscaler"}
    for dep in (o for o in objects if o["kind"] == "Deployment"):
        where = name_of(dep)
        component = dep["metadata"]["labels"]["app.kubernetes.io/component"]
        settings = merge(values["server"], values["split"].get(component, {})) if split else values["server"]
        spec = dep["spec"]["template"]["spec"]
        pre_stop = seconds(settings["shutdown"]["preStopDelay"])

        grace = spec.get("terminationGracePeriodSeconds")
        wanted = settings.get("terminationGracePeriodSeconds") or pre_stop + drain + 10
        check(grace == wanted, f"{where}: terminationGracePeriodSeconds {grace}, expected {wanted}")
        check(isinstance(grace, int) and grace > pre_stop + drain,
              f"{where}: terminationGracePeriodSeconds {grace} does not exceed the pre-stop delay "
              f"plus the drain timeout ({pre_stop + drain}s)")

        # The server configuration this Deployment mounts.
        key = next(v for v in spec["volumes"] if v["name"] == "config")["configMap"]["items"][0]["key"]
        config = yaml.safe_load(config_map["data"][key])
        check(config["listeners"].get("max_connection_age") == settings["maxConnectionAge"],
              f"{where}: listeners.max_connection_age is {config['listeners'].get('max_connection_age')!r}, "
              f"not {settings['maxConnectionAge']!r}")
        check(config["shutdown"].get("pre_stop_delay") == settings["shutdown"]["preStopDelay"],
              f"{where}: shutdown.pre_stop_delay is {config['shutdown'].get('pre_stop_delay')!r}, "
              f"not {settings['shutdown']['preStopDelay']!r}")
        check(config["shutdown"].get("drain_timeout") == f"{drain}s",
              f"{where}: shutdown.drain_timeout is {config['shutdown'].get('drain_timeout')!r}")

        server = spec["containers"][0]
        check(server["name"] == "credvaultd", f"{where}: the first container is {server['name']}, not credvaultd")
        for probe, timings in (("startupProbe", "startup"), ("readinessProbe", "readiness"),
                               ("livenessProbe", "liveness")):
            got = {k: server.get(probe, {}).get(k) for k in settings["probes"][timings]}
            check(got == settings["probes"][timings],
                  f"{where}: {probe} timings {got}, expected {settings['probes'][timings]}")

        strategy = dict(settings["updateStrategy"])
        if strategy["type"] != "RollingUpdate":
            strategy.pop("rollingUpdate", None)
        check(dep["spec"]["strategy"] == strategy, f"{where}: strategy {dep['spec']['strategy']}, expected {strategy}")
        want_annotations = settings.get("deploymentAnnotations") or {}
        got_annotations = dep["metadata"].get("annotations") or {}
        check(got_annotations == want_annotations,
              f"{where}: Deployment annotations {got_annotations}, expected {want_annotations}")

        extra = [c["name"] for c in spec["containers"][1:]]
        check(extra == [c["name"] for c in settings["extraContainers"]],
              f"{where}: extra containers {extra}, expected {[c['name'] for c in settings['extraContainers']]}")
        init = [c["name"] for c in spec.get("initContainers", [])]
        check(init == [c["name"] for c in settings["extraInitContainers"]],
              f"{where}: init containers {init}, expected {[c['name'] for c in settings['extraInitContainers']]}")
        for c in spec["containers"][1:] + spec.get("initContainers", []):
            check("{{" not in yaml.safe_dump(c), f"{where}: container {c['name']} was not rendered through tpl")
        volumes = {v["name"] for v in spec["volumes"]}
        for v in settings["extraVolumes"]:
            check(v["name"] in volumes, f"{where}: extra volume {v['name']} missing")

        hpa = hpas.get(dep["metadata"]["name"])
        if settings["autoscaling"]["enabled"] and check(hpa is not None, f"{where}: no HPA"):
            got = hpa["spec"].get("behavior")
            want = settings["autoscaling"]["behavior"] or None
            check(got == want, f"{name_of(hpa)}: behavior {got}, expected {want}")


def check_service_monitor(objects, values):
    sm = values["serviceMonitor"]
    monitors = [o for o in objects if o["kind"] == "ServiceMonitor"]
    if not monitors:
        return
    endpoint = monitors[0]["spec"]["endpoints"][0]
    where = name_of(monitors[0])
    check(endpoint.get("relabelings", []) == sm["relabelings"], f"{where}: relabelings differ from the values")
    check(endpoint.get("metricRelabelings", []) == sm["metricRelabelings"],
          f"{where}: metricRelabelings differ from the values")
    check(endpoint.get("tlsConfig", {}) == sm["tlsConfig"], f"{where}: tlsConfig differs from the values")
    check(endpoint.get("scheme") == ("https" if sm["tlsConfig"] else "http"),
          f"{where}: scheme {endpoint.get('scheme')} does not follow tlsConfig")


def check_prometheus_rule(objects, values, docs_path):
    p = values["prometheusRule"]
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    if not (p["enabled"] and values["metrics"]["enabled"] and not values["bootstrap"]["enabled"]):
        check(not rules, "PrometheusRule rendered though prometheusRule.enabled is false")
        return
    if not check(len(rules) == 1, f"expected one PrometheusRule, got {len(rules)}"):
        return
    rule = rules[0]
    where = name_of(rule)
    for key, value in p["labels"].items():
        check(rule["metadata"]["labels"].get(key) == value, f"{where}: label {key} missing")
    rendered = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    documented = [a for a in documented_alerts(docs_path) if a["alert"] not in p["disabled"]]
    check(len(documented) + len(p["additionalRules"]) == len(rendered),
          f"{where}: {len(rendered)} rules, expected {len(documented)} documented "
          f"+ {len(p['additionalRules'])} additional")
    by_name = {r["alert"]: r for r in rendered}
    for alert in documented:
        got = by_name.get(alert["alert"])
        if not check(got is not None, f"{where}: documented alert {alert['alert']} is missing"):
            continue
        check(got["expr"] == alert["expr"],
              f"{where}: {alert['alert']} expr {got['expr']!r} differs from docs/operations.md {alert['expr']!r}")
        check(got.get("for") == alert.get("for"),
              f"{where}: {alert['alert']} for {got.get('for')!r}, docs/operations.md says {alert.get('for')!r}")
        severity = p["severity"]["page"] if alert["alert"] == "CredvaultDataLoss" else p["severity"]["warn"]
        check(got["labels"].get("severity") == severity, f"{where}: {alert['alert']} severity")
        for key, value in p["alertLabels"].items():
            check(got["labels"].get(key) == value, f"{where}: {alert['alert']} lacks label {key}")
    for name in p["disabled"]:
        check(name not in by_name, f"{where}: disabled alert {name} rendered")
    promtool = shutil.which("promtool")
    if promtool:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            yaml.safe_dump({"groups": rule["spec"]["groups"]}, f)
            f.flush()
            result = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
            check(result.returncode == 0, f"{where}: promtool check rules: {result.stdout}{result.stderr}".strip())


def run_test_script(script, exit_code):
    """Runs the test Pod's script with credvaultctl replaced by a stub exiting exit_code."""
    with tempfile.TemporaryDirectory() as tmp:
        stub = os.path.join(tmp, "credvaultctl")
        with open(stub, "w") as f:
            f.write(f"#!/bin/sh\nexit {exit_code}\n")
        os.chmod(stub, 0o755)
        body = script.replace("/usr/local/bin/credvaultctl", stub)
        env = {"PATH": "/usr/bin:/bin", "CREDVAULT_ADDR": "x:1", "CREDVAULT_TEST_ORG": "o"}
        return subprocess.run(["/bin/sh", "-c", body], env=env, capture_output=True, text=True).returncode


def check_test_pod(objects, values):
    t = values["tests"]
    pods = [o for o in objects if o["kind"] == "Pod"
            and o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    if not (t["enabled"] and not values["bootstrap"]["enabled"]):
        check(not pods, "a helm test Pod rendered though tests.enabled is false")
        return
    if not check(len(pods) == 1, f"expected one helm test Pod, got {len(pods)}"):
        return
    pod = pods[0]
    where = name_of(pod)
    spec = pod["spec"]
    check(spec.get("restartPolicy") == "Never", f"{where}: restartPolicy is not Never")
    check(spec.get("automountServiceAccountToken") is False, f"{where}: mounts a ServiceAccount token")
    container = spec["containers"][0]
    sc = container.get("securityContext", {})
    check(sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
          and "ALL" in sc.get("capabilities", {}).get("drop", []) and sc.get("runAsNonRoot") is True,
          f"{where}: the test container is not hardened")
    deployments = [o for o in objects if o["kind"] == "Deployment"]
    check(all(container["image"] == d["spec"]["template"]["spec"]["containers"][0]["image"] for d in deployments),
          f"{where}: does not use the release's image")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    services = {o["metadata"]["name"]: o for o in objects if o["kind"] == "Service"}
    host, _, port = (env.get("CREDVAULT_ADDR") or "").partition(":")
    svc = services.get(host)
    if check(svc is not None, f"{where}: CREDVAULT_ADDR {env.get('CREDVAULT_ADDR')!r} is not a rendered Service"):
        check(host.endswith("-write") and any(p["port"] == int(port or 0) for p in svc["spec"]["ports"]),
              f"{where}: does not call the write Service on its port")
        check(env.get("CREDVAULT_SERVER_NAME") == host, f"{where}: verifies a name other than the Service's")
    check(("CREDVAULT_CERT_FILE" in env) == bool(t["clientSecret"]["name"]) and
          ("CREDVAULT_TOKEN_FILE" in env) == bool(t["tokenSecret"]["name"]),
          f"{where}: the caller's identity does not follow tests.clientSecret / tests.tokenSecret")
    secrets = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    wanted = {t["caSecret"]["name"] or values["tls"]["secretName"]} | {
        n for n in (t["clientSecret"]["name"], t["tokenSecret"]["name"]) if n}
    check(secrets == wanted, f"{where}: mounts Secrets {sorted(secrets)}, expected {sorted(wanted)}")
    # The verdict: the server answered (0, NOT_FOUND, PERMISSION_DENIED, UNAUTHENTICATED)
    # passes; UNAVAILABLE (nothing answered) and the rest fail.
    script = container["args"][0] if container.get("command", [])[:2] == ["/bin/sh", "-c"] else None
    if check(script is not None, f"{where}: not a /bin/sh -c script"):
        for exit_code, passes in ((0, True), (15, True), (17, True), (26, True), (24, False), (14, False),
                                  (2, False), (3, False)):
            got = run_test_script(script, exit_code) == 0
            check(got == passes, f"{where}: credvaultctl exit {exit_code} {'fails' if passes else 'passes'} the test")


def check_extra_objects(objects, values, release, namespace):
    def render(text):
        text = re.sub(r"\{\{\s*\.Release\.Name\s*\}\}", release, text)
        return re.sub(r"\{\{\s*\.Release\.Namespace\s*\}\}", namespace, text)

    for entry in values["extraObjects"]:
        obj = yaml.safe_load(render(entry if isinstance(entry, str) else yaml.safe_dump(entry)))
        kind, name = obj["kind"], obj["metadata"]["name"]
        rendered = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
        if check(len(rendered) == 1, f"extraObjects: {kind}/{name} not rendered"):
            check(rendered[0] == obj, f"extraObjects: {kind}/{name} rendered as {rendered[0]}, not {obj}")
    for o in objects:
        check("{{" not in yaml.safe_dump(o), f"{name_of(o)}: holds an unrendered template")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chart", required=True)
    parser.add_argument("--values", action="append", default=[])
    parser.add_argument("--rendered", required=True)
    parser.add_argument("--docs", required=True)
    parser.add_argument("--release", default="credvault")
    parser.add_argument("--namespace", default="credvault")
    args = parser.parse_args()

    with open(os.path.join(args.chart, "values.yaml")) as f:
        values = yaml.safe_load(f)
    for path in args.values:
        with open(path) as f:
            values = merge(values, yaml.safe_load(f) or {})
    with open(args.rendered) as f:
        objects = [o for o in yaml.safe_load_all(f) if o]

    config_map = next((o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-config")),
                      None)
    if not values["bootstrap"]["enabled"] and check(config_map is not None, "no server configuration rendered"):
        check_workloads(objects, values, config_map)
    check_service_monitor(objects, values)
    check_prometheus_rule(objects, values, args.docs)
    check_test_pod(objects, values)
    check_extra_objects(objects, values, args.release, args.namespace)

    for failure in FAILURES:
        print(f"FAIL: {failure}")
    print(f"{CHECKS[0]} checks, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
