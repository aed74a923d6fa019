/**
 * A small seeded PRNG (xorshift32) returning floats in [0, 1): the same sequence for the
 * same seed. In a module of its own (no imports) so that the move torture's children,
 * started by the hundred, can load it without move-kit and the atomfs barrel.
 */
export function seeded(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}
