// End-to-end scenario against a running credvault server, from a client that is not C++
// (@grpc/grpc-js, with the project's .proto files loaded at run time by proto-loader).
//
// Usage (after scripts/node-deps.sh and scripts/dev-pki.sh PKI):
//   CREDVAULT_NODE_PKI=PKI CREDVAULT_WRITE_ADDR=127.0.0.1:7443 \
//   CREDVAULT_DECRYPT_ADDR=127.0.0.1:7444 node tests/node/client.mjs
//   node tests/node/client.mjs --pki PKI --write-addr 127.0.0.1:7443 --decrypt-addr 127.0.0.1:7444
//
// Options (each has an environment variable; an option wins over its variable):
//   --write-addr HOST:PORT     CREDVAULT_WRITE_ADDR         write listener (required)
//   --decrypt-addr HOST:PORT   CREDVAULT_DECRYPT_ADDR       decrypt listener (required)
//   --pki DIR                  CREDVAULT_NODE_PKI           a scripts/dev-pki.sh output dir;
//                                                           gives the defaults below
//   --ca FILE                  CREDVAULT_NODE_CA            CA bundle ($PKI/ca.pem)
//   --cert FILE, --key FILE    CREDVAULT_NODE_CERT, _KEY    writer identity for the write
//                                                           listener ($PKI/backend.pem/.key)
//   --decrypt-cert FILE        CREDVAULT_NODE_DECRYPT_CERT  decryptor identity for the decrypt
//   --decrypt-key FILE         CREDVAULT_NODE_DECRYPT_KEY   listener ($PKI/worker.pem/.key)
//   --write-token-file FILE    CREDVAULT_NODE_WRITE_TOKEN_FILE    optional bearer tokens, sent
//   --decrypt-token-file FILE  CREDVAULT_NODE_DECRYPT_TOKEN_FILE  as "authorization: Bearer"
//                                                           (a client certificate is then
//                                                           optional unless --pki gives one)
//   --admin-addr HOST:PORT     CREDVAULT_ADMIN_ADDR         optional: create the org first
//                                                           with AdminService.CreateOrg
//   --admin-cert, --admin-key  CREDVAULT_NODE_ADMIN_CERT, _KEY  ($PKI/admin.pem/.key)
//   --org ID                   CREDVAULT_NODE_ORG           org to use (default node-<random>)
//   --server-name NAME         CREDVAULT_NODE_SERVER_NAME   TLS name to check instead of host
//   --timeout-ms N             CREDVAULT_NODE_TIMEOUT_MS    deadline of each call (10000)
//   --keep                     CREDVAULT_NODE_KEEP=1        skip the final erase
//
// Scenario: PutCredential (random binary secret, labels, must_not_exist, idempotency key),
// the same Put again (an idempotent replay), ListCredentials (name prefix and label
// selector; the name must be listed), DescribeCredential, CompareCredential with the secret
// (match) and with another value (no match), DecryptCredential on the decrypt listener with
// the decryptor identity and a purpose (the secret must come back byte for byte),
// DecryptCredential without a purpose (INVALID_ARGUMENT), then DeleteCredential in erase
// mode, after which Describe and Decrypt are NOT_FOUND. No response of the write listener
// may contain the secret's bytes. The secret is never printed.
//
// Exit status: 0 when every step passes, 1 on the first failing step (with the step, the
// gRPC code, message and credvault-error-reason), 2 on a usage or configuration error.

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadApi, requests } from './lib.mjs';

const USAGE =
  'usage: node client.mjs --write-addr HOST:PORT --decrypt-addr HOST:PORT ' +
  '[--pki DIR | --ca FILE --cert FILE --key FILE --decrypt-cert FILE --decrypt-key FILE] ' +
  '[--admin-addr HOST:PORT] [--org ID] [--server-name NAME] [--timeout-ms N] [--keep]';

class UsageError extends Error {}
class StepError extends Error {}

