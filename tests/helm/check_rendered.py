#!/usr/bin/env python3
"""Checks the objects that `helm template` rendered from the credvault chart.

    check_rendered.py --chart helm/credvault --values V.yaml --rendered OUT.yaml \
        [--credvaultd PATH]

The expectations come from the values (the chart's values.yaml with V.yaml over it), so
one set of rules covers every values file: which Deployments exist, which Secrets each
pod may reference, which ports each NetworkPolicy opens and to whom. With --credvaultd,
every rendered server configuration and the rendered policy are also loaded by the real
credvaultd parser. Prints one line per failed rule and exits 1 if any failed.
"""

import argparse
import os
import posixpath
import subprocess
import sys
import tempfile

import yaml

FAILURES = []
CHECKS = [0]


def check(condition, message):
    CHECKS[0] += 1
    if not condition:
        FAILURES.append(message)
    return condition


def merge(base, override):
    """Helm's value coalescing for maps: override wins key by key; null deletes."""
    if not isinstance(base, dict) or not isinstance(override, dict):
        return override
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def name_of(obj):
    return f'{obj["kind"]}/{obj["metadata"]["name"]}'


def containers(spec):
    return spec.get("containers", []) + spec.get("initContainers", [])


def secrets_referenced(spec):
    """Every Secret name a pod spec can read: volumes, env and envFrom."""
    names = set()
    for volume in spec.get("volumes", []):
        if "secret" in volume:
            names.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                names.add(source["secret"]["name"])
    for container in containers(spec):
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                names.add(ref["name"])
        for env_from in container.get("envFrom", []):
            if "secretRef" in env_from:
                names.add(env_from["secretRef"]["name"])
    return names


def env_names(spec):
    return {env["name"] for c in containers(spec) for env in c.get("env", [])}


# The seccomp profile the values ask for (RuntimeDefault unless a Localhost profile is
# named); set by main().
SECCOMP = {"type": "RuntimeDefault"}


def check_hardening(obj):
    """The hardened pod the issue asks for, on every workload the chart renders."""
    where = name_of(obj)
    spec = pod_spec(obj)
    pod_sc = spec.get("securityContext", {})
    check(pod_sc.get("runAsNonRoot") is True, f"{where}: pod securityContext.runAsNonRoot is not true")
    check(pod_sc.get("seccompProfile", {}) == SECCOMP,
          f"{where}: pod seccompProfile is not {SECCOMP}")
    check(spec.get("automountServiceAccountToken") is False,
          f"{where}: automountServiceAccountToken is not false")
    check(spec.get("hostNetwork") is not True and spec.get("hostPID") is not True,
          f"{where}: uses the host's namespaces")
    for c in containers(spec):
        cwhere = f"{where} container {c['name']}"
        sc = c.get("securityContext")
        if not check(isinstance(sc, dict), f"{cwhere}: has no securityContext"):
            continue
        check(sc.get("runAsNonRoot") is True, f"{cwhere}: runAsNonRoot is not true")
        check(sc.get("readOnlyRootFilesystem") is True, f"{cwhere}: readOnlyRootFilesystem is not true")
        check(sc.get("allowPrivilegeEscalation") is False,
              f"{cwhere}: allowPrivilegeEscalation is not false")
        check(sc.get("privileged") is not True, f"{cwhere}: is privileged")
        check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{cwhere}: does not drop ALL capabilities")
        check(not sc.get("capabilities", {}).get("add"), f"{cwhere}: adds capabilities")
        check(sc.get("seccompProfile", pod_sc.get("seccompProfile", {})) == SECCOMP,
              f"{cwhere}: seccompProfile is not {SECCOMP}")
        # No id at all is allowed (OpenShift assigns one; runAsNonRoot, checked above,
        # keeps it from being root); a given id must not be root.
        check(int(sc.get("runAsUser", pod_sc.get("runAsUser", 1))) > 0, f"{cwhere}: may run as uid 0")
        resources = c.get("resources", {})
        check("memory" in resources.get("limits", {}) and "cpu" in resources.get("requests", {})
              and "memory" in resources.get("requests", {}),
              f"{cwhere}: resources lack requests (cpu, memory) or a memory limit")
    for volume in spec.get("volumes", []):
        mode = volume.get("secret", {}).get("defaultMode")
        if "secret" in volume:
            check(mode is not None and mode & 0o007 == 0,
                  f"{where}: Secret volume {volume['name']} is readable by others (defaultMode {mode})")
        check("hostPath" not in volume, f"{where}: hostPath volume {volume['name']}")


