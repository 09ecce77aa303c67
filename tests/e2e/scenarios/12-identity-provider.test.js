'use strict';
// Scenario 12: sign-in through an external OpenID Connect provider. run.sh starts a real,
// certified provider implementation (panva's oidc-provider, tests/e2e/idp/) configured like
// ProConnect (signed userinfo, acr, client_secret_post, PKCE, RP-initiated logout) and the demo
// with `--test-provider`: the agent clicks "S'identifier avec ...", lands on her portal, and
// logging out ends her session at the provider too.
const L = require('../lib');
const { assert } = L;

L.scenario('fournisseur d\'identité : connexion sans mot de passe, déconnexion chez le fournisseur', async (s) => {
  const page = await s.context.newPage();

  s.step('page de connexion avec le bouton du fournisseur');
  await page.goto(L.portal('/login'));
  const button = page.getByRole('link', { name: "S'identifier avec le fournisseur de test" });
  await button.waitFor();
  await s.a11y(page, 'connexion (fournisseur)');

  s.step('connexion chez le fournisseur');
  await button.click();
  await page.waitForURL((u) => u.hostname === '127.0.0.1');
  await page.getByRole('button', { name: "Continuer en tant qu'Agnès Agent" }).click();

  s.step('retour sur le portail, connectée');
  await page.waitForURL((u) => u.host === `auth.localhost:${L.PORT}` && u.pathname === '/');
  await page.getByText('Connecté en tant que').waitFor();
  assert.match(await page.locator('.user-name').innerText(), /Agnès Agent/);
  assert.deepEqual(await L.tileNames(page), ['BIP', 'Annuaire des identités et des accès']);
  await s.a11y(page, 'portail (après le fournisseur)');

  s.step('déconnexion, jusque chez le fournisseur');
  await page.goto(L.portal('/logout'));
  await page.getByRole('button', { name: 'Se déconnecter' }).click();
  await page.waitForURL((u) => u.hostname === '127.0.0.1');
  // oidc-provider asks to confirm the end of its own session.
  await page.locator('button[autofocus], button[type=submit], input[type=submit]').first().click();
  await page.waitForURL((u) => u.host === `auth.localhost:${L.PORT}` && u.pathname === '/login');
  await page.getByText('Vous êtes déconnecté.').waitFor();
  await page.goto(L.portal('/'));
  await L.expectLoginForm(page);
});
