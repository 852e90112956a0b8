// Pushed authorization requests (RFC 9126) with openid-client: discovery,
// buildAuthorizationUrlWithPAR (the library pushes the request and builds
// the authorization URL with request_uri), then, given the callback URL on
// stdin, authorizationCodeGrant with PKCE. Reads PORTCULLIS_ISSUER,
// CLIENT_ID, CLIENT_SECRET, REDIRECT_URI; prints one JSON line per step.
import * as readline from 'node:readline';
import * as client from 'openid-client';

const issuer = new URL(process.env.PORTCULLIS_ISSUER);
const options = issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined;
const config = await client.discovery(issuer, process.env.CLIENT_ID, process.env.CLIENT_SECRET, undefined, options);
const meta = config.serverMetadata();

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const url = await client.buildAuthorizationUrlWithPAR(config, {
  redirect_uri: process.env.REDIRECT_URI,
  scope: 'openid email',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
});
console.log(JSON.stringify({
  pushed_authorization_request_endpoint: meta.pushed_authorization_request_endpoint,
  url: url.href,
}));

const lines = readline.createInterface({ input: process.stdin });
const callback = await new Promise((resolve) => lines.once('line', resolve));
lines.close();
const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedState: state,
});
const claims = tokens.claims();
console.log(JSON.stringify({
  access_token: tokens.access_token,
  scope: tokens.scope,
  sub: claims.sub,
  iss: claims.iss,
  aud: claims.aud,
}));
