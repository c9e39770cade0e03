import { afterEach, describe, expect, it } from 'vitest';
import { testHub, type TestHub } from '../support/hub.js';

const TOKEN = 'correct-horse-battery-staple';
const job = { job_id: 'a', cpu: 1, mem_gb: 1, runtime_minutes: 10, deadline_minutes: 60 };

describe('API token', () => {
  let t: TestHub;
  afterEach(() => t.hub.stop());

  const call = (method: 'POST' | 'DELETE' | 'GET', url: string, authorization?: string) =>
    t.hub.app.inject({ method, url, payload: method === 'POST' && url === '/hub/appwrappers' ? job : undefined, headers: authorization ? { authorization } : {} });

  it.each([
    ['no header', undefined, 401],
    ['a Basic header', 'Basic YTpi', 401],
    ['a bearer header without a token', 'Bearer ', 401],
    ['a wrong token', 'Bearer not-the-token-at-all', 403],
    ['a prefix of the token', `Bearer ${TOKEN.slice(0, 10)}`, 403],
    ['the token', `Bearer ${TOKEN}`, 201],
    ['the token, scheme in lower case', `bearer ${TOKEN}`, 201],
    ['the token after two spaces (RFC 7235: one or more)', `Bearer  ${TOKEN}`, 201],
  ])('POST /hub/appwrappers with %s (%s) answers %i', async (_name, authorization, status) => {
    t = await testHub({ api_token: TOKEN });
    const res = await call('POST', '/hub/appwrappers', authorization);
    expect(res.statusCode).toBe(status);
    if (status === 401) {
      expect(res.headers['www-authenticate']).toBe('Bearer realm="caspian"');
      expect(res.json()).toMatchObject({ error: 'Unauthorized', details: [] });
      // Like every rejected request, one info line: an operator sees clients that forgot the token.
      expect(t.log.lines.filter((l) => l.level === 30 && l.msg === 'request rejected' && l.status === 401)).toHaveLength(1);
    }
    if (status === 403) expect(res.json()).toMatchObject({ error: 'Forbidden', details: [] });
    expect((await t.hub.lifecycle.store.list()).length).toBe(status === 201 ? 1 : 0);
  });

  it('guards every mutating route and leaves reads open', async () => {
    t = await testHub({ api_token: TOKEN });
    for (const [method, url] of [['POST', '/hub/schedule'], ['POST', '/hub/dispatch'], ['DELETE', '/hub/appwrappers/a']] as const) {
      expect((await call(method, url)).statusCode, `${method} ${url}`).toBe(401);
    }
    for (const url of ['/hub/appwrappers', '/hub/stats', '/hub/clusters', '/health', '/metrics']) {
      expect((await call('GET', url)).statusCode, url).toBe(200);
    }
    expect((await call('POST', '/hub/schedule', `Bearer ${TOKEN}`)).statusCode).toBe(200);
  });

  it('warns at start-up when no token is set, and not when one is', async () => {
    t = await testHub();
    await t.hub.start();
    expect(t.log.lines.some((l) => l.level === 40 && String(l.msg).startsWith('CASPIAN_API_TOKEN is not set'))).toBe(true);
    await t.hub.stop();
    t = await testHub({ api_token: TOKEN });
    await t.hub.start();
    expect(t.log.messages().some((m) => m.startsWith('CASPIAN_API_TOKEN is not set'))).toBe(false);
  });

  it('refuses a token too short to be a secret, naming the key', async () => {
    await expect(testHub({ api_token: 'short' })).rejects.toThrow(/api_token: must be at least 16 characters/);
    t = await testHub();
  });
});
