const MAX_EARLY_MS = 50

/**
 * How much sooner than its target a timer is armed. An OS wakes a sleeper late by a share of the
 * sleep (Linux gives poll and epoll timeouts a slack of 0.1 %; a virtual machine adds its own):
 * on a 2-core VM here, a bare Node timer set a second ahead fired 5–14 ms late. Armed early by a
 * share of the wait, the timer wakes before its time and its callback waits out the rest with a
 * short timer, which is late by under a millisecond there. Short waits are armed as they are.
 */
function earlyWakeMs (waitMs: number): number {
  if (waitMs <= 2) return 0
  return Math.min(MAX_EARLY_MS, Math.max(1, Math.ceil(waitMs / 32)))
}

/** The delay to give a timer that must not fire after `waitMs` from now. */
export function earlyDelay (waitMs: number): number {
  const wait = Math.max(0, waitMs)
  return wait - earlyWakeMs(wait)
}
