// A long-lived credvault client in Node.js (@grpc/grpc-js) for the restart tests: one
// client for its whole life, DescribeCredential in a loop, one line per call:
//
//   <unix ms> <status code name>
//
// Calls wait for the channel to be ready within their deadline (waitForReady), as
// docs/api.md ("Reconnecting") recommends. Stops when STOP_FILE exists.
//
// Usage: node long_lived_client.mjs ADDRESS PKI_DIR ORG NAME STOP_FILE
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadApi } from './lib.mjs';

const [address, pki, org, name, stopFile] = process.argv.slice(2);
const { grpc, v1 } = loadApi();
const tls = grpc.credentials.createSsl(
  readFileSync(join(pki, 'ca.pem')),
  readFileSync(join(pki, 'backend.key')),
  readFileSync(join(pki, 'backend.pem')),
);
const client = new v1.CredentialService(address, tls, {
  'grpc.ssl_target_name_override': 'localhost',
  'grpc.default_authority': 'localhost',
});
const codeNames = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

function describe() {
  return new Promise((resolve) => {
    client.DescribeCredential(
      { org_id: org, name },
      { deadline: Date.now() + 2000, waitForReady: true },
      (error) => resolve(error ? codeNames[error.code] ?? String(error.code) : 'OK'),
    );
  });
}

while (!existsSync(stopFile)) {
  const code = await describe();
  console.log(`${Date.now()} ${code}`);
  await new Promise((resolve) => setTimeout(resolve, 50));
}
client.close();
