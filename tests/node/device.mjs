// Drives the device authorization grant (RFC 8628) with openid-client as a
// public client: discovery, initiateDeviceAuthorization, then
// pollDeviceAuthorizationGrant until the person approves. Reads
// PORTCULLIS_ISSUER and CLIENT_ID. Prints two JSON lines: the device
// authorization response (for the test to approve on the pages), then what
// the tokens showed. Exits non-zero on the first failure.
import * as client from 'openid-client';

const issuer = new URL(process.env.PORTCULLIS_ISSUER);
const options = issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined;
const config = await client.discovery(issuer, process.env.CLIENT_ID, undefined, client.None(), options);
const meta = config.serverMetadata();

const started = await client.initiateDeviceAuthorization(config, { scope: 'openid offline_access' });
console.log(JSON.stringify({
  device_authorization_endpoint: meta.device_authorization_endpoint,
  user_code: started.user_code,
  verification_uri: started.verification_uri,
  verification_uri_complete: started.verification_uri_complete,
  expires_in: started.expires_in,
  interval: started.interval,
}));

const tokens = await client.pollDeviceAuthorizationGrant(config, started);
const claims = tokens.claims();
console.log(JSON.stringify({
  token_type: tokens.token_type,
  scope: tokens.scope,
  access_token: tokens.access_token,
  has_refresh_token: typeof tokens.refresh_token === 'string',
  sub: claims?.sub,
  iss: claims?.iss,
  aud: claims?.aud,
}));
