// DPoP (RFC 9449) with openid-client: randomDPoPKeyPair + getDPoPHandle,
// then the library's proofs at the token endpoint and userinfo (it retries
// once with the server's nonce when it gets use_dpop_nonce). Reads
// PORTCULLIS_ISSUER, CLIENT_ID, CLIENT_SECRET (confidential clients only),
// REDIRECT_URI and MODE; prints one JSON line per step.
//
// MODE=client_credentials: one client credentials grant with DPoP.
// MODE=code (a public client): prints the authorization URL (pushed, with
// a DPoP proof that binds the code to the key, when PAR=1), reads the
// callback URL on stdin, then authorizationCodeGrant with PKCE and DPoP,
// userinfo with DPoP, a refresh with the same key, and a refresh of the new
// refresh token with another key (which must fail).
import * as readline from 'node:readline';
import * as client from 'openid-client';

const issuer = new URL(process.env.PORTCULLIS_ISSUER);
const options = issuer.protocol === 'http:' ? { execute: [client.allowInsecureRequests] } : undefined;
const secret = process.env.CLIENT_SECRET;
const auth = secret ? client.ClientSecretBasic(secret) : client.None();
const config = await client.discovery(issuer, process.env.CLIENT_ID, undefined, auth, options);
const meta = config.serverMetadata();
const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));

const failure = async (step) => {
  try {
    await step();
    return null;
  } catch (e) {
    return { error: e.error ?? e.code ?? e.message, status: e.status ?? null };
  }
};

if (process.env.MODE === 'client_credentials') {
  const tokens = await client.clientCredentialsGrant(config, { scope: 'api' }, { DPoP });
  console.log(JSON.stringify({
    dpop_signing_alg_values_supported: meta.dpop_signing_alg_values_supported,
    token_type: tokens.token_type,
    access_token: tokens.access_token,
  }));
  process.exit(0);
}

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const request = {
  redirect_uri: process.env.REDIRECT_URI,
  scope: 'openid email offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
};
const url = process.env.PAR === '1'
  ? await client.buildAuthorizationUrlWithPAR(config, request, { DPoP })
  : client.buildAuthorizationUrl(config, request);
console.log(JSON.stringify({ url: url.href }));

const lines = readline.createInterface({ input: process.stdin });
const callback = await new Promise((resolve) => lines.once('line', resolve));
lines.close();
const tokens = await client.authorizationCodeGrant(
  config,
  new URL(callback),
  { pkceCodeVerifier: verifier, expectedState: state },
  undefined,
  { DPoP },
);
const sub = tokens.claims().sub;
const userinfo = await client.fetchUserInfo(config, tokens.access_token, sub, { DPoP });
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP });
const otherKey = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
const stolen = await failure(() =>
  client.refreshTokenGrant(config, refreshed.refresh_token, undefined, { DPoP: otherKey }));
console.log(JSON.stringify({
  token_type: tokens.token_type,
  access_token: tokens.access_token,
  refresh_token: tokens.refresh_token,
  sub,
  userinfo_sub: userinfo.sub,
  refreshed_token_type: refreshed.token_type,
  refreshed_access_token: refreshed.access_token,
  refreshed_refresh_token: refreshed.refresh_token,
  other_key_refresh: stolen,
}));
