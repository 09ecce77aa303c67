'use strict';
// Scenario 3: a new agent (created by the référent, given BIP) sets a password from the
// "Première visite ?" link: a weak password is refused, a strong one accepted, then the portal.
const L = require('../lib');
const { assert } = L;

L.scenario('nouvel agent : première visite, lien par e-mail, mot de passe faible refusé puis fort accepté', async (s) => {
  const id = L.unique();
  const user = {
    lastName: 'Nouvel',
    firstName: 'Noël',
    email: `noel.nouvel.${id}@mairie-exemple.fr`,
  };

  s.step('le référent crée l\'agent et lui donne BIP');
  const admin = await s.context.newPage();
  await L.login(admin, L.ACCOUNTS.referent);
  await admin.goto(L.portal('/aia/utilisateurs/nouveau'));
  user.structureLabel = await L.structureOption(admin, "CCAS d'Exemple");
  await L.createUser(s, admin, user);
  await admin.getByRole('heading', { level: 1, name: 'Noël Nouvel' }).waitFor();
  await L.assignRole(admin, 'BIP', 'utilisateur', id, user.email);
  await L.logout(s, admin);
  await admin.close();

  // The new agent uses a browser of their own (fresh context: no cookie of the référent).
  const context = await s.newContext();
  const page = await context.newPage();

  s.step('« Mot de passe oublié ? » (page seulement)');
  await page.goto(L.portal('/login'));
  await page.getByRole('link', { name: 'Mot de passe oublié ?' }).click();
  await page.getByRole('heading', { level: 1, name: 'Mot de passe oublié' }).waitFor();
  await s.a11y(page, 'mot de passe oublié');
  await page.getByRole('link', { name: 'Retour à la connexion' }).click();
  await L.expectLoginForm(page);

  s.step('« Première visite ? » depuis la page de connexion');
  await page.getByRole('link', { name: 'Première visite ?' }).click();
  await page.getByRole('heading', { level: 1, name: 'Première visite' }).waitFor();
  await s.a11y(page, 'première visite');
  const before = L.outboxFiles();
  await page.getByLabel('Adresse e-mail professionnelle').fill(user.email);
  await page.getByRole('button', { name: 'Recevoir le lien par e-mail' }).click();
  await page.getByRole('status').getByText('Si cette adresse correspond à un compte').waitFor();
  await s.a11y(page, 'première visite (envoyé)');

  s.step('lien lu dans la boîte d\'envoi');
  const link = await L.waitForMailLink(user.email, before);

  s.step('page du mot de passe');
  await page.goto(link);
  await page.getByLabel('Nouveau mot de passe').waitFor();
  assert.match(await page.locator('main').innerText(), new RegExp(user.email.replace(/\./g, '\\.')));
  await s.a11y(page, 'création du mot de passe');

  s.step('mot de passe faible refusé');
  await page.getByLabel('Nouveau mot de passe').fill('Court1!');
  await page.getByLabel('Confirmation du mot de passe').fill('Court1!');
  await page.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
  const errors = page.locator('#password-errors');
  await errors.waitFor();
  assert.match(await errors.innerText(), /au moins 12 caractères/);
  assert.equal(await page.getByLabel('Nouveau mot de passe').getAttribute('aria-invalid'), 'true');
  await s.a11y(page, 'création du mot de passe (refusé)');

  s.step('mot de passe fort accepté');
  // Nothing of the user's name or e-mail in it (the policy refuses that).
  const strong = 'Sécurité-Zèbre-Lune!42';
  await page.getByLabel('Nouveau mot de passe').fill(strong);
  await page.getByLabel('Confirmation du mot de passe').fill(strong);
  await page.getByRole('button', { name: 'Enregistrer mon mot de passe' }).click();
  const portal = page.getByRole('heading', { level: 1, name: 'Vos applications' });
  const loginForm = page.getByRole('heading', { level: 1, name: 'Se connecter' });
  await portal.or(loginForm).waitFor();
  if (await loginForm.isVisible()) {
    // Sent to the login page: log in with the new password.
    await L.fillLogin(page, user.email, strong);
    await portal.waitFor();
  }
  assert.deepEqual(await L.tileNames(page), ['BIP', 'Annuaire des identités et des accès']);
  assert.match(await page.locator('.user-name').innerText(), /Noël Nouvel/);

  s.step('le lien ne sert qu\'une fois');
  await page.goto(link);
  await page.getByText(/Le lien a expiré, a déjà servi/).waitFor();
  await s.a11y(page, 'lien expiré');

  s.step('BIP avec le nouveau compte');
  await page.goto(L.portal('/'));
  await page.goto(await L.tileHref(page, 'BIP'));
  await page.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();
  assert.ok((await page.locator('main').innerText()).includes(user.email));
});
