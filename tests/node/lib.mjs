// Shared by the Node programs in this folder: loads the credvault v1 .proto files with
// @grpc/proto-loader, lists the services and methods the API must have, checks request
// objects against the message descriptors, and builds the requests the scenario sends.
//
// The .proto files are read from ../../proto (override: CREDVAULT_PROTO_DIR). The
// well-known types (google/protobuf/*.proto) come from /usr/include, where Debian's
// libprotobuf-dev puts them; protobufjs also bundles them, so they load without it.

import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const HERE = dirname(fileURLToPath(import.meta.url));
export const PROTO_DIR = resolve(process.env.CREDVAULT_PROTO_DIR || join(HERE, '..', '..', 'proto'));
export const WKT_DIR = '/usr/include';
export const PACKAGE = 'credvault.v1';

// The options every program here loads the API with. keepCase keeps the .proto field
// names (org_id, not orgId); longs as decimal strings, so uint64 versions are exact.
export const LOADER_OPTIONS = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

// Every service of the v1 API with every method, its message types and whether the
// response is a stream. contract.mjs fails if the .proto files disagree.
export const EXPECTED_SERVICES = Object.freeze({
  CredentialService: {
    PutCredential: ['PutCredentialRequest', 'PutCredentialResponse', false],
    DeleteCredential: ['DeleteCredentialRequest', 'DeleteCredentialResponse', false],
    DescribeCredential: ['DescribeCredentialRequest', 'DescribeCredentialResponse', false],
    ListCredentials: ['ListCredentialsRequest', 'ListCredentialsResponse', false],
    CompareCredential: ['CompareCredentialRequest', 'CompareCredentialResponse', false],
  },
  CredentialAccessService: {
    DecryptCredential: ['DecryptCredentialRequest', 'DecryptCredentialResponse', false],
  },
  AdminService: {
    CreateOrg: ['CreateOrgRequest', 'CreateOrgResponse', false],
    DescribeOrg: ['DescribeOrgRequest', 'DescribeOrgResponse', false],
    ListOrgs: ['ListOrgsRequest', 'ListOrgsResponse', false],
    RotateOrgKey: ['RotateOrgKeyRequest', 'RotateOrgKeyResponse', false],
    DestroyOrg: ['DestroyOrgRequest', 'DestroyOrgResponse', false],
    RotateRootKey: ['RotateRootKeyRequest', 'RotateRootKeyResponse', false],
    GetResealJob: ['GetResealJobRequest', 'GetResealJobResponse', false],
    ListResealJobs: ['ListResealJobsRequest', 'ListResealJobsResponse', false],
    ListAuditEvents: ['ListAuditEventsRequest', 'ListAuditEventsResponse', false],
    VerifyAuditLog: ['VerifyAuditLogRequest', 'VerifyAuditLogResponse', false],
    ExportAuditLog: ['ExportAuditLogRequest', 'ExportAuditLogResponse', true],
  },
});

// The .proto files of the API, as import paths relative to PROTO_DIR.
export function protoFiles() {
  const dir = join(PROTO_DIR, 'credvault', 'v1');
  if (!existsSync(dir)) throw new Error(`no .proto files: ${dir} does not exist`);
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.proto'))
    .sort()
    .map((f) => `credvault/v1/${f}`);
  if (files.length === 0) throw new Error(`no .proto files in ${dir}`);
  return files;
}

export function includeDirs() {
  const dirs = [PROTO_DIR];
  if (existsSync(join(WKT_DIR, 'google', 'protobuf', 'timestamp.proto'))) dirs.push(WKT_DIR);
  return dirs;
}

// Loads the API. Returns { grpc, packageDefinition, v1 } where v1 holds the service
// client constructors (v1.CredentialService, ...).
export function loadApi() {
  const grpc = require('@grpc/grpc-js');
  const protoLoader = require('@grpc/proto-loader');
  const packageDefinition = protoLoader.loadSync(protoFiles(), {
    ...LOADER_OPTIONS,
    includeDirs: includeDirs(),
  });
  const root = grpc.loadPackageDefinition(packageDefinition);
  const v1 = root?.credvault?.v1;
  if (!v1) throw new Error(`package ${PACKAGE} not found in ${PROTO_DIR}`);
  return { grpc, packageDefinition, v1 };
}

function messageType(packageDefinition, fullName) {
  const def = packageDefinition[fullName];
  if (!def || def.format !== 'Protocol Buffer 3 DescriptorProto') return null;
  return def.type;
}

