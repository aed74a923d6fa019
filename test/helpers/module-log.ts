/**
 * A preload for the CLI under test (`node --import <this file> bin/atomfs.js ...`): every
 * module the process loads through the ES module loader is appended, one URL a line, to the
 * file named in ATOMFS_TEST_MODULE_LOG. A module-load probe through Node's documented
 * loader hooks (module.register), so a test can see what a run really loaded.
 *
 * Importing this file has that effect on the importing process: import it nowhere else.
 */
import { register } from 'node:module';

if (process.env['ATOMFS_TEST_MODULE_LOG']) register('./module-log-hooks.js', import.meta.url);
