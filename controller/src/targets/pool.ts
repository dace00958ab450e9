/**
 * Runs `each` on every target, at most `parallel` at once (at least one), and
 * returns the answers in the targets' order. A rejection ends the run with it.
 */
export async function forEachTarget<T, A>(
  targets: readonly T[],
  parallel: number,
  each: (target: T) => Promise<A>,
): Promise<A[]> {
  const answers: A[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < targets.length; i = next++) {
      answers[i] = await each(targets[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(parallel, targets.length)) }, worker));
  return answers;
}
