// Drives Portcullis with openid-client (a certified relying-party library):
// discovery, client_credentials, introspection, revocation. Reads
// PORTCULLIS_ISSUER, CLIENT_ID, CLIENT_SECRET; prints one JSON line with
// what it saw, and exits non-zero on the first failure.
import * as client from 'openid-client';

const issuer = new URL(process.env.PORTCULLIS_ISSUER);
const options = issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined;
const config = await client.discovery(issuer, process.env.CLIENT_ID, process.env.CLIENT_SECRET, undefined, options);
const meta = config.serverMetadata();

const tokens = await client.clientCredentialsGrant(config, { scope: 'api' });
const live = await client.tokenIntrospection(config, tokens.access_token);
await client.tokenRevocation(config, tokens.access_token);
const revoked = await client.tokenIntrospection(config, tokens.access_token);

console.log(JSON.stringify({
  issuer: meta.issuer,
  token_type: tokens.token_type,
  scope: tokens.scope,
  live_active: live.active,
  live_client_id: live.client_id,
  revoked_active: revoked.active,
}));
