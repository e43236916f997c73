import { randomUUID } from 'node:crypto'

/**
 * Run ids in UUID form: a random prefix drawn once per process (74 random bits) and a 48-bit
 * counter. Unique across processes and restarts like a random UUID, at the cost of a counter
 * increment instead of 16 random bytes per fire.
 */
const prefix = randomUUID().slice(0, 24)
let counter = 0

export function newRunId (): string {
  counter++
  return prefix + counter.toString(16).padStart(12, '0')
}
