'use strict';
// Scenario 1: an agent logs in, sees the tiles of their rights, opens BIP through the gateway,
// is refused Net-Cotisations, logs out, and the back button shows no protected page.
const L = require('../lib');
const { assert } = L;

L.scenario('agent : connexion, tuiles, BIP, 403 Net-Cotisations, déconnexion, bouton précédent', async (s) => {
  const page = await s.context.newPage();

  s.step('page de connexion');
  await page.goto(L.portal('/'));
  await L.expectLoginForm(page);
  await s.a11y(page, 'connexion');

  s.step('mauvais mot de passe');
  await L.fillLogin(page, L.ACCOUNTS.agent, 'pas-le-bon-mot-de-passe');
  await page.getByRole('alert').waitFor();
  await L.expectLoginForm(page);
  await s.a11y(page, 'connexion (erreur)');

  s.step('connexion');
  await L.login(page, L.ACCOUNTS.agent);
  await page.getByText('Connecté en tant que').waitFor();
  assert.match(await page.locator('.user-name').innerText(), /Agnès Agent/);
  assert.deepEqual(await L.tileNames(page), ['BIP', 'Annuaire des identités et des accès']);
  await s.a11y(page, 'portail (agent)');

  s.step('BIP dans un nouvel onglet');
  const bipHref = await L.tileHref(page, 'BIP');
  assert.ok(bipHref.startsWith(L.bip('')), `the BIP tile links to ${L.bip('/')} (got ${bipHref})`);
  const [bipTab] = await Promise.all([
    s.context.waitForEvent('page'),
    page.locator('a.tile', { hasText: 'BIP' }).click({ modifiers: ['Control'] }),
  ]);
  await bipTab.waitForURL((u) => u.host === `bip.localhost:${L.PORT}`);
  await bipTab.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();
  const headers = Object.fromEntries(
    await bipTab.locator('table tbody tr').evaluateAll((rows) =>
      rows.map((r) => [r.querySelector('th').innerText.trim().toLowerCase(), r.querySelector('td').innerText.trim()])));
  assert.equal(headers['x-convergences-user'], L.ACCOUNTS.agent);
  assert.equal(headers['x-convergences-name'], 'Agnès Agent');
  assert.match(headers['x-convergences-roles'] || '', /utilisateur@mairie-exemple/);
  assert.ok(headers['x-convergences-assertion'], 'the assertion header is shown');
  await s.a11y(bipTab, 'application de démonstration BIP');
  // The portal tab is still on the portal.
  assert.deepEqual(await L.tileNames(page), ['BIP', 'Annuaire des identités et des accès']);

  s.step('Net-Cotisations refusée (403)');
  const ncTab = await s.context.newPage();
  let lastStatus = 0;
  ncTab.on('response', (r) => { if (r.request().isNavigationRequest()) lastStatus = r.status(); });
  await ncTab.goto(L.netcotisations('/'));
  await ncTab.getByRole('heading', { level: 1, name: 'Accès refusé' }).waitFor();
  assert.equal(lastStatus, 403);
  assert.match(await ncTab.locator('main').innerText(), /erreur 403/i);
  await ncTab.getByRole('link', { name: 'Retour au portail' }).waitFor();
  await s.a11y(ncTab, 'page 403');
  await ncTab.close();
  await bipTab.close();

  s.step('déconnexion avec confirmation');
  await L.logout(s, page, { a11y: true });

  s.step('bouton précédent après déconnexion');
  // History: /login -> / (portal) -> /logout (confirmation) -> /login. Going back must never
  // show the portal again; reloading shows the login form.
  const visited = [];
  for (let i = 0; i < 2; i++) {
    const back = await page.goBack();
    assert.ok(back, `back #${i + 1} navigates`);
    await page.waitForLoadState('load');
    let first = back.request();
    while (first.redirectedFrom()) first = first.redirectedFrom();
    visited.push({ asked: first.url(), shown: page.url() });
    assert.equal(await page.locator('.tiles').count(), 0, `back #${i + 1} (${page.url()}) must not show the tiles`);
    await page.reload();
    await L.expectLoginForm(page);
  }
  s.t.diagnostic(`back button: ${visited.map((v) => `${v.asked} -> ${v.shown}`).join(' ; ')}`);
  // Going back reaches the logout confirmation, then the portal's own URL: asked again
  // (no-store), they answered the login form.
  assert.deepEqual(visited.map((v) => v.asked), [L.portal('/logout'), L.portal('/')]);
  s.step('page introuvable');
  const missing = await page.goto(L.portal('/page-qui-n-existe-pas'));
  assert.equal(missing.status(), 404);
  await s.a11y(page, 'page 404');

  // The application host's own cookie is revoked too.
  await page.goto(L.bip('/'));
  await L.expectLoginForm(page);
});
