'use strict';
// A walk through the user guides' main procedures, as each persona, at 1280 px and at 320 px:
// the référent creates an account (with a validity start to come, then now), edits, locks and
// unlocks it, assigns BIP (an account already holding it is marked) and exports the role's
// members, reads a structure's allowed domain, browses and searches the structures, exports;
// the new agent makes their first visit, sees the portal, opens their profile from the account
// menu, changes their photo and reads their sessions; the platform administrator attaches a
// sub-structure to the town hall (two levels) and designates, then removes, a référent; the
// référent unassigns and deletes the account of the agent who left; the contacts of the
// guides; the public pages of the footer. axe-core on every page reached, and no sideways scrolling
// at 320 px (WCAG 1.4.10).
const L = require('../lib');
const { assert } = L;

/** A page reached: axe-core, the reflow check when narrow, and its screenshot for the docs
 * (`shot`, at the wide width only). */
async function check(s, page, label, width, shot) {
  await s.a11y(page, `${label} (${width} px)`);
  if (width <= 320) await L.noSidewaysScroll(page, `${label} (${width} px)`);
  if (shot && width >= 1280) await s.screenshot(page, shot);
}

/** "YYYY-MM-DD" of today + `days` (the browser's clock is the gateway's). */
function day(days) {
  const d = new Date(Date.now() + days * 86_400_000);
  return d.toISOString().slice(0, 10);
}