function config() {
  const { values } = parseArgs({
    options: {
      'write-addr': { type: 'string' },
      'decrypt-addr': { type: 'string' },
      'admin-addr': { type: 'string' },
      pki: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      'decrypt-cert': { type: 'string' },
      'decrypt-key': { type: 'string' },
      'admin-cert': { type: 'string' },
      'admin-key': { type: 'string' },
      'write-token-file': { type: 'string' },
      'decrypt-token-file': { type: 'string' },
      org: { type: 'string' },
      'server-name': { type: 'string' },
      'timeout-ms': { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const env = process.env;
  const pick = (opt, name) => values[opt] ?? (env[name] || undefined);
  const pki = pick('pki', 'CREDVAULT_NODE_PKI');
  const fromPki = (file) => (pki ? join(pki, file) : undefined);

  const writeToken = pick('write-token-file', 'CREDVAULT_NODE_WRITE_TOKEN_FILE');
  const decryptToken = pick('decrypt-token-file', 'CREDVAULT_NODE_DECRYPT_TOKEN_FILE');
  const c = {
    writeAddr: pick('write-addr', 'CREDVAULT_WRITE_ADDR'),
    decryptAddr: pick('decrypt-addr', 'CREDVAULT_DECRYPT_ADDR'),
    adminAddr: pick('admin-addr', 'CREDVAULT_ADMIN_ADDR'),
    ca: pick('ca', 'CREDVAULT_NODE_CA') ?? fromPki('ca.pem'),
    write: {
      cert: pick('cert', 'CREDVAULT_NODE_CERT') ?? fromPki('backend.pem'),
      key: pick('key', 'CREDVAULT_NODE_KEY') ?? fromPki('backend.key'),
      token: writeToken,
    },
    decrypt: {
      cert: pick('decrypt-cert', 'CREDVAULT_NODE_DECRYPT_CERT') ?? fromPki('worker.pem'),
      key: pick('decrypt-key', 'CREDVAULT_NODE_DECRYPT_KEY') ?? fromPki('worker.key'),
      token: decryptToken,
    },
    admin: {
      cert: pick('admin-cert', 'CREDVAULT_NODE_ADMIN_CERT') ?? fromPki('admin.pem'),
      key: pick('admin-key', 'CREDVAULT_NODE_ADMIN_KEY') ?? fromPki('admin.key'),
    },
    org: pick('org', 'CREDVAULT_NODE_ORG') ?? `node-${randomBytes(6).toString('hex')}`,
    orgGiven: Boolean(pick('org', 'CREDVAULT_NODE_ORG')),
    serverName: pick('server-name', 'CREDVAULT_NODE_SERVER_NAME'),
    timeoutMs: Number(pick('timeout-ms', 'CREDVAULT_NODE_TIMEOUT_MS') ?? 10000),
    keep: values.keep || env.CREDVAULT_NODE_KEEP === '1',
  };

  if (!c.writeAddr) throw new UsageError('the write listener address is missing (--write-addr or CREDVAULT_WRITE_ADDR)');
  if (!c.decryptAddr) throw new UsageError('the decrypt listener address is missing (--decrypt-addr or CREDVAULT_DECRYPT_ADDR)');
  if (!c.ca) throw new UsageError('the CA file is missing (--ca, CREDVAULT_NODE_CA or --pki)');
  if (!Number.isInteger(c.timeoutMs) || c.timeoutMs <= 0) throw new UsageError('--timeout-ms must be a positive integer');
  if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(c.org)) throw new UsageError(`org id "${c.org}" breaks the org_id rule`);
  for (const [who, id] of [['write', c.write], ['decrypt', c.decrypt]]) {
    if (!id.token && !(id.cert && id.key)) {
      throw new UsageError(`no ${who} identity: give a client certificate and key, or a bearer token file`);
    }
    if (Boolean(id.cert) !== Boolean(id.key)) throw new UsageError(`the ${who} certificate and key go together`);
  }
  if (c.adminAddr && !(c.admin.cert && c.admin.key)) {
    throw new UsageError('--admin-addr needs --admin-cert and --admin-key (or --pki)');
  }
  return c;
}

function readFile(path, what) {
  if (!existsSync(path)) throw new UsageError(`${what} ${path} does not exist`);
  return readFileSync(path);
}

// Channel credentials: TLS with the CA, plus a client certificate and/or a bearer token.
function credentials(grpc, c, id, what) {
  const ca = readFile(c.ca, 'CA file');
  const cert = id.cert ? readFile(id.cert, `${what} certificate`) : null;
  const key = id.key ? readFile(id.key, `${what} key`) : null;
  const tls = grpc.credentials.createSsl(ca, key, cert);
  if (!id.token) return tls;
  const token = readFile(id.token, `${what} token file`).toString('utf8').trim();
  if (!token) throw new UsageError(`${what} token file ${id.token} is empty`);
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    callback(null, md);
  });
  return grpc.credentials.combineChannelCredentials(tls, bearer);
}

function channelOptions(c) {
  return c.serverName ? { 'grpc.ssl_target_name_override': c.serverName, 'grpc.default_authority': c.serverName } : {};
}

// Calls a unary method; resolves with the response, rejects with the gRPC error.
function call(client, method, request, timeoutMs) {
  return new Promise((resolvePromise, reject) => {
    const deadline = new Date(Date.now() + timeoutMs);
    client[method](request, { deadline }, (err, response) => (err ? reject(err) : resolvePromise(response)));
  });
}

function codeName(grpc, code) {
  return Object.keys(grpc.status).find((k) => grpc.status[k] === code) ?? String(code);
}

function describeError(grpc, err) {
  if (err?.code === undefined) return String(err?.stack || err);
  const reason = err.metadata?.get?.('credvault-error-reason')?.[0];
  return `${codeName(grpc, err.code)}: ${err.details || err.message}${reason ? ` (credvault-error-reason: ${reason})` : ''}`;
}

function expect(condition, message) {
  if (!condition) throw new StepError(message);
}

function expectEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  expect(a === e, `${what} is ${a}, expected ${e}`);
}

