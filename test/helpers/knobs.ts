/**
 * Environment knobs of the long randomized tests: how many kills a torture runs, and the
 * seed (printed by the test, so that a run can be replayed).
 */

/** Whether this is a CI run (CI=true or CI=1). */
export const IN_CI = process.env['CI'] === 'true' || process.env['CI'] === '1';

/**
 * The kill count from the variable `name`: in CI at least `ciMin` (the knob can only raise
 * it), elsewhere the knob when it is a positive number, else `localDefault`.
 */
export function killsKnob(name: string, ciMin: number, localDefault: number): number {
  const knob = Number.parseInt(process.env[name] ?? '', 10);
  return IN_CI ? Math.max(ciMin, Number.isFinite(knob) ? knob : 0) : Number.isFinite(knob) && knob > 0 ? knob : localDefault;
}

/** The seed from the variable `name`, or a random one when it is unset (or 0, or not a number). */
export function seedKnob(name: string): number {
  return Number.parseInt(process.env[name] ?? '', 10) || (Math.random() * 2 ** 31) >>> 0;
}
