'use strict';
// Reflow (WCAG 1.4.10, which axe-core does not check): at 320 CSS pixels wide, no page scrolls
// sideways; wide data tables scroll inside their own frame (.table-wrap), which the criterion
// allows.
const L = require('../lib');

L.scenario('affichage à 320 px de large : aucune page ne défile horizontalement', async (s) => {
  const page = await s.context.newPage();
  await page.setViewportSize({ width: 320, height: 640 });

  s.step('connexion');
  await page.goto(L.portal('/login'));
  await L.noSidewaysScroll(page, 'connexion');
  await L.login(page, L.ACCOUNTS.referent);
  await L.noSidewaysScroll(page, 'portail');

  const pages = [
    ['/aia', 'AIA accueil'],
    ['/aia/utilisateurs', 'AIA utilisateurs'],
    ['/aia/utilisateurs/nouveau', 'formulaire utilisateur'],
    ['/aia/structures', 'AIA structures'],
    ['/aia/applications?app=bip&role=utilisateur', 'membres du rôle'],
    ['/aia/applications/bip/utilisateur/affecter?q=mairie', 'AFFECTER (résultats)'],
    ['/aia/journal', 'AIA journal'],
    ['/aia/profil', 'profil'],
    ['/logout', 'confirmation de déconnexion'],
  ];
  for (const [url, label] of pages) {
    s.step(label);
    await page.goto(L.portal(url));
    await page.getByRole('heading', { level: 1 }).first().waitFor();
    if (url === '/aia/structures') {
      // With a structure selected: its data and members table.
      await page.getByRole('navigation', { name: 'Arborescence des structures' }).getByRole('link', { name: "CCAS d'Exemple" }).first().click();
      await page.getByRole('heading', { name: /^Membres \(\d+\)$/ }).waitFor();
    }
    await L.noSidewaysScroll(page, label);
  }
});
