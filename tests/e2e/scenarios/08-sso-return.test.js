'use strict';
// Single sign-on across hosts: a deep link to an application asks for the login first, then
// lands on the very page asked for; the second application opens without logging in again; the
// logout reaches both application hosts.
const L = require('../lib');
const { assert } = L;

L.scenario('authentification unique : lien profond vers BIP, retour après connexion, Net-Cotisations sans reconnexion', async (s) => {
  const page = await s.context.newPage();

  s.step('lien profond vers BIP sans session');
  const deep = '/dossiers/42?onglet=carri%C3%A8re';
  await page.goto(L.bip(deep));
  await L.expectLoginForm(page);
  assert.equal(new URL(page.url()).host, `auth.localhost:${L.PORT}`, 'the login is on the portal host');

  s.step('connexion : retour sur la page demandée');
  await L.fillLogin(page, L.ACCOUNTS.referent, L.PASSWORD);
  await page.waitForURL((u) => u.host === `bip.localhost:${L.PORT}`);
  await page.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();
  const shown = await page.locator('dt', { hasText: 'Chemin demandé' }).locator('xpath=following-sibling::dd[1]').innerText();
  // The demo application shows the path it received (without the query string).
  assert.equal(shown.trim(), '/dossiers/42');
  assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, deep);

  s.step('Net-Cotisations sans nouvelle connexion');
  await page.goto(L.netcotisations('/'));
  await page.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();
  assert.match(await page.locator('main').innerText(), /administrateur@mairie-exemple/);
  await s.a11y(page, 'application de démonstration Net-Cotisations');

  s.step('déconnexion depuis le portail');
  await page.getByRole('link', { name: 'Retour au portail' }).first().click();
  await page.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();
  await L.logout(s, page);

  s.step('les deux applications redemandent la connexion');
  for (const url of [L.bip('/'), L.netcotisations('/')]) {
    await page.goto(url);
    await L.expectLoginForm(page);
  }

  s.step('lien profond vers l\'annuaire : retour après connexion');
  await page.goto(L.portal('/aia/utilisateurs'));
  await L.expectLoginForm(page);
  await L.fillLogin(page, L.ACCOUNTS.referent, L.PASSWORD);
  await page.getByRole('heading', { level: 1, name: /^Utilisateurs \(\d+\)$/ }).waitFor();
});

// A shared link to a role's members comes back to that role after the login (the AIA used to
// drop the query string).
L.scenario('lien profond vers un rôle de l\'annuaire : la requête est conservée après connexion', async (s) => {
  const page = await s.context.newPage();
  s.step('lien vers les membres de BIP / utilisateur sans session');
  await page.goto(L.portal('/aia/applications?app=bip&role=utilisateur'));
  await L.expectLoginForm(page);
  await L.fillLogin(page, L.ACCOUNTS.referent, L.PASSWORD);
  await page.getByRole('heading', { level: 1, name: 'Applications' }).waitFor();
  assert.equal(new URL(page.url()).search, '?app=bip&role=utilisateur', `landed on ${page.url()}`);
});
