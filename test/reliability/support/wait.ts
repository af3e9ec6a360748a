/**
 * Waiting in the reliability suite, where real processes crash and recover
 * on their own time: a plain sleep, and polling a condition until a deadline.
 */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until `check` passes; false (not an exception) when the time runs out. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(stepMs);
  }
  return check();
}
