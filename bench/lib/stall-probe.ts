/**
 * How often this machine holds a running process up on its own: a busy loop that allocates nothing
 * and makes no call that can block reads the clock for `ms` and records the gaps between reads. On
 * a quiet machine they stay under a few microseconds; a shared or virtual machine that takes the
 * core away shows gaps of milliseconds, which land on a fire's lateness whatever the scheduler does
 * (S1's p99 is the latest start of one wave in twenty).
 */
export interface Stalls { seconds: number, over1ms: number, longestMs: number }

export function probeStalls (ms: number): Stalls {
  const end = performance.now() + ms
  let last = performance.now()
  let over1ms = 0
  let longest = 0
  for (;;) {
    const now = performance.now()
    if (now >= end) break
    const gap = now - last
    if (gap > 1) over1ms++
    if (gap > longest) longest = gap
    last = now
  }
  return { seconds: ms / 1000, over1ms, longestMs: Math.round(longest * 100) / 100 }
}
