// A relying party built on openid-client (npm, pinned in package.json), signing in through the
// Convergences OpenID Connect provider: discovery, authorization code flow with PKCE, ID token
// validation, userinfo, refresh, RP-initiated logout, then userinfo again (refused).
//
//   node rp.mjs <issuer> <client_id> <client_secret> <redirect_uri> <post_logout_uri> <email> <password>
//
// The gateway answers on 127.0.0.1 whatever the host name: every request goes there with the
// issuer's Host header (customFetch), so no name resolution is needed. The user's browser is
// played with plain requests and a cookie jar. Prints one JSON line of what the library reported.
import * as client from 'openid-client';
import http from 'node:http';

const [issuer, clientId, secret, redirectUri, postLogout, email, password] = process.argv.slice(2);

function loopbackFetch(url, options = {}) {
  const u = new URL(url);
  const headers = new Headers(options.headers);
  let body = options.body;
  if (body instanceof URLSearchParams) {
    if (!headers.has('content-type')) headers.set('content-type', 'application/x-www-form-urlencoded;charset=UTF-8');
    body = body.toString();
  }
  const plain = Object.fromEntries(headers.entries());
  plain.host = u.host;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: u.port || 80, path: u.pathname + u.search, method: options.method || 'GET', headers: plain },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) {
            for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
          }
          const noBody = [204, 205, 304].includes(res.statusCode);
          resolve(new Response(noBody ? null : Buffer.concat(chunks), { status: res.statusCode, headers: h }));
        });
      },
    );
    req.on('error', reject);
    if (body) req.write(body);
    req.end();
  });
}

// The browser: follows nothing by itself, keeps cookies by name.
const jar = new Map();
async function browse(url, init = {}) {
  const headers = new Headers(init.headers);
  if (jar.size) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
  const res = await loopbackFetch(url, { ...init, headers });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const i = pair.indexOf('=');
    jar.set(pair.slice(0, i), pair.slice(i + 1));
  }
  return res;
}
const absolute = (loc) => new URL(loc, issuer).toString();

const config = await client.discovery(new URL(issuer), clientId, secret, undefined, {
  execute: [client.allowInsecureRequests],
  [client.customFetch]: loopbackFetch,
});

const verifier = client.randomPKCECodeVerifier();
const state = client.randomState();
const nonce = client.randomNonce();
const authUrl = client.buildAuthorizationUrl(config, {
  redirect_uri: redirectUri,
  scope: 'openid profile email roles structure offline_access',
  code_challenge: await client.calculatePKCECodeChallenge(verifier),
  code_challenge_method: 'S256',
  state,
  nonce,
});

// Not signed in: the provider sends the browser to its login form, which comes back.
let res = await browse(authUrl.toString());
if (res.status !== 302) throw new Error(`authorize: ${res.status}`);
const loginUrl = absolute(res.headers.get('location'));
res = await browse(loginUrl);
const html = await res.text();
const csrf = /name="csrf" value="([^"]+)"/.exec(html)[1];
const returnTo = new URL(loginUrl).searchParams.get('return_to');
res = await browse(absolute('/login'), {
  method: 'POST',
  headers: { 'content-type': 'application/x-www-form-urlencoded' },
  body: new URLSearchParams({ csrf, email, password, return_to: returnTo }).toString(),
});
if (res.status !== 303) throw new Error(`login: ${res.status}`);
res = await browse(absolute(res.headers.get('location')));
const callback = res.headers.get('location');
if (res.status !== 302 || !callback.startsWith(redirectUri)) throw new Error(`no code: ${res.status} ${callback}`);

const tokens = await client.authorizationCodeGrant(config, new URL(callback), {
  pkceCodeVerifier: verifier,
  expectedState: state,
  expectedNonce: nonce,
  idTokenExpected: true,
});
const claims = tokens.claims();
const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
const refreshedClaims = refreshed.claims();

// RP-initiated logout with the ID token as hint, then the old access token is refused.
const endSession = client.buildEndSessionUrl(config, {
  id_token_hint: refreshed.id_token,
  post_logout_redirect_uri: postLogout,
  state: 'bye',
});
res = await browse(endSession.toString());
const afterLogout = res.headers.get('location');
let userinfoAfterLogout = 'accepted';
try {
  await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
} catch (e) {
  userinfoAfterLogout = e.status ? `refused ${e.status}` : `refused ${e.code || e.message}`;
}

console.log(JSON.stringify({
  id_token_claims: claims,
  userinfo,
  refreshed_sub: refreshedClaims?.sub,
  refresh_rotated: refreshed.refresh_token !== tokens.refresh_token,
  logout_status: res.status,
  after_logout: afterLogout,
  userinfo_after_logout: userinfoAfterLogout,
}));
