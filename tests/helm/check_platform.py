#!/usr/bin/env python3
"""Checks how the credvault chart meets a cluster: Services and routes, NetworkPolicy
peers and egress, the migration and bootstrap Jobs, and pod security settings.

    check_platform.py --chart helm/credvault --values V.yaml [--values OVERLAY.yaml] \
        --rendered OUT.yaml

Like check_rendered.py, the expectations come from the values (the chart's values.yaml
with each V.yaml over it), so the same rules hold for every values file. Prints one line
per failed rule and exits 1 if any failed.
"""

import argparse
import os
import sys

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


def pod_spec(obj):
    return obj["spec"]["template"]["spec"]


def workload_settings(values, component):
    """The server settings of a Deployment's component (split.<tier> over server)."""
    if component in ("write", "decrypt") and values["mode"] == "split":
        return merge(values["server"], values["split"].get(component) or {})
    return values["server"]


def check_services(values, by_kind, fullname):
    """Each listener's Service has its own type and settings; only a Service whose own
    service.<name>.type says so is exposed outside the cluster."""
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    names = ["write", "decrypt"] + (["admin"] if values["listeners"]["admin"]["enabled"] else [])
    for name in names:
        settings = values["service"][name]
        svc = services.get(f"{fullname}-{name}")
        if not check(svc is not None, f"Service {fullname}-{name} not rendered"):
            continue
        where = name_of(svc)
        want_type = settings["type"] or values["service"]["type"]
        spec = svc["spec"]
        check(spec.get("type") == want_type, f"{where}: type {spec.get('type')}, values say {want_type}")
        annotations = merge(values["service"]["annotations"] or {}, settings["annotations"] or {})
        check((svc["metadata"].get("annotations") or {}) == annotations,
              f"{where}: annotations {svc['metadata'].get('annotations')} are not {annotations}")
        exposed = want_type in ("LoadBalancer", "NodePort")
        check(spec.get("externalTrafficPolicy") == (settings["externalTrafficPolicy"] or None if exposed else None),
              f"{where}: externalTrafficPolicy {spec.get('externalTrafficPolicy')!r} does not follow the values")
        want_ranges = settings["loadBalancerSourceRanges"] if want_type == "LoadBalancer" else []
        check((spec.get("loadBalancerSourceRanges") or []) == (want_ranges or []),
              f"{where}: loadBalancerSourceRanges {spec.get('loadBalancerSourceRanges')} do not follow the values")
        headless = services.get(f"{fullname}-{name}-headless")
        if settings["headless"]:
            if check(headless is not None, f"{where}: headless Service not rendered"):
                check(headless["spec"].get("clusterIP") == "None" and headless["spec"].get("type") == "ClusterIP",
                      f"{name_of(headless)}: is not headless (clusterIP None)")
                check(headless["spec"]["selector"] == spec["selector"] and headless["spec"]["ports"] == spec["ports"],
                      f"{name_of(headless)}: selects other pods or ports than {where}")
        else:
            check(headless is None, f"{where}: headless Service rendered though service.{name}.headless is false")
    # Whatever the write Service is, the key authority and AdminService stay inside the
    # cluster unless their own settings expose them.
    for name in ("decrypt", "admin"):
        svc = services.get(f"{fullname}-{name}")
        if svc and not values["service"][name]["type"]:
            check(svc["spec"]["type"] == "ClusterIP",
                  f"{name_of(svc)}: type {svc['spec']['type']} without service.{name}.type")

    routes = {(o["kind"], o["metadata"]["name"]): o
              for kind in ("Ingress", "TLSRoute", "Route") for o in by_kind.get(kind, [])}
    for name in ("write", "decrypt", "admin"):
        settings = values["service"][name]
        listening = name != "admin" or values["listeners"]["admin"]["enabled"]
        service = f"{fullname}-{name}"
        port = values["listeners"][name]["port"]
        for kind, key in (("Ingress", "ingress"), ("TLSRoute", "tlsRoute"), ("Route", "route")):
            obj = routes.pop((kind, service), None)
            wanted = settings[key]["enabled"] and listening
            if not check((obj is not None) == wanted,
                         f"{kind} {service}: rendered {obj is not None}, expected {wanted}"):
                continue
            if obj is None:
                continue
            where = name_of(obj)
            check((obj["metadata"].get("annotations") or {}) == (settings[key]["annotations"] or {}),
                  f"{where}: annotations do not follow service.{name}.{key}.annotations")
            spec = obj["spec"]
            if kind == "Ingress":
                rules = spec.get("rules", [])
                check(len(rules) == 1 and rules[0].get("host") == settings["ingress"]["host"],
                      f"{where}: host is not service.{name}.ingress.host")
                backend = rules[0]["http"]["paths"][0]["backend"]["service"] if rules else {}
                check(backend == {"name": service, "port": {"number": port}},
                      f"{where}: backend {backend} is not {service}:{port}")
                check("tls" not in spec, f"{where}: terminates TLS at the edge (no passthrough)")
                check(spec.get("ingressClassName") == (settings["ingress"]["className"] or None),
                      f"{where}: ingressClassName does not follow the values")
            elif kind == "TLSRoute":
                check(obj["apiVersion"].startswith("gateway.networking.k8s.io/"), f"{where}: not a Gateway API object")
                check(spec.get("parentRefs") == settings["tlsRoute"]["parentRefs"], f"{where}: parentRefs differ")
                check((spec.get("hostnames") or []) == settings["tlsRoute"]["hostnames"], f"{where}: hostnames differ")
                refs = [r for rule in spec.get("rules", []) for r in rule.get("backendRefs", [])]
                check(refs == [{"name": service, "port": port}], f"{where}: backendRefs {refs} are not {service}:{port}")
            else:
                check(obj["apiVersion"] == "route.openshift.io/v1", f"{where}: not an OpenShift Route")
                check(spec.get("to", {}).get("name") == service and spec.get("port", {}).get("targetPort") == name,
                      f"{where}: does not route to {service} port {name}")
                check(spec.get("tls", {}).get("termination") == "passthrough",
                      f"{where}: tls.termination is not passthrough")
                check(spec.get("host") == (settings["route"]["host"] or None), f"{where}: host does not follow the values")
    check(not routes, f"routes the values did not ask for: {sorted(routes)}")


