// A real OpenID Connect provider for the interoperability scenario (tests/e2e/run.sh): panva's
// certified oidc-provider, configured like ProConnect rather than with its defaults: the
// ProConnect scopes and claims (given_name, usual_name, uid, siret), acr values eidas1-3,
// client_secret_post, ID token and userinfo signed with RS256 (userinfo as a JWT), PKCE
// required, RP-initiated logout. One account by default: the demo's agent.
//
//   IDP_PORT=... IDP_REDIRECT_URI=... IDP_POST_LOGOUT_URI=... [IDP_ACCOUNTS_FILE=...] node server.mjs
//
// IDP_REDIRECT_URI may list several URIs separated by spaces (several providers of one
// gateway). IDP_ACCOUNTS_FILE, a JSON object `sub` → claims, replaces the accounts and is read
// again at each use, so a test can change an account (its e-mail) between two sign-ins; an
// account's `acr` (default "eidas1"; null: none) is the level its sign-in reports, and
// `email_verified`, when present, is released with the `email` scope.
// Prints "idp ready <issuer>" once listening.

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.env.IDP_PORT);
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = (process.env.IDP_REDIRECT_URI || '').split(' ').filter(Boolean);
const postLogoutUri = process.env.IDP_POST_LOGOUT_URI;
if (!port || !redirectUris.length || !postLogoutUri) {
  console.error('IDP_PORT, IDP_REDIRECT_URI and IDP_POST_LOGOUT_URI are required');
  process.exit(2);
}

const DEFAULT_ACCOUNTS = {
  'pc-agnes-0001': {
    sub: 'pc-agnes-0001',
    email: 'agent@mairie-exemple.fr',
    given_name: 'Agnès',
    usual_name: 'Agent',
    uid: 'agnes-0001',
    siret: '21750001600019',
  },
};

const accounts = () =>
  process.env.IDP_ACCOUNTS_FILE
    ? JSON.parse(fs.readFileSync(process.env.IDP_ACCOUNTS_FILE, 'utf8'))
    : DEFAULT_ACCOUNTS;

// The claims of an account, without the test's own settings.
const claimsOf = (sub) => {
  const { acr, ...claims } = accounts()[sub];
  return { ...claims, sub };
};

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'e2e-1', alg: 'RS256', use: 'sig' };

const SCOPES = ['openid', 'email', 'given_name', 'usual_name', 'uid', 'siret'];

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'convergences-demo',
      client_secret: 'demo-secret-not-for-production',
      redirect_uris: redirectUris,
      post_logout_redirect_uris: [postLogoutUri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'RS256',
      userinfo_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  scopes: SCOPES,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    given_name: ['given_name'],
    usual_name: ['usual_name'],
    uid: ['uid'],
    siret: ['siret'],
  },
  acrValues: ['eidas1', 'eidas2', 'eidas3'],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
  findAccount: async (ctx, id) =>
    accounts()[id] && { accountId: id, claims: async () => claimsOf(id) },
  // A first-party client: the grant covers what the client asks, no consent screen.
  loadExistingGrant: async (ctx) => {
    const { Grant } = ctx.oidc.provider;
    const id = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (id) return Grant.find(id);
    const grant = new Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope(SCOPES.join(' '));
    await grant.save();
    return grant;
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

const page = (uid) => `<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><title>Fournisseur d'identité de test</title></head>
<body><main><h1>Fournisseur d'identité de test</h1>
<form method="post" action="/interaction/${uid}/login">
${Object.entries(accounts())
  .map(([sub, a]) => `<button type="submit" name="account" value="${sub}">Continuer en tant qu'${a.given_name} ${a.usual_name}</button>`)
  .join('\n')}
</form></main></body></html>`;

const body = (req) =>
  new Promise((resolve, reject) => {
    let data = '';
    req.on('data', (c) => { data += c; });
    req.on('end', () => resolve(new URLSearchParams(data)));
    req.on('error', reject);
  });

const server = http.createServer(async (req, res) => {
  const m = req.url.match(/^\/interaction\/([\w-]+)(\/login)?$/);
  if (!m) return provider.callback()(req, res);
  try {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET' && !m[2]) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      return res.end(page(details.uid));
    }
    if (req.method === 'POST' && m[2]) {
      const accountId = (await body(req)).get('account') || 'pc-agnes-0001';
      const account = accounts()[accountId];
      if (!account) return res.writeHead(400).end('unknown account');
      const login = { accountId, amr: ['pwd'] };
      const acr = account.acr === undefined ? 'eidas1' : account.acr;
      if (acr !== null) login.acr = acr;
      return provider.interactionFinished(req, res, { login }, { mergeWithLastSubmission: false });
    }
    res.writeHead(405).end();
  } catch (e) {
    res.writeHead(400, { 'content-type': 'text/plain' }).end(String(e));
  }
});

server.listen(port, '127.0.0.1', () => console.log(`idp ready ${issuer}`));
