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

// A structure turns password sign-in off (docs/identity-providers.md#password-sign-in-turned-off):
// the platform administrator ticks the box on the CCAS's form (the demo's third structure), the
// CCAS agent's right password then gets the generic answer naming the provider's button, and the
// box is unticked again for the scenarios that follow.
L.scenario('structure : connexion par mot de passe désactivée au profit du fournisseur', async (s) => {
  const page = await s.context.newPage();
  const setBox = async (checked) => {
    await page.goto(L.portal('/aia/structures/3/editer'));
    await page.getByRole('heading', { level: 1, name: 'Éditer la structure' }).waitFor();
    assert.equal(await page.getByLabel('Nom de la structure').inputValue(), 'ccas');
    const box = page.getByLabel('Désactiver la connexion par mot de passe pour les comptes de cette structure');
    await box.setChecked(checked);
    return box;
  };

  s.step("l'administrateur coche la case sur la fiche de la structure");
  await L.login(page, L.ACCOUNTS.admin);
  await setBox(true);
  await s.a11y(page, 'structure (mot de passe désactivé)');
  await page.getByRole('button', { name: 'Enregistrer' }).click();
  await page.waitForURL((u) => u.pathname === '/aia/structures');
  await L.logout(s, page);

  s.step("le bon mot de passe de l'agent du CCAS reçoit la réponse générique, qui nomme le bouton");
  await page.goto(L.portal('/login'));
  await L.fillLogin(page, L.ACCOUNTS.ccas, L.PASSWORD);
  const alert = page.locator('#login-error');
  await alert.waitFor();
  assert.match(await alert.innerText(), /Adresse e-mail ou mot de passe incorrect\. .*« S'identifier avec le fournisseur de test »/);
  await s.a11y(page, 'connexion refusée (mot de passe désactivé)');

  s.step('la case est décochée : le mot de passe fonctionne à nouveau');
  await L.login(page, L.ACCOUNTS.admin);
  await setBox(false);
  await page.getByRole('button', { name: 'Enregistrer' }).click();
  await page.waitForURL((u) => u.pathname === '/aia/structures');
  await L.logout(s, page);
  // The password is accepted again: the portal, or the second step when the account has a
  // factor (the second-factor scenario enrols one on this shared demo account).
  await page.goto(L.portal('/login'));
  await L.fillLogin(page, L.ACCOUNTS.ccas, L.PASSWORD);
  await page
    .getByRole('heading', { level: 1, name: /^(Vos applications|Vérification en deux étapes)$/ })
    .waitFor();
});
