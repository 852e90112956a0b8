// An MCP client as MCP clients are written: the official TypeScript SDK's
// StreamableHTTPClientTransport with an OAuthClientProvider. It connects to
// an MCP server that wants a token; the SDK finds the authorization server
// (RFC 9728, then RFC 8414), registers (RFC 7591) and builds the
// authorization URL (PKCE, RFC 8707 resource). The person signs in and
// consents in a real headless Chromium (playwright-core steering the system
// browser); the code comes back to a loopback listener (RFC 8252 §7.3), the
// SDK exchanges it, and the client lists the tools and calls `whoami`.
//
// Reads MCP_URL, USERNAME, PASSWORD and CHROMIUM (the browser's path);
// prints one JSON line with what it saw, and exits non-zero on the first
// failure.
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { chromium } from 'playwright-core';

const { MCP_URL, USERNAME, PASSWORD, CHROMIUM } = process.env;
setTimeout(() => {
  console.error('mcp.mjs: gave up after 120 s');
  process.exit(2);
}, 120_000).unref();

// The loopback redirect listener: resolves with the first /callback's query.
const callback = {};
callback.received = new Promise((resolve) => { callback.resolve = resolve; });
const listener = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  res.writeHead(200, { 'Content-Type': 'text/plain' }).end('Signed in; you may close this window.');
  if (url.pathname === '/callback') callback.resolve(url.searchParams);
});
await new Promise((resolve) => listener.listen(0, '127.0.0.1', resolve));
const redirectUrl = `http://127.0.0.1:${listener.address().port}/callback`;

// The person: sign in and consent in a real browser.
let consentText;
async function signInAndConsent(authorizationUrl) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, timeout: 60_000 });
  try {
    const page = await browser.newPage();
    await page.goto(authorizationUrl.href);
    await page.fill('#username', USERNAME);
    await page.fill('#password', PASSWORD);
    await page.click('button[type=submit]');
    const approve = page.locator('button[value=approve]');
    await approve.waitFor();
    consentText = await page.locator('body').innerText();
    await approve.click();
    await page.waitForURL((u) => u.href.startsWith(redirectUrl));
  } finally {
    await browser.close();
  }
}

// The OAuthClientProvider: what the SDK asks of an MCP client, kept in memory.
class Provider {
  constructor() {
    this.expectedState = randomUUID();
  }
  get redirectUrl() { return redirectUrl; }
  get clientMetadata() {
    return {
      client_name: 'MCP end-to-end client',
      redirect_uris: [redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }
  state() { return this.expectedState; }
  clientInformation() { return this.client; }
  saveClientInformation(info) { this.client = info; }
  tokens() { return this.savedTokens; }
  saveTokens(tokens) { this.savedTokens = tokens; }
  saveCodeVerifier(verifier) { this.verifier = verifier; }
  codeVerifier() { return this.verifier; }
  redirectToAuthorization(url) {
    // A real client opens the browser and returns; the code arrives later.
    this.authorizationUrl = url;
    this.browsing = signInAndConsent(url);
  }
}

// Every HTTP request the SDK makes, in order.
const requests = [];
const recordingFetch = (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  requests.push(`${init?.method ?? input?.method ?? 'GET'} ${url}`);
  return fetch(input, init);
};
const transport = () => new StreamableHTTPClientTransport(new URL(MCP_URL), { authProvider: provider, fetch: recordingFetch });

const provider = new Provider();
const firstTransport = transport();
let first;
try {
  await new Client({ name: 'portcullis-e2e', version: '1.0.0' }).connect(firstTransport);
  first = 'connected without a token';
} catch (e) {
  if (!(e instanceof UnauthorizedError)) throw e;
  first = 'UnauthorizedError';
}
if (!provider.browsing) throw new Error(`the SDK did not start an authorization (${first})`);
await provider.browsing;
const params = await callback.received;
if (params.get('state') !== provider.expectedState) throw new Error('state does not match');
if (!params.get('code')) throw new Error(`no code: ${params}`);
const authorizedAt = requests.length;
await firstTransport.finishAuth(params.get('code'));

// Connected again, now with a token.
const client = new Client({ name: 'portcullis-e2e', version: '1.0.0' });
await client.connect(transport());
const tools = await client.listTools();
const whoami = await client.callTool({ name: 'whoami', arguments: {} });
await client.close();
listener.close();

console.log(JSON.stringify({
  first,
  requests_before_authorization: requests.slice(0, authorizedAt),
  requests_after_authorization: requests.slice(authorizedAt),
  authorization_url: provider.authorizationUrl.href,
  callback_iss: params.get('iss'),
  registered: provider.client,
  consent_text: consentText,
  tools: tools.tools.map((tool) => tool.name),
  whoami: whoami.content?.[0]?.text,
  access_token: provider.savedTokens.access_token,
  scope: provider.savedTokens.scope,
}));