async function walk(s, width) {
  const id = L.unique();
  const email = `walker.${id}@mairie-exemple.fr`;
  const page = await s.context.newPage();
  await page.setViewportSize({ width, height: width <= 320 ? 640 : 800 });

  s.step(`${width} px : pages publiques du pied de page`);
  await page.goto(L.portal('/login'));
  await L.expectLoginForm(page);
  await check(s, page, 'connexion', width);
  const legal = page.getByRole('navigation', { name: 'Informations légales' });
  assert.match(await legal.innerText(), /Accessibilité : (non|partiellement|totalement) conforme/);
  for (const [name, heading] of [
    ['Mentions légales', 'Mentions légales'],
    ['Données personnelles', 'Données personnelles'],
    [/^Accessibilité/, "Déclaration d'accessibilité"],
  ]) {
    await page.getByRole('navigation', { name: 'Informations légales' }).getByRole('link', { name }).click();
    await page.getByRole('heading', { level: 1, name: heading }).waitFor();
    await check(s, page, heading, width, heading === "Déclaration d'accessibilité" ? 'accessibility.png' : undefined);
  }
  assert.match(await page.locator('main').innerText(), /Défenseur des droits/);

  s.step(`${width} px : le référent crée un compte dont la validité commence plus tard`);
  await L.login(page, L.ACCOUNTS.referent);
  await check(s, page, 'portail (référent)', width);
  await page.goto(L.portal('/aia/utilisateurs/nouveau'));
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.getByRole('textbox', { name: 'Nom', exact: true }).fill('Marcheur');
  await page.getByLabel('Prénom').fill('Wanda');
  await page.getByLabel('Adresse e-mail').fill(email);
  await page.getByLabel("Structure d'appartenance").selectOption({ label: await L.structureOption(page, "Mairie d'Exemple") });
  await page.getByLabel('Fonction').fill('Gestionnaire paie');
  await page.getByLabel('Date de début de validité du compte').fill(day(10));
  await check(s, page, 'AJOUTER (rempli)', width);
  await page.getByRole('button', { name: 'Ajouter', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Wanda Marcheur' }).waitFor();
  await page.getByText(/À venir : valide dès le/).waitFor();
  await check(s, page, 'fiche (à venir)', width);
  const card = page.url();

  s.step(`${width} px : la liste ne le dit pas « Actif »`);
  await page.goto(L.portal(`/aia/utilisateurs?q=${encodeURIComponent(email)}`));
  const row = page.locator('tr', { hasText: email });
  await row.waitFor();
  assert.match(await row.innerText(), /À venir/);
  assert.doesNotMatch(await row.innerText(), /Actif/);
  await check(s, page, 'liste (compte à venir)', width, 'users-to-come.png');

  s.step(`${width} px : ÉDITER (validité dès aujourd'hui, fonction)`);
  await page.goto(card);
  await page.getByRole('link', { name: 'Éditer', exact: true }).click();
  await page.getByRole('heading', { level: 1 }).waitFor();
  await page.getByLabel('Date de début de validité du compte').fill(day(0));
  await page.getByLabel('Fonction').fill('Responsable paie');
  await check(s, page, 'ÉDITER', width);
  await page.getByRole('button', { name: 'Enregistrer', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Wanda Marcheur' }).waitFor();
  assert.doesNotMatch(await page.locator('main').innerText(), /À venir/);

  s.step(`${width} px : verrouiller puis déverrouiller`);
  await page.getByRole('button', { name: 'Verrouiller le compte' }).click();
  await page.getByText('Compte verrouillé', { exact: true }).waitFor();
  await check(s, page, 'fiche verrouillée', width);
  await page.getByRole('button', { name: 'Déverrouiller le compte' }).click();
  await page.getByRole('button', { name: 'Verrouiller le compte' }).waitFor();

  s.step(`${width} px : AFFECTER le rôle BIP utilisateur`);
  await L.assignRole(page, 'BIP', 'utilisateur', `walker.${id}`, email);
  await check(s, page, 'membres du rôle', width);
  const roleCsv = await L.download(page, () => page.getByRole('link', { name: /^Exporter/ }).click());
  assert.ok(L.parseCsv(roleCsv.bytes).some((r) => r.includes(email)), 'the role export lists the new member');
  await page.getByRole('link', { name: 'Affecter', exact: true }).click();
  await page.getByRole('searchbox', { name: 'Rechercher' }).fill(`walker.${id}`);
  await page.getByRole('button', { name: 'Rechercher' }).click();
  const again = page.locator('#resultats tr', { hasText: email });
  await again.waitFor();
  assert.match(await again.innerText(), /Déjà membre/);
  await check(s, page, 'AFFECTER (déjà membre)', width, 'affecter.png');
  await again.getByRole('checkbox').check();
  await page.locator('#resultats').getByRole('button', { name: 'Affecter', exact: true }).click();
  await page.getByText(/Déjà membre du rôle « utilisateur »/).waitFor();
  await check(s, page, 'AFFECTER (refusé : déjà membre)', width);

  s.step(`${width} px : STRUCTURES, recherche et export`);
  await page.goto(L.portal('/aia/structures'));
  await page.getByRole('heading', { level: 1, name: 'Structures' }).waitFor();
  await page.getByLabel('Rechercher une structure').fill('exemple');
  await page.getByRole('button', { name: 'Rechercher', exact: true }).click();
  const results = page.locator('ul.results');
  await results.waitFor();
  assert.equal(await results.locator('ul').count(), 0, 'search results are flat');
  assert.match(await results.innerText(), /CCAS d'Exemple/);
  await check(s, page, 'structures (recherche)', width);
  await page.getByRole('link', { name: "CCAS d'Exemple" }).first().click();
  await page.getByRole('heading', { name: /^Membres \(\d+\)$/ }).waitFor();
  // The guide sends the référent here to read the e-mail domain new accounts must use.
  const fields = await page.locator('dl.kv').innerText();
  assert.match(fields, /Domaine autorisé\s+mairie-exemple\.fr/);
  assert.match(fields, /Structure rattachée/);
  await check(s, page, 'structure CCAS', width);
  const members = await L.download(page, () => page.getByRole('link', { name: /^Exporter/ }).click());
  assert.ok(L.parseCsv(members.bytes).length >= 1);

  s.step(`${width} px : UTILISATEURS, export et journal`);
  await page.goto(L.portal('/aia/utilisateurs'));
  const users = await L.download(page, () => page.getByRole('link', { name: /^Exporter/ }).click());
  const rows = L.parseCsv(users.bytes);
  assert.ok(rows[0].includes('Dernière connexion'));
  await page.goto(L.portal('/aia/journal'));
  await page.getByRole('columnheader', { name: 'Date (heure de Paris)' }).waitFor();
  await check(s, page, 'journal', width);

  s.step(`${width} px : l'agent : première visite et portail`);
  const agent = await s.newContext();
  const ap = await agent.newPage();
  await ap.setViewportSize({ width, height: width <= 320 ? 640 : 800 });
  await ap.goto(L.portal('/premiere-visite'));
  await check(s, ap, 'première visite', width);
  await L.firstVisit(ap, email, 'Sentier-Vert-Printemps-42!');
  assert.ok((await L.tileNames(ap)).includes('BIP'));
  await check(s, ap, 'portail (agent)', width);

  s.step(`${width} px : l'agent : profil par le menu du compte, photo`);
  await L.openAccountMenu(ap);
  await ap.getByRole('link', { name: 'Profil', exact: true }).click();
  await ap.getByRole('heading', { level: 1, name: 'Mon profil' }).waitFor();
  await check(s, ap, 'profil', width);
  await ap.getByLabel('Fichier image').setInputFiles({ name: 'texte.png', mimeType: 'image/png', buffer: Buffer.from('pas une image') });
  await ap.getByRole('button', { name: /photo$/ }).first().click();
  const summary = ap.locator('#erreurs');
  await summary.waitFor();
  assert.match(await summary.innerText(), /Photo : /);
  await check(s, ap, 'profil (photo refusée)', width);
  await ap.getByLabel('Fichier image').setInputFiles({ name: 'moi.png', mimeType: 'image/png', buffer: L.makePng() });
  await ap.getByRole('button', { name: /photo$/ }).first().click();
  await ap.getByText('Votre photo a été enregistrée.').waitFor();
  assert.equal(await ap.locator('header img.avatar').count(), 1, 'the header shows the new photo');

  s.step(`${width} px : l'agent : sécurité, sessions et connexions`);
  await ap.goto(L.portal('/aia/profil/securite'));
  await ap.getByRole('heading', { level: 1, name: 'Sécurité du compte' }).waitFor();
  await check(s, ap, 'sécurité du compte', width);
  await ap.getByRole('link', { name: 'Voir les sessions et connexions' }).click();
  await ap.getByRole('heading', { level: 1, name: 'Sessions et connexions' }).waitFor();
  const text = await ap.locator('main').innerText();
  assert.match(text, /Heures affichées : heure de Paris/);
  assert.doesNotMatch(text, /UTC/);
  await check(s, ap, 'sessions et connexions', width);
  await L.logout(s, ap);

  s.step(`${width} px : l'administrateur de la plateforme : sous-structure et référent`);
  const admin = await s.newContext();
  const ad = await admin.newPage();
  await ad.setViewportSize({ width, height: width <= 320 ? 640 : 800 });
  await L.login(ad, L.ACCOUNTS.admin);
  await ad.goto(L.portal('/aia/structures'));
  await ad.getByRole('navigation', { name: 'Arborescence des structures' }).getByRole('link', { name: "Mairie d'Exemple" }).first().click();
  await ad.getByRole('heading', { level: 2, name: "Mairie d'Exemple" }).waitFor();
  await ad.getByRole('link', { name: 'Ajouter une sous-structure' }).click();
  await ad.getByRole('heading', { level: 1 }).waitFor();
  await ad.getByRole('textbox', { name: /^Nom de la structure/ }).fill(`paie-${id}`);
  await ad.getByLabel('Nom long de la structure').fill(`Service paie ${id}`);
  await check(s, ad, 'nouvelle sous-structure', width);
  await ad.getByRole('button', { name: 'Enregistrer', exact: true }).click();
  await ad.getByRole('heading', { level: 2, name: `Service paie ${id}` }).waitFor();
  // Two levels, as the guide describes the tree: nothing can be attached below this one.
  assert.equal(await ad.getByRole('link', { name: 'Ajouter une sous-structure' }).count(), 0);
  assert.match(await ad.locator('dl.kv').innerText(), /Domaine autorisé\s+mairie-exemple\.fr \(hérité\)/);
  await ad.getByLabel('Désigner un référent (adresse e-mail)').fill(email);
  await ad.getByRole('button', { name: 'Désigner', exact: true }).click();
  const referents = ad.locator('section', { has: ad.getByRole('heading', { name: 'Référents' }) });
  await referents.getByText(`(${email})`).waitFor();
  await check(s, ad, 'référent désigné', width);
  await referents.getByRole('button', { name: /^Retirer/ }).click();
  await ad.getByText('Le référent a été retiré.').waitFor();
  assert.equal(await referents.getByText(`(${email})`).count(), 0);
  // The town hall's own référent stays in charge of it, as the guide says.
  assert.match(await referents.innerText(), /referent@mairie-exemple\.fr\)\s*structure parente/);
  await L.logout(s, ad);

  s.step(`${width} px : le référent désaffecte`);
  await L.openRole(page, 'BIP', 'utilisateur');
  await page.locator('tr', { hasText: email }).getByRole('checkbox').check();
  page.once('dialog', (d) => d.accept());
  await page.getByRole('button', { name: 'Désaffecter les membres sélectionnés' }).click();
  await page.getByText('Les membres sélectionnés ont été désaffectés.').waitFor();
  assert.equal(await page.locator('tr', { hasText: email }).count(), 0);
  await check(s, page, 'membres après désaffectation', width);

  s.step(`${width} px : le référent supprime le compte (l'agent a quitté la structure)`);
  await page.goto(L.portal(`/aia/utilisateurs?q=${encodeURIComponent(email)}`));
  const leaver = page.locator('tbody tr', { hasText: email });
  await leaver.locator('summary').click();
  await leaver.getByRole('link', { name: "Supprimer l'utilisateur" }).click();
  await page.getByText("Supprimer définitivement l'utilisateur ?").waitFor();
  await check(s, page, 'confirmation de suppression', width);
  await page.getByRole('button', { name: 'Supprimer', exact: true }).click();
  await page.getByRole('status').waitFor();
  assert.equal((await page.goto(card)).status(), 404, 'the deleted card answers 404');

  s.step(`${width} px : les contacts du guide, sur les pages de l'annuaire`);
  await page.goto(L.portal('/aia/utilisateurs'));
  const help = await page.getByRole('region', { name: 'Aide et contacts' }).innerText();
  for (const address of ['assistance@cig-exemple.fr', 'correspondant@cig-exemple.fr', 'dpo@cig-exemple.fr']) {
    assert.ok(help.includes(address), `the help lists ${address}`);
  }
}

L.scenario('guides : parcours de l\'agent et du référent à 1 280 px', (s) => walk(s, 1280));
L.scenario('guides : parcours de l\'agent et du référent à 320 px', (s) => walk(s, 320));
