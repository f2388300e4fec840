// Validates what `helm template` rendered, as the API server would before admitting it.
//
//   node validate.mjs RENDERED.yaml [RENDERED.yaml ...]
//
// Each file is one release's multi-document output. Every object of a built-in API
// (core, apps, batch, policy, autoscaling, networking.k8s.io, ...) is validated against
// the Kubernetes OpenAPI schema of its apiVersion and kind, with the validators of the
// `kubernetes-models` package (types, required fields, enums, int32 ranges). Custom
// resources (ServiceMonitor, PrometheusRule, Route, TLSRoute, ...) have no schema here:
// they must still have apiVersion, kind and metadata.name. Then, within each file, what
// the API server or the controllers need to agree:
//   - object names are DNS names, label keys and values are well formed;
//   - a workload's spec.selector selects its own pod template;
//   - every Service selector selects the pods of some workload of the release;
//   - every PodDisruptionBudget and NetworkPolicy selects the pods of some workload;
//   - every HorizontalPodAutoscaler targets a rendered workload, with min <= max;
//   - every ServiceMonitor selects some Service.
// Prints one line per problem and exits 1 if there was any; 2 on a usage or read error.
import { readFileSync, existsSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

const require = createRequire(import.meta.url);
const here = path.dirname(fileURLToPath(import.meta.url));
const modelsRoot = path.join(here, "node_modules", "kubernetes-models");

const WORKLOAD_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
// Kinds whose names the API server checks as DNS-1035 labels rather than subdomains.
const LABEL_NAMED_KINDS = new Set(["Service"]);

function modelFor(apiVersion, kind) {
  // "v1" is the core group; kubernetes-models keeps it at the package root. A group it
  // does not have is a custom resource's.
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const groupDir = group === "" ? modelsRoot : path.join(modelsRoot, group);
  if (group !== "" && !existsSync(groupDir)) return { builtin: false, model: null };
  const file = path.join(groupDir, version, `${kind}.js`);
  if (!existsSync(file)) return { builtin: true, model: null };
  return { builtin: true, model: require(file)[kind] };
}

function labelProblems(where, labels, what) {
  const problems = [];
  for (const [key, value] of Object.entries(labels ?? {})) {
    const slash = key.lastIndexOf("/");
    const prefix = slash >= 0 ? key.slice(0, slash) : "";
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if ((prefix && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) ||
        name.length > 63 || !LABEL_NAME.test(name)) {
      problems.push(`${where}: ${what} key ${JSON.stringify(key)} is not a valid label key`);
    }
    if (typeof value !== "string") {
      problems.push(`${where}: ${what} ${key} is not a string (${JSON.stringify(value)})`);
    } else if (value.length > 63 || (value !== "" && !LABEL_NAME.test(value))) {
      problems.push(`${where}: ${what} ${key}=${JSON.stringify(value)} is not a valid label value`);
    }
  }
  return problems;
}

// A LabelSelector (matchLabels and matchExpressions) applied to a set of labels.
function selects(selector, labels) {
  if (!selector) return false;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    switch (e.operator) {
      case "In": if (!has || !e.values.includes(labels[e.key])) return false; break;
      case "NotIn": if (has && e.values.includes(labels[e.key])) return false; break;
      case "Exists": if (!has) return false; break;
      case "DoesNotExist": if (has) return false; break;
      default: return false;
    }
  }
  return true;
}

function isEmptySelector(selector) {
  return !selector || (Object.keys(selector.matchLabels ?? {}).length === 0 &&
                       (selector.matchExpressions ?? []).length === 0);
}

