'use strict';
// Keyboard only: scenario 1's login and opening BIP without the mouse.
const L = require('../lib');
const { assert } = L;

async function tabTo(page, predicate, what, max = 30) {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate(predicate)) return i + 1;
  }
  assert.fail(`${what} not reached with Tab in ${max} presses`);
}

L.scenario('clavier seul : connexion puis ouverture de BIP', async (s) => {
  const page = await s.context.newPage();

  s.step('page de connexion');
  await page.goto(L.portal('/login'));
  await L.expectLoginForm(page);

  s.step('Tab jusqu\'au champ e-mail');
  // The skip link comes first, and it is visible when focused.
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => document.activeElement.textContent.trim());
  assert.equal(first, 'Aller au contenu');
  assert.ok(await page.locator('.skip-link').isVisible(), 'the skip link shows when focused');
  await tabTo(page, () => document.activeElement.id === 'email', 'the e-mail field');
  await page.keyboard.type(L.ACCOUNTS.agent);

  s.step('Tab jusqu\'au mot de passe, Entrée');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'password', 'Tab from the e-mail goes to the password');
  await page.keyboard.type(L.PASSWORD);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();

  s.step('Tab jusqu\'à la tuile BIP, Entrée');
  const presses = await tabTo(page, () => {
    const a = document.activeElement;
    return a && a.classList.contains('tile') && a.textContent.includes('BIP');
  }, 'the BIP tile');
  s.t.diagnostic(`BIP tile reached after ${presses} Tab presses`);
  // The focus is visible (WCAG 2.4.7): an outline or a box shadow on the focused tile.
  const ring = await page.evaluate(() => {
    const cs = getComputedStyle(document.activeElement);
    return { outline: cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) > 0, shadow: cs.boxShadow !== 'none' };
  });
  assert.ok(ring.outline || ring.shadow, `the focused tile shows a focus indicator (${JSON.stringify(ring)})`);
  await page.keyboard.press('Enter');
  await page.waitForURL((u) => u.host === `bip.localhost:${L.PORT}`);
  await page.getByText('Assertion vérifiée avec la clé publique du portail (JWKS).').waitFor();
  assert.ok((await page.locator('main').innerText()).includes(L.ACCOUNTS.agent));
});
