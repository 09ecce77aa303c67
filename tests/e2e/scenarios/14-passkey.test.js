'use strict';
// Scenario 12: a passkey as the second factor. The agent registers a key from "Sécurité du
// compte" with Chromium's virtual authenticator (DevTools WebAuthn domain, a roaming CTAP2 key
// with user verification), keeps the recovery codes, signs out, then signs in with the
// password and the key. axe-core on every page.
const L = require('../lib');
const { assert } = L;

L.scenario('clé de sécurité : enregistrement puis connexion', async (s) => {
  const page = await s.context.newPage();
  const cdp = await s.context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      transport: 'usb',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
    },
  });

  s.step('enregistrement d\'une clé nommée');
  await L.login(page, L.ACCOUNTS.agent);
  await page.goto(L.portal('/aia/profil/securite'));
  await page.getByRole('heading', { level: 2, name: 'Clés de sécurité et clés d\'accès' }).waitFor();
  await page.getByLabel('Nom de la nouvelle clé').fill('Clé virtuelle');
  await s.a11y(page, 'sécurité du compte (avant la clé)');
  await page.getByRole('button', { name: 'Ajouter une clé de sécurité' }).click();
  await page.getByRole('heading', { level: 1, name: 'Vos codes de secours' }).waitFor();
  assert.equal((await page.locator('.recovery-codes code').allTextContents()).length, 10);
  await page.goto(L.portal('/aia/profil/securite'));
  assert.match(await page.locator('main').innerText(), /Clé virtuelle/);
  await s.a11y(page, 'sécurité du compte (clé enregistrée)');
  await s.screenshot(page, 'passkey-enrolment.png');

  s.step('connexion avec le mot de passe puis la clé');
  await L.logout(s, page);
  await L.fillLogin(page, L.ACCOUNTS.agent, L.PASSWORD);
  await page.getByRole('heading', { level: 1, name: 'Vérification en deux étapes' }).waitFor();
  await s.a11y(page, 'deuxième étape (clé proposée)');
  await s.screenshot(page, 'passkey-second-step.png');
  await page.getByRole('button', { name: 'Utiliser ma clé de sécurité' }).click();
  await page.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();
  assert.ok((await L.tileNames(page)).includes('BIP'), 'the portal of a signed-in agent');
});
