'use strict';
// Scenario 5: two tabs of the same browser; a logout in one sends the other to the login page
// on its next click.
const L = require('../lib');
const { assert } = L;

L.scenario('deux onglets : la déconnexion dans l\'un renvoie l\'autre à la connexion', async (s) => {
  s.step('connexion dans le premier onglet');
  const a = await s.context.newPage();
  await L.login(a, L.ACCOUNTS.agent);

  s.step('le second onglet partage la session');
  const b = await s.context.newPage();
  await b.goto(L.portal('/'));
  await b.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();
  assert.deepEqual(await L.tileNames(b), ['BIP', 'Annuaire des identités et des accès']);
  // And BIP, through the handshake, in the second tab.
  await b.goto(await L.tileHref(b, 'BIP'));
  await b.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();
  await b.getByRole('link', { name: 'Retour au portail' }).first().click();
  await b.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();

  s.step('déconnexion dans le premier onglet');
  await L.logout(s, a);

  s.step('le clic suivant du second onglet mène à la connexion');
  await b.locator('a.tile', { hasText: 'Annuaire des identités et des accès' }).click();
  await L.expectLoginForm(b);

  s.step('l\'application aussi');
  await b.goto(L.bip('/'));
  await L.expectLoginForm(b);
});

// A form sent from a tab whose session was closed in another tab leads to the login page
// (it used to answer 403 "Accès refusé").
L.scenario('deux onglets : un formulaire envoyé après la déconnexion mène à la connexion', async (s) => {
  s.step('référent connecté dans deux onglets, formulaire ouvert dans le second');
  const a = await s.context.newPage();
  await L.login(a, L.ACCOUNTS.referent);
  const b = await s.context.newPage();
  await b.goto(L.portal('/aia/utilisateurs/nouveau'));
  await b.getByRole('textbox', { name: 'Nom', exact: true }).fill('Tardif');

  s.step('déconnexion dans le premier onglet');
  await L.logout(s, a);

  s.step('envoi du formulaire du second onglet');
  await b.getByRole('button', { name: 'Ajouter', exact: true }).click();
  await b.waitForLoadState('load');
  const h1 = (await b.getByRole('heading', { level: 1 }).first().innerText()).trim();
  assert.equal(h1, 'Se connecter', `the stale form leads to the login page (got "${h1}")`);
});
