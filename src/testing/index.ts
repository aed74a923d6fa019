/**
 * atomfs/testing: a simulated disk with a pessimistic power-loss model, and an explorer
 * that checks every crash state of an operation. Test your own file logic with it.
 *
 * @module atomfs/testing
 */
export { SimulatedDisk, type TraceStep } from './sim-disk.js';
export {
  exploreCrashes,
  type CrashCheck,
  type CrashInfo,
  type ExploreOptions,
  type ExploreResult,
  type Violation,
} from './explore.js';
