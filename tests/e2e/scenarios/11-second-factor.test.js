'use strict';
// Scenario 11: the second factor. The demo's securise@ account signs in with a TOTP code
// computed from its published secret; then the CCAS agent enrols an authenticator from the
// "Sécurité du compte" page by reading the secret written on the page, keeps the recovery
// codes, and signs in again with a code. axe-core on every page.
const crypto = require('node:crypto');
const L = require('../lib');
const { assert } = L;

/** RFC 6238 TOTP (HMAC-SHA1, 6 digits, 30 s), as an authenticator application computes it. */
function totp(base32, offsetSteps = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/\s+/g, '').toUpperCase()) {
    bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const step = Math.floor(Date.now() / 1000 / 30) + offsetSteps;
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const h = crypto.createHmac('sha1', key).update(msg).digest();
  const o = h[h.length - 1] & 0xf;
  const n = ((h[o] & 0x7f) << 24) | (h[o + 1] << 16) | (h[o + 2] << 8) | h[o + 3];
  return String(n % 1_000_000).padStart(6, '0');
}

L.scenario('vérification en deux étapes : connexion avec un code, activation depuis le profil', async (s) => {
  const page = await s.context.newPage();

  s.step('le mot de passe seul ne suffit pas');
  await page.goto(L.portal('/login'));
  await L.fillLogin(page, 'securise@mairie-exemple.fr', L.PASSWORD);
  await page.getByRole('heading', { level: 1, name: 'Vérification en deux étapes' }).waitFor();
  await s.a11y(page, 'deuxième étape de connexion');
  await s.screenshot(page, 'second-factor.png');

  s.step('un code faux est refusé, le bon ouvre le portail');
  await page.getByLabel('Code de vérification').fill('000000');
  await page.getByRole('button', { name: 'Valider' }).click();
  await page.locator('#code-error').waitFor();
  assert.match(await page.locator('#code-error').innerText(), /Code incorrect/);
  await s.a11y(page, 'deuxième étape (code faux)');
  await page.getByLabel('Code de vérification').fill(totp('JBSWY3DPEHPK3PXP'));
  await page.getByRole('button', { name: 'Valider' }).click();
  await page.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();
  assert.deepEqual(await L.tileNames(page), ['BIP', 'Annuaire des identités et des accès']);

  s.step('activation par un autre agent, en lisant la clé sur la page');
  const ccas = await (await s.newContext()).newPage();
  await L.login(ccas, L.ACCOUNTS.ccas);
  await ccas.goto(L.portal('/aia/profil'));
  await ccas.getByRole('link', { name: 'Gérer la sécurité du compte' }).click();
  await ccas.getByRole('heading', { level: 1, name: 'Sécurité du compte' }).waitFor();
  await s.a11y(ccas, 'sécurité du compte (non activée)');
  await ccas.getByRole('button', { name: 'Activer la vérification en deux étapes' }).click();
  await ccas.getByRole('heading', { level: 1, name: 'Activer la vérification en deux étapes' }).waitFor();
  assert.equal(await ccas.locator('.qr svg').count(), 1, 'a QR code drawn on the page');
  await s.a11y(ccas, 'activation (QR code)');
  await s.screenshot(ccas, 'totp-enrolment.png');
  const secret = (await ccas.locator('#totp-secret').innerText()).trim();
  await ccas.getByLabel('Code à 6 chiffres').fill(totp(secret));
  await ccas.getByRole('button', { name: 'Confirmer' }).click();
  await ccas.getByRole('heading', { level: 1, name: 'Vos codes de secours' }).waitFor();
  const codes = await ccas.locator('.recovery-codes code').allTextContents();
  assert.equal(codes.length, 10);
  await s.a11y(ccas, 'codes de secours');

  s.step('la connexion suivante demande un code (ici, un code de secours)');
  await L.logout(s, ccas);
  await L.fillLogin(ccas, L.ACCOUNTS.ccas, L.PASSWORD);
  await ccas.getByRole('heading', { level: 1, name: 'Vérification en deux étapes' }).waitFor();
  await ccas.getByLabel('Code de vérification').fill(codes[0]);
  await ccas.getByRole('button', { name: 'Valider' }).click();
  await ccas.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();
  await ccas.goto(L.portal('/aia/profil/securite'));
  assert.match(await ccas.locator('main').innerText(), /Codes de secours restants : 9 sur 10/);
  await s.a11y(ccas, 'sécurité du compte (activée)');
});
