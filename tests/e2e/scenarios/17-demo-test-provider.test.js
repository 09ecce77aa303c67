'use strict';
// The demo's built-in identity provider (`convergences demo --with-test-provider`), as a
// newcomer meets it: a demo of its own on another port, « S'identifier avec le fournisseur de
// test » on the login page, the provider's page (axe-core), the demo agent chosen without a
// password, the portal, and a logout that goes through the provider and back.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const L = require('../lib');
const { assert } = L;

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** 200 from the demo's /healthz (Host auth.localhost), or false. */
function healthy(port) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/healthz', headers: { Host: 'auth.localhost' }, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

/** Starts the demo with the built-in provider; resolves once it answers and has printed the
 * provider's address. */
async function startDemo() {
  const bin = process.env.E2E_GATEWAY_BIN;
  assert.ok(bin, 'E2E_GATEWAY_BIN (set by tests/e2e/run.sh)');
  const port = await freePort();
  const data = fs.mkdtempSync(path.join(os.tmpdir(), 'convergences-e2e-idp-'));
  const child = spawn(bin, ['demo', '--listen', `127.0.0.1:${port}`, '--data-dir', data, '--with-test-provider'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CONVERGENCES_LOG: 'warn' },
  });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) assert.fail(`the demo stopped (${child.exitCode}):\n${out}`);
    const issuer = /Test identity provider: (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
    if (issuer && (await healthy(port))) return { child, port, data, issuer: issuer[1], output: () => out };
    assert.ok(Date.now() < deadline, `the demo with its test provider did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

L.scenario('démo : connexion par le fournisseur d\'identité de test intégré, sans mot de passe', async (s) => {
  const demo = await startDemo();
  try {
    const portal = (p) => `http://auth.localhost:${demo.port}${p}`;
    const page = await s.context.newPage();

    s.step('le bouton du fournisseur sur la page de connexion');
    await page.goto(portal('/login'));
    await L.expectLoginForm(page);
    await page.getByRole('link', { name: "S'identifier avec le fournisseur de test" }).click();

    s.step('la page du fournisseur de test');
    await page.waitForURL((u) => u.toString().startsWith(demo.issuer));
    await page.getByRole('heading', { level: 1 }).waitFor();
    assert.match(await page.locator('body').innerText(), /pas un vrai fournisseur|démonstration/i);
    await s.a11y(page, 'fournisseur de test');
    await s.screenshot(page, 'demo-test-provider.png');
    await page.getByRole('button', { name: /^Se connecter en tant qu.Agnès Agent$/ }).click();

    s.step("le portail de l'agente, sans mot de passe");
    await page.getByRole('heading', { level: 1, name: 'Vos applications' }).waitFor();
    assert.ok((await L.tileNames(page)).includes('BIP'));
    assert.match(await page.locator('header').innerText(), /Agnès Agent/);
    await s.a11y(page, 'portail après le fournisseur de test');

    s.step('déconnexion, par le fournisseur');
    await L.openAccountMenu(page);
    await page.getByRole('navigation', { name: 'Compte' }).getByRole('link', { name: 'Déconnexion' }).click();
    await page.getByRole('button', { name: 'Se déconnecter' }).click();
    await L.expectLoginForm(page);
    assert.ok(page.url().startsWith(portal('/login')), page.url());
    // Signed out: the portal asks to sign in again.
    await page.goto(portal('/'));
    await L.expectLoginForm(page);
  } finally {
    demo.child.kill('SIGTERM');
    await new Promise((r) => (demo.child.exitCode !== null ? r() : demo.child.once('exit', r)));
    fs.rmSync(demo.data, { recursive: true, force: true });
  }
});
