/**
 * The VFS conformance suite, unchanged, over PostgresMount and over a ReadOnlyMount of
 * it, on a real server the harness starts (test/helpers/pg.ts).
 */
import { after, before, describe, it } from 'node:test';
import { ReadOnlyMount } from '../../src/index.js';
import { PostgresMount } from '../../src/postgres/index.js';
import { pgMissing, startPg, type PgServer } from '../helpers/pg.js';
import { conformanceSuite } from './conformance-suite.js';
import { vfsSubject, type SubjectFactory } from './kit.js';

const missing = pgMissing();
if (missing !== undefined) {
  it('PostgresMount conformance', (t) => t.skip(missing));
} else {
  let srv: PgServer | undefined;
  const need = (): PgServer => {
    if (srv === undefined) throw new Error('the server did not start');
    return srv;
  };
  const mountFor = (t: { after(fn: () => Promise<void>): void }): PostgresMount => {
    const s = need();
    const m = new PostgresMount({ connectionString: s.url, schema: s.schema(), timeout: 20_000 });
    t.after(() => m.close());
    return m;
  };
  const factories: SubjectFactory[] = [
    { name: 'PostgresMount', make: (t) => { const m = mountFor(t); return vfsSubject({ name: 'PostgresMount', mount: m, backing: m, readOnly: false }); } },
    { name: 'ReadOnlyMount over PostgresMount', make: (t) => { const m = mountFor(t); return vfsSubject({ name: 'ReadOnlyMount(pg)', mount: new ReadOnlyMount(m), backing: m, readOnly: true }); } },
  ];
  describe('PostgreSQL', () => {
    before(async () => {
      const s = await startPg();
      if (typeof s === 'string') throw new Error(s);
      srv = s;
    });
    after(() => srv?.stop());
    for (const f of factories) conformanceSuite(f);
  });
}
