// private_key_jwt (RFC 7523 §2.2) with openid-client: a new ES256 key made
// here, its public JWK printed for the test to register; the client_id is
// then read on stdin, and PrivateKeyJwt authenticates a client credentials
// grant, an introspection, a revocation and a second introspection. Reads
// PORTCULLIS_ISSUER; prints one JSON line per step.
import * as readline from 'node:readline';
import * as client from 'openid-client';

const issuer = new URL(process.env.PORTCULLIS_ISSUER);
const options = issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined;

const { privateKey, publicKey } = await crypto.subtle.generateKey(
  { name: 'ECDSA', namedCurve: 'P-256' },
  true,
  ['sign', 'verify'],
);
const kid = 'node-es256';
const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', publicKey);
console.log(JSON.stringify({ jwk: { kty, crv, x, y, kid } }));

const lines = readline.createInterface({ input: process.stdin });
const clientId = await new Promise((resolve) => lines.once('line', resolve));
lines.close();

const auth = client.PrivateKeyJwt({ key: privateKey, kid });
const config = await client.discovery(issuer, clientId, undefined, auth, options);
const meta = config.serverMetadata();
const tokens = await client.clientCredentialsGrant(config, { scope: 'api' });
const before = await client.tokenIntrospection(config, tokens.access_token);
await client.tokenRevocation(config, tokens.access_token);
const after = await client.tokenIntrospection(config, tokens.access_token);
console.log(JSON.stringify({
  token_endpoint_auth_methods_supported: meta.token_endpoint_auth_methods_supported,
  token_endpoint_auth_signing_alg_values_supported: meta.token_endpoint_auth_signing_alg_values_supported,
  token_type: tokens.token_type,
  scope: tokens.scope,
  active_before: before.active,
  client_id_before: before.client_id,
  active_after: after.active,
}));
