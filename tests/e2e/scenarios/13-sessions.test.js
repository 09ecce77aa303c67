'use strict';
// Scenario 12: sessions and sign-ins. The agent signs in from two browsers, finds both on
// "Sessions et connexions" (reached from "Sécurité du compte"), ends the other one, which is
// sent back to the login form; a failed attempt shows in the history; the référent closes
// every session of the agent from the card; "Données personnelles" is public. axe-core on
// every page.
const L = require('../lib');
const { assert } = L;

L.scenario('sessions ouvertes et dernières connexions', async (s) => {
  const page = await s.context.newPage();
  const other = await (await s.newContext()).newPage();

  s.step('une tentative manquée puis deux connexions du même agent');
  // Other scenarios may have left sessions of the agent open: close them first.
  await L.login(page, L.ACCOUNTS.agent);
  await page.goto(L.portal('/aia/profil/sessions'));
  const closeOthers = page.getByRole('button', { name: 'Déconnecter toutes les autres sessions' });
  if (await closeOthers.count()) {
    await closeOthers.click();
    await page.getByText('Toutes vos autres sessions ont été déconnectées.').waitFor();
  }
  await other.goto(L.portal('/login'));
  await L.fillLogin(other, L.ACCOUNTS.agent, 'pas-le-bon-mot-de-passe');
  await other.getByText('Adresse e-mail ou mot de passe incorrect.').waitFor();
  await L.login(other, L.ACCOUNTS.agent);

  s.step('la page Sessions et connexions, depuis la sécurité du compte');
  await page.goto(L.portal('/aia/profil/securite'));
  await page.getByRole('link', { name: 'Voir les sessions et connexions' }).click();
  await page.getByRole('heading', { level: 1, name: 'Sessions et connexions' }).waitFor();
  const rows = page.locator('#sessions tbody tr');
  assert.equal(await rows.count(), 2, 'both sessions listed');
  assert.equal(await page.locator('#sessions .badge', { hasText: 'Cette session' }).count(), 1);
  assert.match(await page.locator('#sessions').innerText(), /Chrome/);
  const history = await page.locator('#sign-ins').innerText();
  assert.match(history, /Échec/);
  assert.match(history, /mot de passe incorrect/);
  assert.match(history, /Réussie/);
  await s.a11y(page, 'sessions et connexions');
  await s.screenshot(page, 'sessions.png');

  s.step("déconnecter l'autre session");
  await page.getByRole('button', { name: /^Déconnecter la session/ }).click();
  await page.getByText('La session a été déconnectée.').waitFor();
  assert.equal(await rows.count(), 1, 'only the current session is left');
  await s.a11y(page, 'sessions et connexions (après déconnexion)');
  await other.goto(L.portal('/'));
  await L.expectLoginForm(other);

  s.step("le référent ferme toutes les sessions de l'agent depuis sa fiche");
  const referent = await (await s.newContext()).newPage();
  await L.login(referent, L.ACCOUNTS.referent);
  await referent.goto(L.portal('/aia/utilisateurs'));
  await referent.getByRole('link', { name: 'Agent', exact: true }).click();
  await referent.getByRole('heading', { level: 2, name: 'Sessions' }).waitFor();
  await s.a11y(referent, 'fiche avec fermeture des sessions');
  await referent.getByRole('button', { name: 'Fermer toutes les sessions' }).click();
  await referent.getByText("Toutes les sessions de l'utilisateur ont été fermées.").waitFor();
  await page.goto(L.portal('/'));
  await L.expectLoginForm(page);

  s.step('données personnelles');
  await page.getByRole('link', { name: 'Données personnelles' }).click();
  await page.getByRole('heading', { level: 1, name: 'Données personnelles' }).waitFor();
  assert.match(await page.locator('main').innerText(), /Historique des connexions/);
  await s.a11y(page, 'données personnelles');
});
