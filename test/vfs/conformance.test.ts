/**
 * The conformance suite over every in-process mount kind and the node:fs oracle
 * (PostgresMount: pg-conformance.test.ts, which needs a server).
 */
import { conformanceSuite } from './conformance-suite.js';
import { SUBJECTS } from './kit.js';

for (const factory of SUBJECTS) conformanceSuite(factory);