def check_network_policies(values, by_kind, fullname, deployments, jobs):
    np = values["networkPolicy"]
    policies = by_kind.get("NetworkPolicy", [])
    egress = np["enabled"] and np["egress"]["enabled"]
    dns_rule = {"to": np["egress"]["dns"]["to"], "ports": np["egress"]["dns"]["ports"]}

    def selecting(labels):
        return [p for p in policies if all(labels.get(k) == v for k, v in
                                           p["spec"]["podSelector"]["matchLabels"].items())]

    for dep in deployments:
        mine = selecting(dep["spec"]["template"]["metadata"]["labels"])
        if not np["enabled"] or len(mine) != 1:
            continue
        policy = mine[0]
        where = name_of(policy)
        if "decrypt" in dep["metadata"]["labels"]["app.kubernetes.io/component"] or \
                dep["metadata"]["labels"]["app.kubernetes.io/component"] == "server":
            rule = next((r for r in policy["spec"]["ingress"]
                         if any(p["port"] == values["listeners"]["decrypt"]["port"] for p in r["ports"])), None)
            if check(rule is not None, f"{where}: no decrypt port rule"):
                peer = next((p for p in rule["from"]
                             if p.get("podSelector", {}).get("matchLabels") == np["decrypt"]["clientLabels"]), None)
                if check(peer is not None, f"{where}: no peer with the decrypt client labels"):
                    selector = np["decrypt"]["namespaceSelector"]
                    if selector is None:
                        check("namespaceSelector" not in peer,
                              f"{where}: namespaceSelector null must admit the release namespace only")
                    else:
                        # {} is every namespace in Kubernetes; omitting it would mean the
                        # release's namespace only.
                        check(peer.get("namespaceSelector") == selector,
                              f"{where}: namespaceSelector {peer.get('namespaceSelector')!r} rendered for {selector!r}")
        if egress:
            check("Egress" in policy["spec"]["policyTypes"], f"{where}: egress not restricted")
            rules = policy["spec"].get("egress", [])
            check(rules[:1] == [dns_rule], f"{where}: first egress rule is not networkPolicy.egress.dns")
            check(rules[1:] == np["egress"]["to"], f"{where}: egress rules after DNS are not networkPolicy.egress.to")
        else:
            check("Egress" not in policy["spec"]["policyTypes"], f"{where}: egress restricted though disabled")

    # The Jobs reach DNS and the database under a default-deny egress baseline; the
    # migration Job's policy is a hook that exists before the Job.
    for job in jobs:
        component = job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        mine = selecting(job["spec"]["template"]["metadata"]["labels"])
        if not egress:
            check(not mine, f"{name_of(job)}: a NetworkPolicy selects it though egress is not restricted")
            continue
        if not check(len(mine) == 1, f"{name_of(job)}: selected by {len(mine)} NetworkPolicies, expected 1"):
            continue
        policy = mine[0]
        check(set(policy["spec"]["policyTypes"]) == {"Ingress", "Egress"} and not policy["spec"].get("ingress"),
              f"{name_of(policy)}: must admit no ingress and restrict egress")
        check(policy["spec"].get("egress", [])[:1] == [dns_rule] and policy["spec"]["egress"][1:] == np["egress"]["to"],
              f"{name_of(policy)}: egress is not DNS plus networkPolicy.egress.to")
        if component == "migrate":
            ann = policy["metadata"].get("annotations", {})
            check("pre-install" in ann.get("helm.sh/hook", "") and "pre-upgrade" in ann.get("helm.sh/hook", "")
                  and int(ann.get("helm.sh/hook-weight", "0")) < int(job["metadata"]["annotations"]["helm.sh/hook-weight"]),
                  f"{name_of(policy)}: is not a hook made before the migration Job")


