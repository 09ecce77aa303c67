'use strict';
// "Mot de passe oublié ?" (docs/product.md#first-visit-and-password-reset): the old password
// stays valid until the new one is set; setting it closes the sessions that were open, and only
// the new password works afterwards.
const L = require('../lib');
const { assert } = L;

L.scenario('mot de passe oublié : l\'ancien reste valable jusqu\'au changement, qui ferme les sessions ouvertes', async (s) => {
  const id = L.unique();
  const email = `oubli.${id}@mairie-exemple.fr`;
  const first = 'Premier-Cactus-Lune!31';
  const second = 'Second-Baobab-Soleil!64';

  s.step('le référent crée l\'agent et lui donne BIP ; l\'agent choisit un mot de passe');
  const ref = await s.context.newPage();
  await L.login(ref, L.ACCOUNTS.referent);
  await ref.goto(L.portal('/aia/utilisateurs/nouveau'));
  const structureLabel = await L.structureOption(ref, "Mairie d'Exemple");
  await L.createUser(s, ref, { lastName: 'Oublieux', firstName: 'Odile', email, structureLabel });
  await ref.getByRole('heading', { level: 1, name: 'Odile Oublieux' }).waitFor();
  const card = ref.url();
  await L.assignRole(ref, 'BIP', 'utilisateur', id, email);
  const office = await s.newContext();
  const officeTab = await office.newPage();
  await L.firstVisit(officeTab, email, first);
  await officeTab.goto(await L.tileHref(officeTab, 'BIP'));
  await officeTab.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();

  s.step('demande de lien depuis un autre navigateur');
  const home = await s.newContext();
  const page = await home.newPage();
  await page.goto(L.portal('/login'));
  await page.getByRole('link', { name: 'Mot de passe oublié ?' }).click();
  const before = L.outboxFiles();
  await page.getByLabel('Adresse e-mail professionnelle').fill(email);
  await page.getByRole('button', { name: 'Recevoir le lien par e-mail' }).click();
  await page.getByRole('status').waitFor();
  const link = await L.waitForMailLink(email, before);

  s.step('l\'ancien mot de passe marche encore, la session du bureau aussi');
  await L.login(page, email, first);
  await L.logout(s, page);
  await officeTab.reload();
  await officeTab.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();

  s.step('nouveau mot de passe');
  await page.goto(link);
  await page.getByRole('heading', { level: 1 }).waitFor();
  await s.a11y(page, 'nouveau mot de passe (oubli)');
  await page.getByLabel('Nouveau mot de passe').fill(second);
  await page.getByLabel('Confirmation du mot de passe').fill(second);
  await page.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
  const portalHeading = page.getByRole('heading', { level: 1, name: 'Vos applications' });
  const loginHeading = page.getByRole('heading', { level: 1, name: 'Se connecter' });
  await portalHeading.or(loginHeading).waitFor();

  s.step('la session du bureau est fermée');
  await officeTab.reload();
  await L.expectLoginForm(officeTab);

  s.step('l\'ancien mot de passe est refusé, le nouveau accepté');
  await L.fillLogin(officeTab, email, first);
  await officeTab.getByRole('alert').waitFor();
  await L.expectLoginForm(officeTab);
  await L.fillLogin(officeTab, email, second);
  await officeTab.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();
  assert.ok((await officeTab.locator('main').innerText()).includes(email));

  s.step('nettoyage');
  await ref.goto(card);
  await ref.getByRole('link', { name: "Supprimer l'utilisateur" }).click();
  await ref.getByRole('button', { name: 'Supprimer', exact: true }).click();
  await ref.getByRole('status').waitFor();
});
