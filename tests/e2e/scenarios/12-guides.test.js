'use strict';
// What the guides promise: help and contacts on the portal and the error pages, the photo and
// the account menu in the header (keyboard), "Ajouter une photo" on AJOUTER, structures by
// their name, and "Réaffecter" on behalf of another structure. axe-core on every page.
const L = require('../lib');
const { assert } = L;

L.scenario('guides : aide et contacts, menu photo, ajout de photo, réaffectation', async (s) => {
  const id = L.unique();
  const email = `paula.photo.${id}@mairie-exemple.fr`;

  s.step('aide et contacts sur la page de connexion et les erreurs');
  const page = await s.context.newPage();
  await page.goto(L.portal('/login'));
  const help = page.getByRole('region', { name: 'Aide et contacts' });
  await help.waitFor();
  assert.ok(await help.getByRole('link', { name: 'Guide utilisateur' }).count() === 1);
  assert.match(await help.innerText(), /dpo@cig-exemple\.fr/);
  await page.goto(L.portal('/nulle-part'));
  await page.getByRole('region', { name: 'Aide et contacts' }).waitFor();
  await s.a11y(page, 'erreur 404 avec aide');

  s.step('le référent : la tuile de chaque application dit où demander de l\'aide');
  await L.login(page, L.ACCOUNTS.referent);
  assert.match(await page.locator('.tiles').innerText(), /Aide : bip@cig-exemple\.fr/);
  await s.a11y(page, 'portail avec aide');

  s.step('menu du compte au clavier : Profil');
  const summary = page.locator('details.user-menu > summary');
  await summary.focus();
  await page.keyboard.press('Enter');
  const profil = page.getByRole('link', { name: 'Profil', exact: true });
  await profil.waitFor();
  await s.a11y(page, 'menu du compte ouvert');
  await profil.focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Mon profil' }).waitFor();

  s.step('AJOUTER avec « Ajouter une photo »');
  await page.goto(L.portal('/aia/utilisateurs/nouveau'));
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.getByRole('textbox', { name: 'Nom', exact: true }).fill('Photo');
  await page.getByLabel('Prénom').fill('Paula');
  await page.getByLabel('Adresse e-mail').fill(email);
  await page.getByLabel("Structure d'appartenance").selectOption({ label: await L.structureOption(page, "Mairie d'Exemple") });
  await page.getByLabel('Ajouter une photo').setInputFiles({ name: 'paula.png', mimeType: 'image/png', buffer: L.makePng() });
  await s.a11y(page, 'formulaire utilisateur avec photo');
  await page.getByRole('button', { name: 'Ajouter', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Paula Photo' }).waitFor();
  assert.match(await page.locator('main').innerText(), /Mairie d'Exemple/);
  assert.equal(await page.locator('main img.avatar').count(), 1, 'the card shows the photo');

  s.step('RÉAFFECTER pour le compte du CCAS');
  await L.assignRole(page, 'BIP', 'utilisateur', id, email);
  const row = page.locator('tr', { hasText: email });
  await row.getByRole('checkbox').check();
  await page.getByLabel('Pour le compte de').selectOption({ label: "CCAS d'Exemple (Mairie d'Exemple)" });
  await s.a11y(page, 'membres du rôle avec Réaffecter');
  await s.screenshot(page, 'reaffecter.png');
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Réaffecter', exact: true }).click();
  await page.getByText('Les membres sélectionnés ont été réaffectés.').waitFor();
  assert.match(await page.locator('tr', { hasText: email }).innerText(), /CCAS d'Exemple/);

  s.step('Désaffecter sans rien cocher : la page reste, avec le message');
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Désaffecter les membres sélectionnés' }).click();
  await page.getByText('Sélectionnez au moins un membre').waitFor();
  await page.getByRole('heading', { name: /^Membres \(\d+\)$/ }).waitFor();
  await s.a11y(page, 'désaffecter sans sélection');

  s.step('le rôle administrateur : ni cases ni Désaffecter, et pourquoi');
  await L.openRole(page, 'BIP', 'administrateur');
  assert.equal(await page.getByRole('button', { name: 'Désaffecter les membres sélectionnés' }).count(), 0);
  await page.getByText('est attribué et retiré par le correspondant CIG').waitFor();
  await s.a11y(page, 'rôle administrateur');
});
