'use strict';
// The harness itself: axe-core really runs in the page and reports WCAG violations (so that a
// green suite does not come from a check that silently did nothing), and the gateway's pages
// really carry the strict CSP that the context bypasses for the injection.
const L = require('../lib');
const { assert } = L;

L.scenario('banc d\'essai : axe-core signale une violation connue ; CSP stricte sur le portail', async (s) => {
  const page = await s.context.newPage();

  s.step('axe-core sur une page fautive');
  await page.setContent('<!DOCTYPE html><html><head><title>t</title></head><body>' +
    '<main><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="><input type="text"></main></body></html>');
  const ids = (await L.axeViolations(page)).map((v) => v.id).sort();
  assert.ok(ids.includes('image-alt'), `image-alt reported (got ${ids})`);
  assert.ok(ids.includes('html-has-lang'), `html-has-lang reported (got ${ids})`);
  assert.ok(ids.includes('label'), `label reported (got ${ids})`);

  s.step('en-têtes de sécurité du portail');
  const res = await page.goto(L.portal('/login'));
  const csp = res.headers()['content-security-policy'] || '';
  assert.match(csp, /script-src 'self'/, `CSP: ${csp}`);
  assert.equal(res.headers()['cache-control'], 'no-store');
});