def check_jobs(values, by_kind, fullname, jobs):
    m = values["migration"]
    for job in jobs:
        spec = pod_spec(job)
        component = job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
        where = name_of(job)
        if component == "migrate":
            meta = job["spec"]["template"]["metadata"]
            for key, value in (m["podLabels"] or {}).items():
                check(meta["labels"].get(key) == value, f"{where}: pod label {key} not rendered")
            check((meta.get("annotations") or {}) == (m["podAnnotations"] or {}),
                  f"{where}: pod annotations {meta.get('annotations')} are not migration.podAnnotations")
            sa = spec.get("serviceAccountName")
            own = [s for s in by_kind.get("ServiceAccount", []) if s["metadata"]["name"] == f"{fullname}-migrate"]
            if m["serviceAccount"]["create"]:
                check(sa == f"{fullname}-migrate" and len(own) == 1, f"{where}: does not use its own hook ServiceAccount")
            else:
                check(sa == m["serviceAccount"]["name"], f"{where}: serviceAccountName {sa} is not migration.serviceAccount.name")
                check(not own, f"{where}: a hook ServiceAccount is rendered though migration.serviceAccount.create is false")
        elif component == "init-root-key":
            # Scheduled like the decrypt tier, which reaches the HSM.
            settings = workload_settings(values, "decrypt")
            for key in ("nodeSelector", "tolerations", "affinity"):
                check(spec.get(key) == (settings[key] or None),
                      f"{where}: {key} {spec.get(key)!r} is not the decrypt tier's {settings[key]!r}")
            check(spec.get("runtimeClassName") == (settings.get("runtimeClassName") or None),
                  f"{where}: runtimeClassName is not the decrypt tier's")