function sortedObject(obj) {
  return Object.fromEntries(Object.entries(obj || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

async function main() {
  const c = config();
  const { grpc, v1 } = loadApi();

  const writer = new v1.CredentialService(c.writeAddr, credentials(grpc, c, c.write, 'writer'), channelOptions(c));
  const decryptor = new v1.CredentialAccessService(
    c.decryptAddr,
    credentials(grpc, c, c.decrypt, 'decryptor'),
    channelOptions(c),
  );
  const clients = [writer, decryptor];

  const run = randomBytes(6).toString('hex');
  const org = c.org;
  const name = `node/e2e-${run}`;
  // Binary on purpose: NUL, 0xff, a newline and bytes that are not UTF-8 must survive.
  const secret = Buffer.concat([Buffer.from([0x00, 0xff, 0x0a, 0x80, 0xc3, 0x28]), randomBytes(42)]);
  const other = Buffer.from(secret);
  other[other.length - 1] ^= 0x01;
  const labels = { suite: 'node-client', run };
  const putKey = `node-${run}:put`;
  const purpose = `node client end-to-end check ${run}`;
  const rpc = (client, method, request) => call(client, method, request, c.timeoutMs);

  // Everything the write listener returns, serialised, must not contain the secret.
  const writeMethods = v1.CredentialService.service;
  function noSecretIn(method, response) {
    const wire = writeMethods[method].responseSerialize(response);
    // Raw, or in the text encodings a string field could carry it in.
    for (const form of [secret, Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('base64'))]) {
      expect(wire.indexOf(form) === -1, `the ${method} response contains the secret's bytes`);
    }
  }

  function checkMetadata(md, what, { version = '1', state = 'CREDENTIAL_STATE_ACTIVE' } = {}) {
    expect(md, `${what}: credential metadata is missing`);
    expectEqual(md.org_id, org, `${what}: credential.org_id`);
    expectEqual(md.name, name, `${what}: credential.name`);
    expectEqual(md.version, version, `${what}: credential.version`);
    expectEqual(md.state, state, `${what}: credential.state`);
    if (state === 'CREDENTIAL_STATE_ACTIVE') {
      expectEqual(sortedObject(md.labels), sortedObject(labels), `${what}: credential.labels`);
      expect(md.create_time && md.create_time.seconds !== '0', `${what}: credential.create_time is unset`);
    }
  }

  const steps = [];
  const step = (title, fn) => steps.push({ title, fn });

  if (c.adminAddr) {
    step(`CreateOrg ${org} (admin listener ${c.adminAddr})`, async () => {
      const admin = new v1.AdminService(c.adminAddr, credentials(grpc, c, c.admin, 'admin'), channelOptions(c));
      clients.push(admin);
      try {
        const res = await rpc(admin, 'CreateOrg', requests.createOrg({ org, idempotencyKey: `node-${run}:org` }));
        expect(res.org, 'CreateOrg returned no org');
        return 'created';
      } catch (err) {
        if (err?.code === grpc.status.ALREADY_EXISTS && c.orgGiven) return 'already exists';
        throw err;
      }
    });
  }

  let putVersion;
  step(`PutCredential ${org}/${name} (${secret.length}-byte secret, must_not_exist)`, async () => {
    const res = await rpc(writer, 'PutCredential', requests.put({ org, name, secret, labels, idempotencyKey: putKey }));
    noSecretIn('PutCredential', res);
    expectEqual(res.idempotent_replay, false, 'idempotent_replay');
    checkMetadata(res.credential, 'PutCredential');
    expectEqual(res.credential.current_version, '1', 'PutCredential: credential.current_version');
    putVersion = res.credential.version;
    return `version ${putVersion}, created_by ${res.credential.created_by || '(empty)'}`;
  });

  step('PutCredential again with the same idempotency_key (replay)', async () => {
    const res = await rpc(writer, 'PutCredential', requests.put({ org, name, secret, labels, idempotencyKey: putKey }));
    noSecretIn('PutCredential', res);
    expectEqual(res.idempotent_replay, true, 'idempotent_replay');
    checkMetadata(res.credential, 'PutCredential replay', { version: putVersion });
    return `version ${res.credential.version}, replayed`;
  });

  step('ListCredentials (name_prefix "node/", label_selector run)', async () => {
    const seen = [];
    let pageToken = '';
    for (let page = 0; page < 100; page++) {
      const res = await rpc(
        writer,
        'ListCredentials',
        requests.list({ org, namePrefix: 'node/', labelSelector: { run }, pageToken }),
      );
      noSecretIn('ListCredentials', res);
      for (const md of res.credentials) {
        expect(md.org_id === org, `listed a credential of org ${md.org_id}`);
        expect(md.name.startsWith('node/'), `listed ${md.name}, which does not match name_prefix`);
        expect(md.labels?.run === run, `listed ${md.name}, which does not match label_selector`);
        seen.push(md.name);
      }
      pageToken = res.next_page_token;
      if (!pageToken) break;
    }
    expect(!pageToken, 'the listing did not end within 100 pages');
    expect(seen.includes(name), `${name} is not listed (listed: ${JSON.stringify(seen)})`);
    const found = seen.filter((n) => n === name).length;
    expect(found === 1, `${name} is listed ${found} times`);
    return `${seen.length} listed`;
  });

  step('DescribeCredential', async () => {
    const res = await rpc(writer, 'DescribeCredential', requests.describe({ org, name }));
    noSecretIn('DescribeCredential', res);
    checkMetadata(res.credential, 'DescribeCredential', { version: putVersion });
    expectEqual(res.credential.current_version, putVersion, 'DescribeCredential: credential.current_version');
    return `version ${res.credential.version}, state ${res.credential.state}`;
  });

  step('CompareCredential with the secret (match)', async () => {
    const res = await rpc(writer, 'CompareCredential', requests.compare({ org, name, version: putVersion, candidate: secret }));
    noSecretIn('CompareCredential', res);
    expectEqual(res.match, true, 'match');
    expectEqual(res.version, putVersion, 'version');
    return 'match';
  });

  step('CompareCredential with another value (no match)', async () => {
    const res = await rpc(writer, 'CompareCredential', requests.compare({ org, name, candidate: other }));
    noSecretIn('CompareCredential', res);
    expectEqual(res.match, false, 'match');
    expectEqual(res.version, putVersion, 'version');
    return 'no match';
  });

  step(`DecryptCredential on ${c.decryptAddr} with a purpose`, async () => {
    const res = await rpc(decryptor, 'DecryptCredential', requests.decrypt({ org, name, purpose }));
    expect(Buffer.isBuffer(res.secret), 'secret is not bytes');
    expect(
      res.secret.equals(secret),
      `the decrypted secret differs from the one put (${res.secret.length} bytes, expected ${secret.length})`,
    );
    checkMetadata(res.credential, 'DecryptCredential', { version: putVersion });
    expect(/^[0-9]+$/.test(res.audit_sequence), `audit_sequence is ${JSON.stringify(res.audit_sequence)}`);
    return `secret round-trips byte for byte, audit_sequence ${res.audit_sequence}`;
  });

  const expectCode = async (promise, code, what) => {
    try {
      await promise;
    } catch (err) {
      if (err?.code === code) return;
      throw new StepError(`${what}: expected ${codeName(grpc, code)}, got ${describeError(grpc, err)}`);
    }
    throw new StepError(`${what}: succeeded, expected ${codeName(grpc, code)}`);
  };

  step('DecryptCredential without a purpose is INVALID_ARGUMENT', async () => {
    await expectCode(
      rpc(decryptor, 'DecryptCredential', requests.decrypt({ org, name, purpose: '' })),
      grpc.status.INVALID_ARGUMENT,
      'DecryptCredential with an empty purpose',
    );
    return 'refused';
  });

  if (!c.keep) {
    step('DeleteCredential (DELETION_MODE_ERASE)', async () => {
      const res = await rpc(writer, 'DeleteCredential', requests.erase({ org, name, idempotencyKey: `node-${run}:erase` }));
      noSecretIn('DeleteCredential', res);
      checkMetadata(res.credential, 'DeleteCredential', { version: putVersion, state: 'CREDENTIAL_STATE_ERASED' });
      return `${res.affected_version_count} version(s) erased`;
    });

    step('after the erase: Describe and Decrypt are NOT_FOUND', async () => {
      await expectCode(rpc(writer, 'DescribeCredential', requests.describe({ org, name })), grpc.status.NOT_FOUND, 'DescribeCredential');
      await expectCode(
        rpc(decryptor, 'DecryptCredential', requests.decrypt({ org, name, purpose })),
        grpc.status.NOT_FOUND,
        'DecryptCredential',
      );
      return 'gone';
    });
  }

  console.log(`node client: org ${org}, credential ${name}, write ${c.writeAddr}, decrypt ${c.decryptAddr}`);
  let passed = 0;
  try {
    for (const { title, fn } of steps) {
      try {
        const detail = await fn();
        passed++;
        console.log(`ok   ${title}${detail ? ` - ${detail}` : ''}`);
      } catch (err) {
        console.log(`FAIL ${title}`);
        console.log(`     ${err instanceof StepError ? err.message : describeError(grpc, err)}`);
        if (err?.code === grpc.status.UNAVAILABLE) {
          console.log('     (is the server listening there? do its CA, name and client-certificate settings match the files given?)');
        }
        if (err?.code === grpc.status.NOT_FOUND && title.startsWith('PutCredential') && !c.adminAddr) {
          console.log('     (if the server does not provision orgs on first Put, pass --admin-addr to create the org)');
        }
        console.log(`client: ${passed} passed, 1 failed, ${steps.length - passed - 1} skipped`);
        return 1;
      }
    }
  } finally {
    for (const client of clients) client.close();
  }
  console.log(`client: ${passed} passed, 0 failed`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    if (err instanceof UsageError || err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || err?.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      console.error(`client.mjs: ${err.message}`);
      console.error(USAGE);
      process.exitCode = 2;
    } else {
      console.error(`client.mjs: ${err?.stack || err}`);
      process.exitCode = 1;
    }
  },
);
