// Self-test of client.mjs, for use before a real credvault server is at hand: it checks
// that the scenario passes against a server that keeps the API's contract and fails
// against one that breaks it. It is a test of the client only, never of credvault.
//
// It makes TLS material with scripts/dev-pki.sh in a temporary directory, starts two
// in-process gRPC listeners on 127.0.0.1 (write and decrypt) that require client
// certificates from the dev CA, keep credentials in memory and admit only
// spiffe://credvault.test/backend on the write listener and .../worker on the decrypt
// listener, then runs client.mjs as a child process against them:
//   * a faithful stand-in: the client must exit 0;
//   * a stand-in whose decrypt flips one bit, one that returns the secret's bytes from
//     DescribeCredential, one that ignores must_not_exist/idempotency (no replay), the
//     untrusted certificate as the writer, and the writer's certificate on the decrypt
//     listener: the client must exit 1 each time;
//   * no write address: the client must exit 2.
//
// Usage (after scripts/node-deps.sh): node tests/node/selftest.mjs
// CREDVAULT_SELFTEST_VERBOSE=1 also prints the client's output of the cases that pass.
// Needs openssl and coreutils (for dev-pki.sh). Exit status 0 when every case behaves;
// the last line is "selftest: N passed, N failed".

import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HERE, loadApi } from './lib.mjs';

const { grpc, v1 } = loadApi();
const pki = mkdtempSync(join(tmpdir(), 'credvault-node-selftest-'));
const TRUST = 'spiffe://credvault.test';

function principalOf(call) {
  const san = call.getAuthContext()?.sslPeerCertificate?.subjectaltname || '';
  const uri = san.split(', ').find((s) => s.startsWith('URI:'));
  return uri ? uri.slice(4) : null;
}

const now = () => {
  const ms = Date.now();
  return { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
};

// An in-memory stand-in for the two listeners. `faults` turns on one contract breach.
function standIn(faults = {}) {
  const creds = new Map(); // `${org}\0${name}` -> { versions: [...] }
  const replays = new Map(); // idempotency key -> response
  const err = (code, details) => Object.assign(new Error(details), { code, details });

  function meta(org, name, c, v) {
    return {
      org_id: org,
      name,
      version: String(v.version),
      current_version: String(c.versions.length),
      labels: v.labels,
      state: v.state,
      create_time: v.create_time,
      update_time: v.update_time,
      created_by: v.created_by,
      org_key_version: v.state === 'CREDENTIAL_STATE_ERASED' ? 0 : 1,
      max_versions: 0,
      live_version_count: c.versions.filter((x) => x.state === 'CREDENTIAL_STATE_ACTIVE').length,
    };
  }

  function guard(role, handler) {
    return (call, callback) => {
      const who = principalOf(call);
      if (who !== `${TRUST}/${role}`) {
        callback(err(grpc.status.PERMISSION_DENIED, `principal ${who} lacks the ${role} role`));
        return;
      }
      try {
        callback(null, handler(call.request, who));
      } catch (e) {
        callback(e);
      }
    };
  }

  function current(org, name) {
    const c = creds.get(`${org}\0${name}`);
    const v = c?.versions.at(-1);
    if (!c || v.state !== 'CREDENTIAL_STATE_ACTIVE') throw err(grpc.status.NOT_FOUND, 'credential not found');
    return [c, v];
  }

  const write = {
    PutCredential: guard('backend', (r, who) => {
      if (!faults.noReplay && r.idempotency_key && replays.has(r.idempotency_key)) {
        return { ...replays.get(r.idempotency_key), idempotent_replay: true };
      }
      if (!r.secret.length) throw err(grpc.status.INVALID_ARGUMENT, 'secret: must not be empty');
      const k = `${r.org_id}\0${r.name}`;
      const c = creds.get(k) || { versions: [] };
      const live = c.versions.at(-1)?.state === 'CREDENTIAL_STATE_ACTIVE';
      if (r.must_not_exist && live && !faults.noReplay) throw err(grpc.status.ALREADY_EXISTS, 'credential exists');
      const t = now();
      c.versions.push({
        version: c.versions.length + 1,
        secret: Buffer.from(r.secret),
        labels: { ...r.labels },
        state: 'CREDENTIAL_STATE_ACTIVE',
        create_time: t,
        update_time: t,
        created_by: who,
      });
      creds.set(k, c);
      const res = { credential: meta(r.org_id, r.name, c, c.versions.at(-1)), idempotent_replay: false };
      if (r.idempotency_key) replays.set(r.idempotency_key, res);
      return res;
    }),
    ListCredentials: guard('backend', (r) => {
      const out = [];
      for (const [k, c] of [...creds.entries()].sort()) {
        const [org, name] = k.split('\0');
        const v = c.versions.at(-1);
        if (org !== r.org_id || !name.startsWith(r.name_prefix) || v.state !== 'CREDENTIAL_STATE_ACTIVE') continue;
        if (!Object.entries(r.label_selector).every(([lk, lv]) => v.labels[lk] === lv)) continue;
        out.push(meta(org, name, c, v));
      }
      return { credentials: out, next_page_token: '' };
    }),
    DescribeCredential: guard('backend', (r) => {
      const [c, v] = current(r.org_id, r.name);
      const m = meta(r.org_id, r.name, c, v);
      if (faults.leakSecret) m.created_by = v.secret.toString('base64');
      return { credential: m };
    }),
    CompareCredential: guard('backend', (r) => {
      const [, v] = current(r.org_id, r.name);
      const match = Buffer.from(r.candidate).equals(v.secret);
      return { match, version: String(v.version) };
    }),
    DeleteCredential: guard('backend', (r) => {
      const [c] = current(r.org_id, r.name);
      let n = 0;
      for (const v of c.versions) {
        if (v.state !== 'CREDENTIAL_STATE_ERASED') n++;
        v.state = r.mode === 'DELETION_MODE_ERASE' ? 'CREDENTIAL_STATE_ERASED' : 'CREDENTIAL_STATE_SOFT_DELETED';
        v.secret = Buffer.alloc(0);
        v.update_time = now();
      }
      return { credential: meta(r.org_id, r.name, c, c.versions.at(-1)), affected_version_count: n };
    }),
  };
  let seq = 0;
  const decrypt = {
    DecryptCredential: guard('worker', (r) => {
      if (!r.purpose) throw err(grpc.status.INVALID_ARGUMENT, 'purpose: must not be empty');
      const [c, v] = current(r.org_id, r.name);
      const secret = Buffer.from(v.secret);
      if (faults.flipBit) secret[0] ^= 0x01;
      return { secret, credential: meta(r.org_id, r.name, c, v), audit_sequence: String(++seq) };
    }),
  };
  return { write, decrypt };
}

async function listen(service, impl) {
  const server = new grpc.Server();
  server.addService(service, impl);
  const creds = grpc.ServerCredentials.createSsl(
    readFileSync(join(pki, 'ca.pem')),
    [{ private_key: readFileSync(join(pki, 'server.key')), cert_chain: readFileSync(join(pki, 'server.pem')) }],
    true,
  );
  const port = await new Promise((res, rej) =>
    server.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? rej(e) : res(p))),
  );
  return { server, port };
}

