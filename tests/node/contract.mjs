// API contract check from Node, with no server: loads every credvault v1 .proto file with
// @grpc/proto-loader (the options client.mjs uses) and checks that
//   * the three services exist with every method, its request/response types and
//     streaming shape;
//   * every request the scenario in client.mjs builds names only real fields, and
//     survives a serialise/deserialise round trip unchanged;
//   * the response fields and enum values the scenario relies on exist.
//
// Usage (after scripts/node-deps.sh):
//   node tests/node/contract.mjs
// Environment: CREDVAULT_PROTO_DIR overrides the proto directory (default ../../proto).
// Exits 0 when every check passes, 1 otherwise; the last line is "contract: N passed, N failed".

import { isDeepStrictEqual } from 'node:util';
import {
  ENUM_VALUES_USED,
  EXPECTED_SERVICES,
  FIELDS_READ,
  PACKAGE,
  PROTO_DIR,
  REQUEST_METHODS,
  checkMessage,
  loadApi,
  protoFiles,
  requests,
  sampleArgs,
} from './lib.mjs';

let passed = 0;
let failed = 0;
function check(what, problems) {
  const list = Array.isArray(problems) ? problems : problems ? [problems] : [];
  if (list.length === 0) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}`);
    for (const p of list) console.log(`       ${p}`);
  }
}

let api;
try {
  api = loadApi();
  check(`load ${protoFiles().length} .proto files from ${PROTO_DIR}`, []);
} catch (err) {
  check(`load .proto files from ${PROTO_DIR}`, String(err?.stack || err));
  console.log(`contract: ${passed} passed, ${failed} failed`);
  process.exit(1);
}
const { packageDefinition: pd, v1 } = api;

// Services and methods.
for (const [service, methods] of Object.entries(EXPECTED_SERVICES)) {
  const ctor = v1[service];
  if (typeof ctor !== 'function' || !ctor.service) {
    check(`service ${PACKAGE}.${service}`, `${PACKAGE}.${service} is not defined`);
    continue;
  }
  for (const [method, [req, res, serverStream]] of Object.entries(methods)) {
    const m = ctor.service[method];
    const problems = [];
    if (!m) {
      problems.push(`method ${method} is missing`);
    } else {
      const path = `/${PACKAGE}.${service}/${method}`;
      if (m.path !== path) problems.push(`path is ${m.path}, expected ${path}`);
      if (m.requestType?.type?.name !== req) problems.push(`request type is ${m.requestType?.type?.name}, expected ${req}`);
      if (m.responseType?.type?.name !== res) problems.push(`response type is ${m.responseType?.type?.name}, expected ${res}`);
      if (m.requestStream) problems.push('request is a stream, expected unary');
      if (Boolean(m.responseStream) !== serverStream) {
        problems.push(`response ${m.responseStream ? 'is' : 'is not'} a stream, expected ${serverStream ? 'a stream' : 'unary'}`);
      }
    }
    check(`${service}.${method}(${req}) returns (${serverStream ? 'stream ' : ''}${res})`, problems);
  }
  const extra = Object.keys(ctor.service).filter((m) => !(m in methods));
  if (extra.length) console.log(`note ${service} also has ${extra.join(', ')} (not listed in lib.mjs)`);
}

// Requests the scenario builds: field names, and the wire round trip.
const args = sampleArgs();
for (const [builder, [service, method]] of Object.entries(REQUEST_METHODS)) {
  const def = v1[service]?.service?.[method];
  if (!def) {
    check(`request ${builder}`, `${service}.${method} is missing`);
    continue;
  }
  const reqArgs = builder === 'compare' ? { ...args, candidate: args.candidate } : args;
  const request = requests[builder](reqArgs);
  const fullName = `${PACKAGE}.${def.requestType.type.name}`;
  const problems = checkMessage(pd, fullName, request);
  if (problems.length === 0) {
    const decoded = def.requestDeserialize(def.requestSerialize(request));
    for (const [key, value] of Object.entries(request)) {
      if (!isDeepStrictEqual(decoded[key], value)) {
        problems.push(`${key}: sent ${JSON.stringify(value)}, decoded ${JSON.stringify(decoded[key])}`);
      }
    }
  }
  check(`request ${builder} -> ${fullName}: fields exist and round-trip`, problems);
}

// Response fields and enum values the scenario reads.
for (const [message, fields] of Object.entries(FIELDS_READ)) {
  const def = pd[`${PACKAGE}.${message}`];
  const names = new Set(def?.type?.field?.map((f) => f.name) || []);
  check(
    `${message} has ${fields.join(', ')}`,
    def ? fields.filter((f) => !names.has(f)).map((f) => `no field ${f}`) : `no message ${message}`,
  );
}
for (const [enumName, values] of Object.entries(ENUM_VALUES_USED)) {
  const def = pd[`${PACKAGE}.${enumName}`];
  const names = new Set(def?.type?.value?.map((v) => v.name) || []);
  check(
    `${enumName} has ${values.join(', ')}`,
    def ? values.filter((v) => !names.has(v)).map((v) => `no value ${v}`) : `no enum ${enumName}`,
  );
}

// Secrets travel as bytes on the wire: a string would be re-encoded as UTF-8.
for (const [message, field] of [
  ['PutCredentialRequest', 'secret'],
  ['CompareCredentialRequest', 'candidate'],
  ['DecryptCredentialResponse', 'secret'],
]) {
  const f = pd[`${PACKAGE}.${message}`]?.type?.field?.find((x) => x.name === field);
  check(`${message}.${field} is bytes`, f?.type === 'TYPE_BYTES' ? [] : `type is ${f?.type}`);
}

console.log(`contract: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
