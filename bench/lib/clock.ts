/** Wall-clock epoch ms with sub-millisecond precision (performance.now() on the process's time origin). */
export function nowMs (): number {
  return performance.timeOrigin + performance.now()
}

export async function sleep (ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))
}

/** Sleeps until an epoch instant. */
export async function sleepUntil (at: number): Promise<void> {
  await sleep(at - nowMs())
}
