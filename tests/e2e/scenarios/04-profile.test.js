'use strict';
// Scenario 4: the profile page; a real PNG is accepted and shown, a text file named .png is
// refused with a clear French message.
const L = require('../lib');
const { assert } = L;

L.scenario('profil : photo PNG acceptée et affichée, faux PNG refusé', async (s) => {
  const page = await s.context.newPage();

  s.step('connexion et profil');
  await L.login(page, L.ACCOUNTS.ccas);
  // No application yet: only the directory tile.
  assert.deepEqual(await L.tileNames(page), ['Annuaire des identités et des accès']);
  await L.openAccountMenu(page);
  await page.getByRole('link', { name: 'Profil', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Mon profil' }).waitFor();
  const main = await page.locator('main').innerText();
  assert.ok(main.includes(L.ACCOUNTS.ccas));
  assert.match(main, /Aucun rôle ne vous est attribué/);
  await s.a11y(page, 'profil');

  s.step('un fichier texte nommé .png est refusé');
  await page.getByLabel('Fichier image').setInputFiles({
    name: 'photo.png',
    mimeType: 'image/png',
    buffer: Buffer.from('Ceci est un fichier texte, pas une image.\n', 'utf8'),
  });
  await page.getByRole('button', { name: /photo$/ }).first().click();
  const err = page.locator('#photo-error');
  await err.waitFor();
  assert.equal((await err.innerText()).trim(),
    "Le fichier n'est pas une image valide. Formats acceptés : JPEG, PNG, WebP ou GIF.");
  assert.equal(await page.getByLabel('Fichier image').getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('img.avatar').count(), 0, 'no photo shown after a refused file');
  await s.a11y(page, 'profil (photo refusée)');

  s.step('un fichier de plus de 2 Mo est refusé');
  await page.goto(L.portal('/aia/profil'));
  await page.getByLabel('Fichier image').setInputFiles({
    name: 'grande.png', mimeType: 'image/png', buffer: Buffer.concat([L.makePng(), Buffer.alloc(3 * 1024 * 1024)]),
  });
  await page.getByRole('button', { name: /photo$/ }).first().click();
  await page.locator('#photo-error').waitFor();
  assert.equal((await page.locator('#photo-error').innerText()).trim(), 'Le fichier est trop volumineux : 2 Mo au maximum.');

  s.step('une vraie image PNG est acceptée et affichée');
  await page.goto(L.portal('/aia/profil'));
  await page.getByLabel('Fichier image').setInputFiles({ name: 'moi.png', mimeType: 'image/png', buffer: L.makePng() });
  await page.getByRole('button', { name: 'Ajouter une photo' }).click();
  const img = page.getByRole('img', { name: 'Votre photo' });
  await img.waitFor();
  await page.waitForFunction(() => {
    const i = document.querySelector('img.avatar');
    return i && i.complete && i.naturalWidth > 0;
  });
  const { w, h } = await img.evaluate((i) => ({ w: i.naturalWidth, h: i.naturalHeight }));
  assert.ok(w > 0 && h > 0, `the photo is decoded by the browser (${w}x${h})`);
  await page.getByRole('heading', { name: 'Changer la photo' }).waitFor();
  await s.a11y(page, 'profil (avec photo)');

  s.step('remise en état : suppression de la photo');
  await page.getByRole('button', { name: 'Supprimer la photo' }).click();
  await page.getByRole('heading', { name: 'Ajouter une photo' }).waitFor();
  assert.equal(await page.locator('img.avatar').count(), 0);
});