def check_service_monitor(monitor, services, deployments, values):
    """The monitor selects exactly the metrics Services, and each of them reaches the metrics
    port of one Deployment's pods, so every replica of every tier is scraped."""
    where = name_of(monitor)
    spec = monitor["spec"]
    wanted = spec["selector"]["matchLabels"]
    selected = [s for s in services
                if all(s["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
    check(len(spec.get("namespaceSelector", {}).get("matchNames", [])) == 1,
          f"{where}: does not look in exactly one namespace")
    check(len(selected) == len(deployments),
          f"{where}: selects {len(selected)} Services for {len(deployments)} Deployments")
    endpoints = spec.get("endpoints", [])
    if not check(len(endpoints) == 1, f"{where}: expected one endpoint, got {len(endpoints)}"):
        return
    endpoint = endpoints[0]
    check(endpoint.get("path") == "/metrics", f"{where}: scrapes {endpoint.get('path')!r}, not /metrics")
    check(endpoint.get("interval") == values["serviceMonitor"]["interval"] and
          endpoint.get("scrapeTimeout") == values["serviceMonitor"]["scrapeTimeout"],
          f"{where}: interval or scrapeTimeout not taken from values")
    covered = set()
    for service in selected:
        ports = [p for p in service["spec"]["ports"] if p.get("name") == endpoint.get("port")]
        if not check(len(ports) == 1, f"{where}: {name_of(service)} has no port named {endpoint.get('port')!r}"):
            continue
        check(ports[0]["port"] == values["metrics"]["port"],
              f"{name_of(service)}: metrics Service port {ports[0]['port']} is not metrics.port")
        for dep in deployments:
            labels = dep["spec"]["template"]["metadata"]["labels"]
            if all(labels.get(k) == v for k, v in service["spec"]["selector"].items()):
                container_ports = {p["name"]: p["containerPort"] for p in pod_spec(dep)["containers"][0]["ports"]}
                check(container_ports.get(ports[0]["targetPort"]) == values["metrics"]["port"],
                      f"{name_of(service)}: targets {ports[0]['targetPort']!r}, which {name_of(dep)} does "
                      f"not serve on the metrics port")
                covered.add(name_of(dep))
    check(covered == {name_of(d) for d in deployments},
          f"{where}: Deployments not scraped: {sorted({name_of(d) for d in deployments} - covered)}")


def listen_address(values, port):
    """The address the chart renders for a listener: listenHost:port, IPv6 in brackets."""
    host = values["listenHost"]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


# What each probe asks the health listener: startup and liveness the process itself (""),
# which a database outage does not fail (a restart would not help); readiness "readiness",
# which also follows the database roles.
PROBE_SERVICES = {"startupProbe": "", "readinessProbe": "readiness", "livenessProbe": ""}


def check_probes(where, container, values):
    """gRPC probes on the health port when the health listener is on, else TCP probes."""
    health = values["listeners"]["health"]
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    if health["enabled"]:
        check(ports.get("health") == health["port"],
              f"{where}: the container does not expose the health port {health['port']}")
    else:
        check("health" not in ports, f"{where}: exposes a health port though listeners.health is off")
    for probe, service in PROBE_SERVICES.items():
        spec = container.get(probe)
        if not check(isinstance(spec, dict), f"{where}: no {probe}"):
            continue
        if health["enabled"]:
            grpc = spec.get("grpc")
            if check(isinstance(grpc, dict) and grpc.get("port") == health["port"] and len(spec.keys() & {"grpc", "tcpSocket", "httpGet", "exec"}) == 1,
                     f"{where}: {probe} is not a gRPC probe on the health port {health['port']}"):
                check(grpc.get("service", "") == service,
                      f"{where}: {probe} asks for service {grpc.get('service', '')!r}, not {service!r}")
        else:
            check(spec.get("tcpSocket", {}).get("port") in ports,
                  f"{where}: {probe} is not a TCP probe on a port of the container")


def provided_paths(container, spec):
    """Map of file path -> (volume, is_subpath) for every file the mounts provide."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    files = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is None:
            FAILURES.append(f"container {container['name']}: mount of unknown volume {mount['name']}")
            continue
        if "subPath" in mount:
            files[mount["mountPath"]] = (volume, True)
            continue
        source = volume.get("secret") or volume.get("configMap")
        if source and "items" in source:
            for item in source["items"]:
                files[posixpath.join(mount["mountPath"], item["path"])] = (volume, False)
        else:
            files[mount["mountPath"] + "/"] = (volume, False)
    return files


def config_files(config):
    """Every file a credvaultd configuration names, with whether it is a key file."""
    files = []
    for listener in (config.get("listeners") or {}).values():
        if not isinstance(listener, dict):
            continue  # a setting of every listener, e.g. max_connection_age
        tls = listener.get("tls") or {}
        for key in ("cert_file", "key_file", "client_ca_file"):
            if tls.get(key):
                files.append((tls[key], False))
    keys = config.get("keys") or {}
    for path in ((keys.get("writer_keys") or {}).get("files") or {}).values():
        files.append((path, True))
    seal = keys.get("seal_key") or {}
    if seal.get("file"):
        files.append((seal["file"], True))
    if (seal.get("pkcs11") or {}).get("pin_file"):
        files.append((seal["pkcs11"]["pin_file"], True))
    for previous in keys.get("previous_seal_keys") or []:
        if previous.get("file"):
            files.append((previous["file"], True))
        if (previous.get("pkcs11") or {}).get("pin_file"):
            files.append((previous["pkcs11"]["pin_file"], True))
    if keys.get("audit_signing_key_file"):
        files.append((keys["audit_signing_key_file"], True))
    authority = config.get("key_authority") or {}
    for key, is_key in (("ca_file", False), ("cert_file", False), ("key_file", True)):
        if (authority.get("tls") or {}).get(key):
            files.append((authority["tls"][key], is_key))
    if authority.get("bearer_token_file"):
        files.append((authority["bearer_token_file"], True))
    files.append((config["policy_file"], False))
    return files


def run_credvaultd(credvaultd, config_text, policy_text, what):
    """Loads a rendered configuration (and policy) with the real server.

    `credvaultd serve` reads the configuration, then the policy, then opens the database
    pools (lazily) and reads key files. Here no key file exists, so a configuration and
    a policy that the server accepts end in a "tier keys" error and nothing else.
    """
    with tempfile.TemporaryDirectory() as tmp:
        config_path = os.path.join(tmp, "credvaultd.yaml")
        policy_path = os.path.join(tmp, "policy.yaml")
        with open(config_path, "w") as f:
            f.write(config_text)
        with open(policy_path, "w") as f:
            f.write(policy_text)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for variable in ("CREDVAULT_DB_WRITER_PASSWORD", "CREDVAULT_DB_DECRYPTOR_PASSWORD",
                         "CREDVAULT_DB_ADMIN_PASSWORD", "CREDVAULT_PKCS11_PIN") + tuple(
                             f"CREDVAULT_PKCS11_PIN_PREVIOUS_{i}" for i in range(8)):
            env[variable] = "not-a-real-secret"
        for variable in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if variable in os.environ:
                env[variable] = os.environ[variable]
        result = subprocess.run([credvaultd, "serve", f"--config={config_path}",
                                 f"--policy-file={policy_path}"],
                                env=env, capture_output=True, text=True, timeout=60)
        accepted = "tier keys:" in result.stderr and "configuration" not in result.stderr.split(
            "tier keys:")[0]
        check(result.returncode != 0 and accepted,
              f"{what}: credvaultd did not accept the rendered configuration and policy "
              f"(exit {result.returncode}): {result.stderr.strip()[-600:]}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chart", required=True)
    parser.add_argument("--values", action="append", default=[])
    parser.add_argument("--rendered", required=True)
    parser.add_argument("--credvaultd", default="")
    args = parser.parse_args()

    with open(os.path.join(args.chart, "values.yaml")) as f:
        values = yaml.safe_load(f)
    for path in args.values:
        with open(path) as f:
            values = merge(values, yaml.safe_load(f) or {})
    with open(args.rendered) as f:
        objects = [o for o in yaml.safe_load_all(f) if o]

    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    deployments = by_kind.get("Deployment", [])
    jobs = by_kind.get("Job", [])
    config_maps = {o["metadata"]["name"]: o for o in by_kind.get("ConfigMap", [])}
    bootstrap = values["bootstrap"]["enabled"]
    split = values["mode"] == "split"
    ka = values["keyAuthority"]
    asks_key_authority = bool(ka["clientSecret"]["name"] or ka["tokenSecret"]["name"])
    db = values["database"]
    keys = values["keys"]

    for obj in objects:
        check(len(obj["metadata"]["name"]) <= 63, f"{name_of(obj)}: name longer than 63 characters")
    # The chart never carries key material: it renders no Secret at all.
    check("Secret" not in by_kind, "the chart rendered a Secret; key material must come from existing Secrets")
    SECCOMP.clear()
    SECCOMP.update(values["securityContext"]["seccompProfile"])
    for obj in deployments + jobs:
        check_hardening(obj)
    for sa in by_kind.get("ServiceAccount", []):
        check(sa.get("automountServiceAccountToken") is False,
              f"{name_of(sa)}: automountServiceAccountToken is not false")

    # Which Secrets each kind of process may read.
    seal_side = {keys["sealKey"]["file"]["secretName"]} if keys["sealKey"]["provider"] == "file" else {
        keys["sealKey"]["pkcs11"]["pin"]["secretName"]}
    seal_side.add(keys["auditSigningKey"]["secretName"])
    seal_side.add(keys["keyDirectorySigningKeys"]["secretName"])
    for previous in keys.get("previousSealKeys") or []:
        seal_side.add(previous["file"]["secretName"] if previous["provider"] == "file"
                      else previous["pkcs11"]["pin"]["secretName"])
    decrypt_db = {db["decryptor"]["passwordSecret"]["name"], db["admin"]["passwordSecret"]["name"]}
    writer_db = {db["writer"]["passwordSecret"]["name"]}
    owner = {values["migration"]["urlSecret"]["name"]}

    # Migration hook.
    migrate = [j for j in jobs if j["spec"]["template"]["spec"]["containers"][0]["args"][0] == "migrate"]
    if values["migration"]["enabled"]:
        if check(len(migrate) == 1, "expected exactly one migration Job"):
            job = migrate[0]
            hooks = job["metadata"].get("annotations", {}).get("helm.sh/hook", "")
            check(set(hooks.split(",")) == {"pre-install", "pre-upgrade"},
                  f"{name_of(job)}: is not a pre-install,pre-upgrade hook ({hooks!r})")
            spec = pod_spec(job)
            check("CREDVAULT_MIGRATE_DATABASE_URL" in env_names(spec), f"{name_of(job)}: no owner URL")
            check(f"--role-prefix={db['rolePrefix']}" in spec["containers"][0]["args"],
                  f"{name_of(job)}: role prefix not passed")
            sa_name = spec.get("serviceAccountName", "default")
            hook_sas = [s for s in by_kind.get("ServiceAccount", []) if s["metadata"]["name"] == sa_name]
            # migration.serviceAccount.create false: an existing ServiceAccount
            # (check_platform.py checks its name).
            if values["migration"].get("serviceAccount", {}).get("create", True) and check(
                    len(hook_sas) == 1, f"{name_of(job)}: its ServiceAccount {sa_name} is not rendered"):
                ann = hook_sas[0]["metadata"].get("annotations", {})
                check("pre-install" in ann.get("helm.sh/hook", "") and
                      int(ann.get("helm.sh/hook-weight", "0")) < int(
                          job["metadata"]["annotations"].get("helm.sh/hook-weight", "0")),
                      f"{name_of(job)}: its ServiceAccount is not a hook created before it")
            check(not (secrets_referenced(spec) & seal_side),
                  f"{name_of(job)}: the migration Job can read key material")

    configs = []  # (what, config text, pod spec, container)
    if bootstrap:
        server_policies = [p for p in by_kind.get("NetworkPolicy", []) if p["spec"]["podSelector"]["matchLabels"].get(
            "app.kubernetes.io/component") not in ("migrate", "init-root-key")]
        check(not deployments and "Service" not in by_kind and not server_policies,
              "bootstrap renders servers or Services")
        init = [j for j in jobs if j["spec"]["template"]["spec"]["containers"][0]["args"][0] == "init-root-key"]
        if check(len(init) == 1, "bootstrap: expected one init-root-key Job"):
            spec = pod_spec(init[0])
            volume = next(v for v in spec["volumes"] if v["name"] == "config")
            text = config_maps[volume["configMap"]["name"]]["data"]["credvaultd.yaml"]
            check(yaml.safe_load(text)["tiers"] == ["decrypt"], "bootstrap config is not decrypt-only")
            check(not (secrets_referenced(spec) & (writer_db | owner)),
                  "init-root-key Job reads the writer or owner credentials")
            configs.append(("init-root-key", text, spec, spec["containers"][0]))
    else:
        expected = {"write", "decrypt"} if split else {"server"}
        components = {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in deployments}
        check(set(components) == expected,
              f"expected Deployments for {sorted(expected)}, got {sorted(components)}")
        config_map = config_maps.get(next((n for n in config_maps if n.endswith("-config")), ""), {})
        for component, dep in components.items():
            where = name_of(dep)
            spec = pod_spec(dep)
            container = spec["containers"][0]
            check(container["args"][:2] == ["serve", "--config=/etc/credvault/config/credvaultd.yaml"],
                  f"{where}: unexpected args {container['args']}")
            check_probes(where, container, values)
            volume = next(v for v in spec["volumes"] if v["name"] == "config")
            key = volume["configMap"]["items"][0]["key"]
            text = config_map.get("data", {}).get(key)
            if not check(text is not None, f"{where}: its configuration {key} is not rendered"):
                continue
            config = yaml.safe_load(text)
            tiers = set(config["tiers"])
            check(tiers == ({component} if split else {"write", "decrypt"}),
                  f"{where}: runs tiers {sorted(tiers)}")
            health = values["listeners"]["health"]
            rendered_health = (config.get("listeners") or {}).get("health")
            if health["enabled"]:
                expected_health = {"address": listen_address(values, health["port"])}
                check(rendered_health == expected_health,
                      f"{where}: listeners.health is {rendered_health!r}, not {expected_health!r}")
            else:
                check(rendered_health is None, f"{where}: listeners.health rendered though disabled")
            refs = secrets_referenced(spec)
            envs = env_names(spec)
            if "decrypt" not in tiers:
                # The write tier holds nothing that decrypts.
                check("seal_key" not in config["keys"], f"{where}: write-only config names the seal key")
                check(not (refs & (seal_side | decrypt_db | owner)),
                      f"{where}: write pods can read {sorted(refs & (seal_side | decrypt_db | owner))}")
                check(not ({"CREDVAULT_DB_DECRYPTOR_PASSWORD", "CREDVAULT_DB_ADMIN_PASSWORD",
                            "CREDVAULT_PKCS11_PIN"} & envs), f"{where}: write pods get decrypt-side env")
                hsm = {v["name"] for v in keys["sealKey"]["pkcs11"]["volumes"]}
                check(not (hsm & {v["name"] for v in spec["volumes"]}), f"{where}: write pods mount the HSM client")
                check(set(config["database"]) & {"decryptor", "admin"} == set(),
                      f"{where}: write-only config has decrypt-side database roles")
            if "write" not in tiers:
                check(not (refs & (writer_db | owner)),
                      f"{where}: decrypt pods can read {sorted(refs & (writer_db | owner))}")
                check("CREDVAULT_DB_WRITER_PASSWORD" not in envs, f"{where}: decrypt pods get the writer password")
                check("writer" not in config["database"] and "write" not in config["listeners"],
                      f"{where}: decrypt-only config has write-side sections")
            if "decrypt" in tiers:
                check(keys["sealKey"]["provider"] == config["keys"]["seal_key"]["provider"],
                      f"{where}: seal key provider differs from the values")
                if keys["sealKey"]["provider"] == "pkcs11":
                    p11 = keys["sealKey"]["pkcs11"]
                    rendered = config["keys"]["seal_key"]["pkcs11"]
                    check(rendered["module"] == p11["module"] and rendered["token_label"] == p11["tokenLabel"]
                          and rendered["key_label"] == p11["keyLabel"], f"{where}: pkcs11 settings differ")
                    check(("pin_file" in rendered) == (p11["pin"]["as"] == "file"), f"{where}: pkcs11 pin source")
                    for v in p11["volumes"]:
                        check(v["name"] in {x["name"] for x in spec["volumes"]}, f"{where}: HSM volume {v['name']} missing")
                # Seal keys being rotated away from: each one, in order, from its own Secret.
                previous = keys.get("previousSealKeys") or []
                rendered = config["keys"].get("previous_seal_keys") or []
                if check(len(rendered) == len(previous),
                         f"{where}: {len(rendered)} previous seal keys rendered, {len(previous)} in values"):
                    for i, (want, got) in enumerate(zip(previous, rendered)):
                        check(got["provider"] == want["provider"], f"{where}: previous seal key {i}: provider")
                        if want["provider"] == "pkcs11":
                            check(got["pkcs11"]["key_label"] == want["pkcs11"]["keyLabel"] and
                                  got["pkcs11"]["token_label"] == want["pkcs11"]["tokenLabel"],
                                  f"{where}: previous seal key {i}: pkcs11 labels differ")
                        secret = (want["file"]["secretName"] if want["provider"] == "file"
                                  else want["pkcs11"]["pin"]["secretName"])
                        check(secret in refs, f"{where}: previous seal key {i}: Secret {secret} not referenced")
            else:
                check("previous_seal_keys" not in config["keys"],
                      f"{where}: a write-only config names previous seal keys")
            # Split mode: write-only pods ask the decrypt Service's key authority, when the
            # values give them a way to authenticate; a process with the decrypt tier never.
            authority = config.get("key_authority")
            if split and component == "write" and asks_key_authority:
                decrypt_service = dep["metadata"]["name"][:-len("-write")] + "-decrypt"
                expected_address = f"{decrypt_service}:{values['listeners']['decrypt']['port']}"
                if check(authority is not None, f"{where}: no key_authority section"):
                    check(authority.get("address") == expected_address,
                          f"{where}: key_authority.address {authority.get('address')!r}, not {expected_address!r}")
                    check(bool((authority.get("tls") or {}).get("cert_file")) == bool(ka["clientSecret"]["name"]),
                          f"{where}: key_authority client certificate does not follow keyAuthority.clientSecret")
                    client_secret = ka["clientSecret"]["name"] or ka["tokenSecret"]["name"]
                    check(client_secret in refs, f"{where}: key authority Secret {client_secret} not mounted")
            else:
                check(authority is None, f"{where}: key_authority rendered for a process that must not ask one")
            configs.append((where, text, spec, container))

        # Services: each selects a Deployment whose pods have the target port.
        for svc in by_kind.get("Service", []):
            selected = [d for d in deployments if all(
                d["spec"]["template"]["metadata"]["labels"].get(k) == v
                for k, v in svc["spec"]["selector"].items())]
            if check(len(selected) == 1, f"{name_of(svc)}: selects {len(selected)} Deployments"):
                ports = {p["name"] for p in pod_spec(selected[0])["containers"][0]["ports"]}
                for port in svc["spec"]["ports"]:
                    check(port["targetPort"] in ports, f"{name_of(svc)}: target port {port['targetPort']} not in pods")
        listeners = {"write", "decrypt"} | ({"admin"} if values["listeners"]["admin"]["enabled"] else set())
        services = {s["metadata"]["name"].rsplit("-", 1)[-1] for s in by_kind.get("Service", [])}
        check(listeners <= services, f"missing Services for {sorted(listeners - services)}")

        # PodDisruptionBudget and HorizontalPodAutoscaler per Deployment, as configured.
        dep_names = {d["metadata"]["name"]: d for d in deployments}
        pdbs = {p["metadata"]["name"] for p in by_kind.get("PodDisruptionBudget", [])}
        hpas = {h["spec"]["scaleTargetRef"]["name"] for h in by_kind.get("HorizontalPodAutoscaler", [])}
        for component, dep in components.items():
            settings = merge(values["server"], values["split"].get(component, {})) if split else values["server"]
            name = dep["metadata"]["name"]
            check((name in pdbs) == settings["podDisruptionBudget"]["enabled"], f"{name}: PodDisruptionBudget")
            check((name in hpas) == settings["autoscaling"]["enabled"], f"{name}: HorizontalPodAutoscaler")
            check(("replicas" in dep["spec"]) != settings["autoscaling"]["enabled"],
                  f"{name}: replicas must be set exactly when autoscaling is off")
        check(hpas <= set(dep_names), "an HPA targets an unknown Deployment")

        # NetworkPolicy: the decrypt port only from pods with the client labels.
        np = values["networkPolicy"]
        policies = by_kind.get("NetworkPolicy", [])
        if np["enabled"]:
            for component, dep in components.items():
                labels = dep["spec"]["template"]["metadata"]["labels"]
                mine = [p for p in policies if all(labels.get(k) == v for k, v in
                                                   p["spec"]["podSelector"]["matchLabels"].items())]
                if not check(len(mine) == 1, f"{name_of(dep)}: selected by {len(mine)} NetworkPolicies"):
                    continue
                rules = mine[0]["spec"].get("ingress", [])
                for rule in rules:
                    check(rule.get("ports"), f"{name_of(mine[0])}: an ingress rule opens every port")
                by_port = {p["port"]: r for r in rules for p in r.get("ports", [])}
                pod_ports = {p["containerPort"] for p in pod_spec(dep)["containers"][0]["ports"]}
                check(set(by_port) <= pod_ports, f"{name_of(mine[0])}: opens ports the pods do not serve")
                if component in ("decrypt", "server"):
                    rule = by_port.get(values["listeners"]["decrypt"]["port"])
                    if check(rule is not None, f"{name_of(mine[0])}: decrypt port not covered"):
                        peers = rule.get("from", [])
                        # Split mode with a key authority: the release's write pods too.
                        write_labels = (components["write"]["spec"]["template"]["metadata"]["labels"]
                                        if split and asks_key_authority else None)
                        def admitted(peer):
                            selector = peer.get("podSelector", {}).get("matchLabels")
                            if selector == np["decrypt"]["clientLabels"]:
                                return True
                            return (write_labels is not None and "namespaceSelector" not in peer and selector
                                    and all(write_labels.get(k) == v for k, v in selector.items())
                                    and selector.get("app.kubernetes.io/component") == "write")
                        check(peers and all(admitted(p) for p in peers),
                              f"{name_of(mine[0])}: the decrypt port admits pods without {np['decrypt']['clientLabels']}")
                        if write_labels is not None:
                            check(any(p.get("podSelector", {}).get("matchLabels", {}).get(
                                          "app.kubernetes.io/component") == "write" for p in peers),
                                  f"{name_of(mine[0])}: the write pods cannot reach the key authority")
                # The kubelet's probes come from the node, which NetworkPolicy always admits:
                # the health port needs no rule, and gets one only for configured peers.
                if values["listeners"]["health"]["enabled"]:
                    rule = by_port.get(values["listeners"]["health"]["port"])
                    peers = np["health"]["from"]
                    admitted = (rule.get("from") or "every peer") if rule else "no pod"
                    check((rule is None) if not peers else (rule is not None and rule.get("from") == peers),
                          f"{name_of(mine[0])}: the health port admits {admitted}; expected "
                          f"{peers or 'no rule (the kubelet probes from the node, which is always admitted)'}")
                if values["metrics"]["enabled"]:
                    rule = by_port.get(values["metrics"]["port"])
                    if np["metrics"]["from"]:
                        check(rule is not None and rule.get("from") == np["metrics"]["from"],
                              f"{name_of(mine[0])}: metrics port not limited to the configured scraper")
        if values["serviceMonitor"]["enabled"] and values["metrics"]["enabled"]:
            monitors = by_kind.get("ServiceMonitor", [])
            if check(len(monitors) == 1, "ServiceMonitor not rendered"):
                check_service_monitor(monitors[0], by_kind.get("Service", []), deployments, values)
        else:
            check("ServiceMonitor" not in by_kind, "ServiceMonitor rendered though disabled")

    # Every file a configuration names is mounted, and key files are mounted as files:
    # credvaultd opens them with O_NOFOLLOW, and Secret volume entries are symbolic links.
    for what, text, spec, container in configs:
        config = yaml.safe_load(text)
        provided = provided_paths(container, spec)
        for path, is_key in config_files(config):
            if path == config["policy_file"] and what == "init-root-key":
                continue  # init-root-key reads no policy
            if what == "init-root-key" and not is_key:
                continue  # nor TLS files: it opens no listener
            entry = provided.get(path) or next((v for p, v in provided.items()
                                                if p.endswith("/") and path.startswith(p)), None)
            if check(entry is not None, f"{what}: {path} is named by the configuration but not mounted"):
                if is_key:
                    check(entry[1], f"{what}: key file {path} is not a subPath mount (a symlink credvaultd refuses)")
        if args.credvaultd:
            policy = ""
            policy_cm = next((c for n, c in config_maps.items() if n.endswith("-policy")), None)
            if policy_cm:
                policy = policy_cm["data"]["policy.yaml"]
            else:
                policy = "principals: []\n"
            run_credvaultd(args.credvaultd, text, policy, what)

    for failure in FAILURES:
        print(f"FAIL: {failure}")
    print(f"{CHECKS[0]} checks, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
