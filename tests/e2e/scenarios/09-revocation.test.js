'use strict';
// Revocation seen from the agent's browser: a lock by the référent sends the open application
// tab to the login page (and the login is refused); after unlocking, removing the BIP role turns
// the same tab into the 403 page at its next request.
const L = require('../lib');
const { assert } = L;

L.scenario('révocation : verrouillage puis désaffectation, vues depuis l\'onglet BIP de l\'agent', async (s) => {
  const id = L.unique();
  const email = `rene.revoque.${id}@mairie-exemple.fr`;
  const password = 'Verrou-Tulipe-Orage!77';

  s.step('le référent crée l\'agent et lui donne BIP');
  const ref = await s.context.newPage();
  await L.login(ref, L.ACCOUNTS.referent);
  await ref.goto(L.portal('/aia/utilisateurs/nouveau'));
  const structureLabel = await L.structureOption(ref, "Mairie d'Exemple");
  await L.createUser(s, ref, { lastName: 'Révoqué', firstName: 'René', email, structureLabel });
  await ref.getByRole('heading', { level: 1, name: 'René Révoqué' }).waitFor();
  const card = ref.url();
  await L.assignRole(ref, 'BIP', 'utilisateur', id, email);

  s.step('l\'agent choisit son mot de passe et ouvre BIP');
  const agentContext = await s.newContext();
  const tab = await agentContext.newPage();
  await L.firstVisit(tab, email, password);
  await tab.goto(await L.tileHref(tab, 'BIP'));
  await tab.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();

  s.step('verrouillage par le référent');
  await ref.goto(card);
  await ref.getByRole('button', { name: 'Verrouiller le compte' }).click();
  await ref.getByText('Compte verrouillé', { exact: true }).waitFor();

  s.step('l\'onglet BIP de l\'agent renvoie à la connexion, qui est refusée');
  await tab.reload();
  await L.expectLoginForm(tab);
  await L.fillLogin(tab, email, password);
  await tab.getByRole('alert').waitFor();
  await L.expectLoginForm(tab);

  s.step('déverrouillage, nouvelle connexion');
  await ref.getByRole('button', { name: 'Déverrouiller le compte' }).click();
  await ref.getByRole('button', { name: 'Verrouiller le compte' }).waitFor();
  await tab.goto(L.bip('/'));
  await L.expectLoginForm(tab);
  await L.fillLogin(tab, email, password);
  await tab.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();

  s.step('désaffectation (confirmation du navigateur)');
  await L.openRole(ref, 'BIP', 'utilisateur');
  const row = ref.locator('tbody tr', { hasText: email });
  await row.getByRole('checkbox').check();
  const dialogs = [];
  ref.once('dialog', (d) => { dialogs.push(d.message()); d.accept(); });
  await ref.getByRole('button', { name: 'Désaffecter les membres sélectionnés' }).click();
  await ref.getByRole('status').waitFor();
  assert.deepEqual(dialogs, ['Confirmez-vous la modification des membres sélectionnés ?']);
  assert.equal(await ref.locator('tbody tr', { hasText: email }).count(), 0);

  s.step('l\'onglet BIP de l\'agent affiche le refus');
  await tab.reload();
  await tab.getByRole('heading', { level: 1, name: 'Accès refusé' }).waitFor();

  s.step('nettoyage : suppression de l\'agent');
  await ref.goto(card);
  await ref.getByRole('link', { name: "Supprimer l'utilisateur" }).click();
  await ref.getByRole('button', { name: 'Supprimer', exact: true }).click();
  await ref.getByRole('status').waitFor();
  await tab.reload();
  await L.expectLoginForm(tab);
});