function validateFile(file) {
  const problems = [];
  const docs = parseAllDocuments(readFileSync(file, "utf8"), { uniqueKeys: true });
  const objects = [];
  for (const doc of docs) {
    for (const error of doc.errors) problems.push(`${file}: YAML: ${error.message.split("\n")[0]}`);
    const obj = doc.toJS();
    if (obj !== null && obj !== undefined) objects.push(obj);
  }
  if (problems.length) return { problems, count: 0 };

  const name = (o) => `${o?.kind ?? "?"}/${o?.metadata?.name ?? "?"}`;
  let validated = 0;
  for (const obj of objects) {
    const where = name(obj);
    if (typeof obj !== "object" || Array.isArray(obj) || typeof obj.apiVersion !== "string" ||
        typeof obj.kind !== "string" || typeof obj.metadata?.name !== "string" || !obj.metadata.name) {
      problems.push(`${where}: an object needs apiVersion, kind and metadata.name`);
      continue;
    }
    const max = LABEL_NAMED_KINDS.has(obj.kind) ? 63 : 253;
    const pattern = LABEL_NAMED_KINDS.has(obj.kind) ? DNS_LABEL : DNS_SUBDOMAIN;
    if (obj.metadata.name.length > max || !pattern.test(obj.metadata.name)) {
      problems.push(`${where}: metadata.name is not a valid ${obj.kind} name`);
    }
    problems.push(...labelProblems(where, obj.metadata.labels, "label"));
    const { builtin, model } = modelFor(obj.apiVersion, obj.kind);
    if (!builtin) continue;  // a custom resource: no schema to check against
    if (!model) {
      problems.push(`${where}: ${obj.apiVersion} has no kind ${obj.kind}`);
      continue;
    }
    try {
      new model(obj).validate();
      validated++;
    } catch (error) {
      const details = (error.errors ?? [{ instancePath: "", message: error.message }])
        .map((e) => `${e.instancePath || "/"} ${e.message}${e.params ? " " + JSON.stringify(e.params) : ""}`);
      problems.push(`${where}: does not match the ${obj.apiVersion} ${obj.kind} schema: ${details.join("; ")}`);
    }
    const template = obj.spec?.template;
    if (WORKLOAD_KINDS.has(obj.kind) && template) {
      problems.push(...labelProblems(where, template.metadata?.labels, "pod label"));
    }
  }

  // Selector and label agreement within the release.
  const workloads = objects.filter((o) => WORKLOAD_KINDS.has(o.kind) && o.spec?.template);
  const podLabels = (w) => w.spec.template.metadata?.labels ?? {};
  for (const w of workloads) {
    if (w.kind === "Job" && !w.spec.selector) continue;  // the Job controller makes its own
    if (isEmptySelector(w.spec.selector) || !selects(w.spec.selector, podLabels(w))) {
      problems.push(`${name(w)}: spec.selector does not select its own pod template's labels`);
    }
  }
  // Services and PodDisruptionBudgets are for the long-running pods; a NetworkPolicy may
  // also be for the pods of a Job (a hook) or a bare Pod (the helm test).
  const selectsSomePods = (selector) =>
    workloads.some((w) => w.kind !== "Job" && selects(selector, podLabels(w)));
  const selectsAnyPod = (selector) =>
    workloads.some((w) => selects(selector, podLabels(w))) ||
    objects.some((o) => o.kind === "Pod" && selects(selector, o.metadata.labels ?? {}));
  for (const svc of objects.filter((o) => o.kind === "Service")) {
    const selector = svc.spec?.selector;
    if (!selector || Object.keys(selector).length === 0) continue;  // endpoints managed elsewhere
    if (!selectsSomePods({ matchLabels: selector })) {
      problems.push(`${name(svc)}: its selector ${JSON.stringify(selector)} selects no pods of the release`);
    }
  }
  for (const pdb of objects.filter((o) => o.kind === "PodDisruptionBudget")) {
    if (isEmptySelector(pdb.spec?.selector) || !selectsSomePods(pdb.spec.selector)) {
      problems.push(`${name(pdb)}: selects no pods of the release`);
    }
  }
  for (const np of objects.filter((o) => o.kind === "NetworkPolicy")) {
    const selector = np.spec?.podSelector;
    if (!isEmptySelector(selector) && !selectsAnyPod(selector)) {
      problems.push(`${name(np)}: its podSelector selects no pods of the release`);
    }
  }
  for (const hpa of objects.filter((o) => o.kind === "HorizontalPodAutoscaler")) {
    const ref = hpa.spec?.scaleTargetRef ?? {};
    if (!objects.some((o) => o.kind === ref.kind && o.apiVersion === ref.apiVersion &&
                             o.metadata?.name === ref.name)) {
      problems.push(`${name(hpa)}: scaleTargetRef ${ref.apiVersion} ${ref.kind}/${ref.name} is not rendered`);
    }
    const min = hpa.spec?.minReplicas ?? 1;
    if (typeof hpa.spec?.maxReplicas === "number" && min > hpa.spec.maxReplicas) {
      problems.push(`${name(hpa)}: minReplicas ${min} exceeds maxReplicas ${hpa.spec.maxReplicas}`);
    }
  }
  const services = objects.filter((o) => o.kind === "Service");
  for (const monitor of objects.filter((o) => o.kind === "ServiceMonitor")) {
    const selector = monitor.spec?.selector;
    if (!services.some((s) => selects(selector, s.metadata.labels ?? {}))) {
      problems.push(`${name(monitor)}: selects no Service of the release`);
    }
  }
  return { problems, count: objects.length, validated };
}

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node validate.mjs RENDERED.yaml [RENDERED.yaml ...]");
  process.exit(2);
}
let failed = 0;
for (const file of files) {
  let result;
  try {
    result = validateFile(file);
  } catch (error) {
    console.error(`${file}: ${error.message}`);
    process.exit(2);
  }
  for (const problem of result.problems) console.log(`FAIL: ${path.basename(file)}: ${problem}`);
  failed += result.problems.length;
  console.log(`${path.basename(file)}: ${result.count} objects, ${result.validated ?? 0} against OpenAPI schemas, ` +
              `${result.problems.length} problems`);
}
process.exit(failed ? 1 : 0);