// Returns the problems of `obj` as a `fullName` message: keys that are no field of the
// message (protobufjs would drop them silently), and the same inside nested messages and
// maps. An empty list means every key names a field.
export function checkMessage(packageDefinition, fullName, obj, path = '') {
  const type = messageType(packageDefinition, fullName);
  if (!type) return [`${path || fullName}: unknown message type ${fullName}`];
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return [`${path || fullName}: expected an object for ${fullName}`];
  }
  const problems = [];
  const byName = new Map(type.field.map((f) => [f.name, f]));
  const nested = new Map((type.nestedType || []).map((n) => [n.name, n]));
  for (const [key, value] of Object.entries(obj)) {
    const where = path ? `${path}.${key}` : key;
    const field = byName.get(key);
    if (!field) {
      problems.push(`${where}: ${fullName} has no field "${key}"`);
      continue;
    }
    if (field.type !== 'TYPE_MESSAGE' || value === null || value === undefined) continue;
    const entry = nested.get(field.typeName);
    if (entry?.options?.mapEntry) {
      if (typeof value !== 'object') problems.push(`${where}: expected a map object`);
      continue;
    }
    const childName = field.typeName.includes('.') ? field.typeName : `${PACKAGE}.${field.typeName}`;
    const items = field.label === 'LABEL_REPEATED' ? value : [value];
    items.forEach((item, i) => {
      const at = field.label === 'LABEL_REPEATED' ? `${where}[${i}]` : where;
      problems.push(...checkMessage(packageDefinition, childName, item, at));
    });
  }
  return problems;
}

// The requests the scenario sends. Field names are exactly those of the .proto files;
// contract.mjs checks them against the descriptors and round-trips them on the wire.
export const requests = {
  createOrg: ({ org, idempotencyKey }) => ({ org_id: org, idempotency_key: idempotencyKey }),

  put: ({ org, name, secret, labels, idempotencyKey }) => ({
    org_id: org,
    name,
    secret,
    labels,
    must_not_exist: true, // oneof precondition
    idempotency_key: idempotencyKey,
  }),

  list: ({ org, namePrefix, labelSelector, pageToken = '' }) => ({
    org_id: org,
    page_size: 0,
    page_token: pageToken,
    name_prefix: namePrefix,
    label_selector: labelSelector,
    include_deleted: false,
  }),

  describe: ({ org, name, showDeleted = false }) => ({ org_id: org, name, show_deleted: showDeleted }),

  compare: ({ org, name, version, candidate }) => ({ org_id: org, name, version, candidate }),

  decrypt: ({ org, name, version, purpose }) => {
    const r = { org_id: org, name, purpose };
    if (version !== undefined) r.version = version;
    return r;
  },

  erase: ({ org, name, idempotencyKey }) => ({
    org_id: org,
    name,
    mode: 'DELETION_MODE_ERASE',
    idempotency_key: idempotencyKey,
  }),
};

// Which RPC each builder feeds: [service, method].
export const REQUEST_METHODS = Object.freeze({
  createOrg: ['AdminService', 'CreateOrg'],
  put: ['CredentialService', 'PutCredential'],
  list: ['CredentialService', 'ListCredentials'],
  describe: ['CredentialService', 'DescribeCredential'],
  compare: ['CredentialService', 'CompareCredential'],
  decrypt: ['CredentialAccessService', 'DecryptCredential'],
  erase: ['CredentialService', 'DeleteCredential'],
});

// Sample arguments for every builder, as the scenario passes them.
export function sampleArgs() {
  return {
    org: 'node-sample',
    name: 'node/e2e-sample',
    secret: Buffer.from([0x00, 0xff, 0x0a, 0x80, 0x41]),
    candidate: Buffer.from([0x00, 0xff, 0x0a, 0x80, 0x42]),
    labels: { suite: 'node-client', run: 'sample' },
    labelSelector: { run: 'sample' },
    namePrefix: 'node/',
    version: '1',
    purpose: 'node client end-to-end check',
    idempotencyKey: 'node-sample:put',
  };
}

// Response fields the scenario reads, per message: contract.mjs checks that each exists.
export const FIELDS_READ = Object.freeze({
  PutCredentialResponse: ['credential', 'idempotent_replay'],
  ListCredentialsResponse: ['credentials', 'next_page_token'],
  DescribeCredentialResponse: ['credential'],
  CompareCredentialResponse: ['match', 'version'],
  DecryptCredentialResponse: ['secret', 'credential', 'audit_sequence'],
  DeleteCredentialResponse: ['credential'],
  CreateOrgResponse: ['org'],
  CredentialMetadata: [
    'org_id', 'name', 'version', 'current_version', 'labels', 'state', 'create_time',
    'created_by',
  ],
});

// Enum values the scenario sends or expects, per enum.
export const ENUM_VALUES_USED = Object.freeze({
  CredentialState: ['CREDENTIAL_STATE_ACTIVE', 'CREDENTIAL_STATE_ERASED'],
  DeletionMode: ['DELETION_MODE_ERASE'],
});