function runClient(env, args = []) {
  return new Promise((res) => {
    const child = spawn(process.execPath, [join(HERE, 'client.mjs'), ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code, out });
    });
  });
}

let passed = 0;
let failed = 0;
async function testCase(title, { faults, env = {}, args = [], expectCode, expectText }) {
  const s = standIn(faults);
  const w = await listen(v1.CredentialService.service, s.write);
  const d = await listen(v1.CredentialAccessService.service, s.decrypt);
  try {
    const { code, out } = await runClient(
      {
        CREDVAULT_NODE_PKI: pki,
        CREDVAULT_WRITE_ADDR: `127.0.0.1:${w.port}`,
        // localhost on purpose: the server certificate's DNS SAN is checked as well as its IP SAN.
        CREDVAULT_DECRYPT_ADDR: `localhost:${d.port}`,
        CREDVAULT_NODE_TIMEOUT_MS: '5000',
        ...env,
      },
      args,
    );
    const ok = code === expectCode && (!expectText || out.includes(expectText));
    if (ok) {
      passed++;
      console.log(`ok   ${title} (exit ${code})`);
      if (process.env.CREDVAULT_SELFTEST_VERBOSE === '1') console.log(out.replace(/^/gm, '     | '));
    } else {
      failed++;
      console.log(`FAIL ${title}: exit ${code}, expected ${expectCode}${expectText ? ` with "${expectText}"` : ''}`);
      console.log(out.replace(/^/gm, '     | '));
    }
  } finally {
    w.server.forceShutdown();
    d.server.forceShutdown();
  }
}

try {
  execFileSync(join(HERE, '..', '..', 'scripts', 'dev-pki.sh'), [pki], { stdio: ['ignore', 'ignore', 'inherit'] });

  await testCase('faithful stand-in: the scenario passes', { expectCode: 0, expectText: 'client: 10 passed, 0 failed' });
  await testCase('faithful stand-in with --keep: the scenario passes', { args: ['--keep'], expectCode: 0, expectText: 'client: 8 passed, 0 failed' });
  await testCase('decrypt returns a different secret: detected', { faults: { flipBit: true }, expectCode: 1, expectText: 'differs from the one put' });
  await testCase('a write response carries the secret: detected', { faults: { leakSecret: true }, expectCode: 1, expectText: "contains the secret's bytes" });
  await testCase('no idempotent replay: detected', { faults: { noReplay: true }, expectCode: 1, expectText: 'idempotent_replay is false, expected true' });
  await testCase('untrusted client certificate: refused', {
    env: { CREDVAULT_NODE_CERT: join(pki, 'untrusted.pem'), CREDVAULT_NODE_KEY: join(pki, 'untrusted.key') },
    expectCode: 1,
    expectText: 'UNAVAILABLE',
  });
  await testCase('writer certificate on the decrypt listener: refused', {
    env: { CREDVAULT_NODE_DECRYPT_CERT: join(pki, 'backend.pem'), CREDVAULT_NODE_DECRYPT_KEY: join(pki, 'backend.key') },
    expectCode: 1,
    expectText: 'PERMISSION_DENIED',
  });
  await testCase('no write address: usage error', { env: { CREDVAULT_WRITE_ADDR: '' }, expectCode: 2, expectText: 'write listener address is missing' });
} finally {
  rmSync(pki, { recursive: true, force: true });
}

console.log(`selftest: ${passed} passed, ${failed} failed`);
process.exitCode = failed === 0 ? 0 : 1;