def check_security(values, deployments, jobs):
    sc = values["securityContext"]
    openshift = values.get("openshift", False)
    extra_pod = values.get("podSecurityContext") or {}
    extra_container = values.get("containerSecurityContext") or {}
    for obj in deployments + jobs:
        where = name_of(obj)
        spec = pod_spec(obj)
        pod_sc = spec.get("securityContext", {})
        for key in ("runAsUser", "runAsGroup", "fsGroup"):
            want = None if openshift or sc.get(key) is None else sc[key]
            if key in extra_pod:
                want = extra_pod[key]
            check(pod_sc.get(key) == want, f"{where}: pod securityContext.{key} {pod_sc.get(key)!r}, expected {want!r}")
        check(pod_sc.get("fsGroupChangePolicy") == (sc.get("fsGroupChangePolicy") or None),
              f"{where}: fsGroupChangePolicy does not follow the values")
        check(pod_sc.get("seccompProfile") == sc["seccompProfile"], f"{where}: pod seccompProfile is not the values'")
        for key, value in extra_pod.items():
            check(pod_sc.get(key) == value, f"{where}: podSecurityContext.{key} not applied")
        # The chart's own container; extraContainers bring their own securityContext.
        for container in spec.get("containers", [])[:1]:
            csc = container.get("securityContext", {})
            check(csc.get("seccompProfile") == sc["seccompProfile"],
                  f"{where} container {container['name']}: seccompProfile is not the values'")
            for key in ("runAsUser", "runAsGroup"):
                want = None if openshift or sc.get(key) is None else sc[key]
                if key in extra_pod:  # the pod-level override holds for the containers
                    want = extra_pod[key]
                if key in extra_container:
                    want = extra_container[key]
                check(csc.get(key) == want, f"{where} container {container['name']}: {key} {csc.get(key)!r}, expected {want!r}")
            for key, value in extra_container.items():
                check(csc.get(key) == value, f"{where} container {container['name']}: containerSecurityContext.{key} not applied")
    for dep in deployments:
        component = dep["metadata"]["labels"]["app.kubernetes.io/component"]
        want = workload_settings(values, component).get("runtimeClassName") or None
        check(pod_spec(dep).get("runtimeClassName") == want,
              f"{name_of(dep)}: runtimeClassName {pod_spec(dep).get('runtimeClassName')!r}, expected {want!r}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--chart", required=True)
    parser.add_argument("--values", action="append", default=[])
    parser.add_argument("--rendered", required=True)
    parser.add_argument("--release", default="credvault")
    args = parser.parse_args()

    with open(os.path.join(args.chart, "values.yaml")) as f:
        values = yaml.safe_load(f)
    raw_security = {"podSecurityContext": {}, "containerSecurityContext": {}}
    for path in args.values:
        with open(path) as f:
            override = yaml.safe_load(f) or {}
        values = merge(values, override)
        # Helm keeps a null the defaults do not have (merge() drops it): the chart reads
        # podSecurityContext.runAsUser: null as "remove the field".
        for key in raw_security:
            raw_security[key].update(override.get(key) or {})
    values.update(raw_security)
    with open(args.rendered) as f:
        objects = [o for o in yaml.safe_load_all(f) if o]
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    fullname = values.get("fullnameOverride") or (
        args.release if "credvault" in args.release else f"{args.release}-credvault")
    deployments = by_kind.get("Deployment", [])
    jobs = by_kind.get("Job", [])

    if not values["bootstrap"]["enabled"]:
        check_services(values, by_kind, fullname)
    check_network_policies(values, by_kind, fullname, deployments, jobs)
    check_jobs(values, by_kind, fullname, jobs)
    check_security(values, deployments, jobs)

    for failure in FAILURES:
        print(f"FAIL: {failure}")
    print(f"{CHECKS[0]} platform checks, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
