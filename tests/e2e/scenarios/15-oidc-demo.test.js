'use strict';
// The demo's OpenID Connect relying party ("Démo OpenID Connect", docs/oidc-provider.md#demo):
// from the portal tile, sign in through the provider (already signed in at the portal: no form),
// see the verified ID token and UserInfo, log out through the portal's end-session endpoint and
// land back on the relying party; the portal session has ended too. Asking for a second factor
// with an account that has none stops on the portal's page that says so.
const L = require('../lib');
const { assert } = L;

L.scenario('Démo OpenID Connect : connexion depuis la tuile, jeton vérifié, déconnexion par le portail', async (s) => {
  const page = await s.context.newPage();

  s.step('connexion au portail et tuile Démo OpenID Connect');
  await L.login(page, L.ACCOUNTS.referent);
  const href = await L.tileHref(page, 'Démo OpenID Connect');
  const rp = new URL(href);
  assert.equal(rp.hostname, 'rp.localhost', `the tile links to the relying party (got ${href})`);
  await page.locator('a.tile', { hasText: 'Démo OpenID Connect' }).click();
  await page.waitForURL((u) => u.host === rp.host);
  await page.getByRole('heading', { level: 1, name: 'Démo OpenID Connect' }).waitFor();
  await s.a11y(page, 'démo OpenID Connect (accueil)');

  s.step('connexion par le fournisseur OpenID Connect');
  await page.getByRole('link', { name: 'Se connecter avec le portail' }).click();
  await page.getByText("Jeton d'identité vérifié.").waitFor();
  assert.equal(new URL(page.url()).host, rp.host, 'back on the relying party');
  const token = await page.locator('#jeton').innerText();
  assert.match(token, /"email": "referent@mairie-exemple\.fr"/);
  assert.match(token, /"acr": "eidas1"/);
  assert.match(token, /"aud": "demo-rp"/);
  const profile = await page.locator('#profil').innerText();
  assert.match(profile, /"structure": "mairie-exemple"/);
  assert.match(await page.locator('.user-name').innerText(), /Régis Référent/);
  await s.a11y(page, 'démo OpenID Connect (connecté)');

  s.step('déconnexion par le portail (end-session), retour sur la démo');
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await page.getByText("Vous êtes déconnecté de l'application et du portail.").waitFor();
  assert.equal(new URL(page.url()).host, rp.host);
  assert.equal(new URL(page.url()).pathname, '/deconnecte');
  await s.a11y(page, 'démo OpenID Connect (déconnecté)');

  s.step('le portail redemande la connexion');
  await page.goto(L.portal('/'));
  await L.expectLoginForm(page);

  s.step('vérification en deux étapes demandée, compte sans second facteur');
  await page.goto(href);
  await page.getByRole('link', { name: 'Se connecter avec la vérification en deux étapes' }).click();
  await L.expectLoginForm(page);
  await L.fillLogin(page, L.ACCOUNTS.referent, L.PASSWORD);
  await page.getByRole('heading', { level: 1, name: 'Confirmez votre identité' }).waitFor();
  await page.getByRole('link', { name: 'Activer la vérification en deux étapes' }).waitFor();
  await s.a11y(page, 'vérification en deux étapes exigée par la démo OpenID Connect');
});
