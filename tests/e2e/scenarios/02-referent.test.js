'use strict';
// Scenario 2: the référent creates an agent in the CCAS (wrong domain refused first), gives it
// BIP, exports users and role members as CSV, then deletes the agent.
const L = require('../lib');
const { assert } = L;

const USER_COLUMNS = [
  'Nom', 'Prénom', 'Adresse e-mail', 'Structure', 'Chemin de la structure', 'Nom de la structure', 'Fonction', 'Service',
  'Téléphone', 'Identifiant applicatif', 'Télétravail', 'Début de validité', 'Fin de validité',
  'Verrouillé', 'Dernière connexion', 'Applications et rôles',
];

L.scenario('référent : AIA, création (domaine refusé puis accepté), BIP, exports CSV, suppression', async (s) => {
  const page = await s.context.newPage();
  const id = L.unique();
  const user = {
    lastName: 'Lefèvre-Ñúñez',
    firstName: 'Éloïse',
    email: `eloise.lefevre.${id}@gmail.com`,
    jobTitle: 'Assistante sociale',
    service: 'Action sociale',
  };

  s.step('connexion du référent');
  await L.login(page, L.ACCOUNTS.referent);
  assert.deepEqual(await L.tileNames(page), ['BIP', 'Net-Cotisations', 'Démo OpenID Connect', 'Annuaire des identités et des accès']);
  await s.a11y(page, 'portail (référent)');
  await s.screenshot(page, 'portal.png');

  s.step('AIA : accueil et onglets');
  await page.locator('a.tile', { hasText: 'Annuaire des identités et des accès' }).click();
  await page.waitForURL(/\/aia\/?$/);
  const tabs = page.getByRole('navigation', { name: "Rubriques de l'annuaire" });
  for (const name of ['Utilisateurs', 'Structures', 'Applications']) {
    await tabs.getByRole('link', { name, exact: true }).waitFor();
  }
  // The tabs read in upper case, as in the guides (CSS text-transform).
  assert.equal(await tabs.getByRole('link', { name: 'Utilisateurs' }).evaluate((a) => a.innerText), 'UTILISATEURS');
  await s.a11y(page, 'AIA accueil');

  s.step('onglet STRUCTURES');
  await tabs.getByRole('link', { name: 'Structures', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Structures' }).waitFor();
  await page.getByRole('navigation', { name: 'Arborescence des structures' }).getByRole('link', { name: "CCAS d'Exemple" }).first().click();
  await page.getByRole('heading', { name: /^Membres \(\d+\)$/ }).waitFor();
  await s.a11y(page, 'AIA structures (CCAS)');

  s.step('onglet UTILISATEURS');
  await page.getByRole('navigation', { name: "Rubriques de l'annuaire" }).getByRole('link', { name: 'Utilisateurs', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: /^Utilisateurs \(\d+\)$/ }).waitFor();
  await s.a11y(page, 'AIA utilisateurs');
  await s.screenshot(page, 'users.png');

  s.step('formulaire : adresse hors du domaine autorisé');
  await page.getByRole('link', { name: 'Ajouter', exact: true }).click();
  await page.getByRole('heading', { level: 1 }).waitFor();
  user.structureLabel = await L.structureOption(page, "CCAS d'Exemple");
  await L.createUser(s, page, user, { a11yForm: true });
  const summary = page.locator('#erreurs');
  await summary.waitFor();
  assert.match(await summary.innerText(), /L'adresse e-mail doit appartenir au domaine autorisé de la structure : mairie-exemple\.fr\./);
  const emailField = page.getByLabel('Adresse e-mail');
  assert.equal(await emailField.getAttribute('aria-invalid'), 'true');
  // The other fields are kept.
  assert.equal(await page.getByLabel('Prénom').inputValue(), 'Éloïse');
  await s.a11y(page, 'formulaire utilisateur (erreurs)');
  await s.screenshot(page, 'user-form.png');

  s.step('formulaire : adresse du domaine, acceptée');
  user.email = `eloise.lefevre.${id}@mairie-exemple.fr`;
  await emailField.fill(user.email);
  await page.getByRole('button', { name: 'Ajouter', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Éloïse Lefèvre-Ñúñez' }).waitFor();
  const card = await page.locator('main').innerText();
  assert.ok(card.includes(user.email), 'the card shows the e-mail');
  assert.match(card, /CCAS d'Exemple/);
  await s.a11y(page, 'fiche utilisateur');
  const cardUrl = page.url();

  s.step('ÉDITER');
  await page.getByRole('link', { name: 'Éditer', exact: true }).click();
  await page.getByRole('heading', { name: 'Réinitialisation mot de passe' }).waitFor();
  assert.equal(await page.getByLabel('Prénom').inputValue(), 'Éloïse');
  await s.a11y(page, 'formulaire utilisateur (édition)');

  s.step('APPLICATIONS : affecter BIP utilisateur');
  await page.goto(L.portal('/aia/applications'));
  await page.getByRole('heading', { level: 1, name: 'Applications' }).waitFor();
  await s.a11y(page, 'AIA applications');
  await L.openRole(page, 'BIP', 'utilisateur');
  await s.a11y(page, 'AIA applications (rôle)');
  await page.getByRole('link', { name: 'Affecter', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: /^Affecter/ }).waitFor();
  await s.a11y(page, 'AFFECTER (recherche)');
  // Search as you type (aia.js): the results region fills in without leaving the page or
  // moving the focus.
  const assignUrl = page.url();
  const search = page.getByRole('searchbox', { name: 'Rechercher' });
  await search.click();
  await page.keyboard.type(id.slice(0, 8));
  const row = page.locator('#resultats tr', { hasText: user.email });
  await row.waitFor();
  assert.equal(page.url(), assignUrl, 'the live search does not navigate');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'q', 'the focus stays in the search field');
  await row.getByRole('checkbox').check();
  await s.a11y(page, 'AFFECTER (résultats)');
  await page.locator('#resultats').getByRole('button', { name: 'Affecter', exact: true }).click();
  await page.getByRole('heading', { name: /^Membres \(\d+\)$/ }).waitFor();
  const members = page.locator('table', { has: page.locator('caption', { hasText: 'Détails de la liste des membres' }) });
  await members.locator('tr', { hasText: user.email }).waitFor();
  // The agent, the demo's second-factor account (securise@) and the new user.
  assert.match(await page.getByRole('heading', { name: /^Membres/ }).innerText(), /^Membres \(3\)$/);
  await s.a11y(page, 'membres du rôle');
  await s.screenshot(page, 'role-members.png');

  s.step('export des membres du rôle');
  const roleCsv = await L.download(page, () => page.getByRole('link', { name: /^Exporter/ }).click());
  assert.match(roleCsv.name, /\.csv$/);
  const roleRows = L.parseCsv(roleCsv.bytes);
  assert.deepEqual(roleRows[0], USER_COLUMNS);
  const mine = roleRows.find((r) => r[2] === user.email);
  assert.ok(mine, 'the new member is in the role export');
  assert.equal(mine[0], user.lastName);
  assert.equal(mine[1], 'Éloïse');
  assert.equal(mine[4], 'mairie-exemple / ccas');
  assert.equal(mine[5], "CCAS d'Exemple");
  assert.match(mine[15], /BIP : utilisateur \(mairie-exemple \/ ccas\)/);
  assert.ok(roleRows.find((r) => r[2] === L.ACCOUNTS.agent), 'the demo agent is in the role export');
  assert.equal(roleRows.length, 4, 'header + 3 members (the agent, securise@, the new user)');

  s.step('la fiche montre le rôle');
  await page.goto(cardUrl);
  const grants = page.locator('section', { has: page.getByRole('heading', { name: 'Applications' }) });
  await grants.locator('tr', { hasText: 'BIP' }).waitFor();
  assert.match(await grants.innerText(), /utilisateur/);

  s.step('export des utilisateurs');
  await page.goto(L.portal('/aia/utilisateurs'));
  const usersCsv = await L.download(page, () => page.getByRole('link', { name: /^Exporter/ }).click());
  const userRows = L.parseCsv(usersCsv.bytes);
  assert.deepEqual(userRows[0], USER_COLUMNS);
  assert.ok(usersCsv.bytes.includes(Buffer.from('Prénom;Adresse e-mail', 'utf8')), 'raw bytes: accents in UTF-8');
  const exported = userRows.find((r) => r[2] === user.email);
  assert.ok(exported, 'the new user is in the users export');
  assert.deepEqual(exported.slice(0, 8), [user.lastName, 'Éloïse', user.email, 'ccas', 'mairie-exemple / ccas', "CCAS d'Exemple", 'Assistante sociale', 'Action sociale']);
  assert.equal(exported[13], 'non');
  assert.ok(userRows.find((r) => r[2] === L.ACCOUNTS.referent && r[1] === 'Régis' && r[0] === 'Référent'), 'accents intact');
  for (const r of userRows) assert.equal(r.length, USER_COLUMNS.length, `row ${r.join(';')} has 16 cells`);

  s.step('onglet JOURNAL');
  await page.getByRole('navigation', { name: "Rubriques de l'annuaire" }).getByRole('link', { name: 'Journal', exact: true }).click();
  await page.waitForURL(/\/aia\/journal/);
  await page.getByRole('heading', { level: 1 }).waitFor();
  await s.a11y(page, 'AIA journal');

  s.step('suppression avec confirmation');
  await page.goto(L.portal('/aia/utilisateurs'));
  await page.getByRole('searchbox', { name: 'Rechercher' }).fill(id);
  await page.getByRole('button', { name: 'Filtrer' }).click();
  await page.getByRole('heading', { level: 1, name: 'Utilisateurs (1)' }).waitFor();
  const userRow = page.locator('tbody tr', { hasText: user.email });
  await userRow.locator('summary').click();
  await userRow.getByRole('link', { name: "Supprimer l'utilisateur" }).click();
  await page.getByText("Supprimer définitivement l'utilisateur ?").waitFor();
  assert.ok((await page.locator('main').innerText()).includes(user.email));
  await s.a11y(page, 'confirmation de suppression');
  await page.getByRole('button', { name: 'Supprimer', exact: true }).click();
  await page.getByRole('status').waitFor();
  await page.goto(L.portal(`/aia/utilisateurs?q=${encodeURIComponent(id)}`));
  await page.getByRole('heading', { level: 1, name: 'Utilisateurs (0)' }).waitFor();
  const gone = await page.goto(cardUrl);
  assert.equal(gone.status(), 404, 'the deleted card answers 404');
});
