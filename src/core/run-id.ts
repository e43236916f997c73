import { randomUUID } from 'node:crypto'

/**
 * Run ids in UUID form: a random prefix drawn once per process (74 random bits) and a 48-bit
 * counter. Unique across processes and restarts like a random UUID, at the cost of a counter
 * increment instead of 16 random bytes per fire.
 *
 * The id is written as character codes into one reused array and made in one step, a flat
 * 36-character string: concatenating prefix and padded counter made three strings per fire (and a
 * cons string that the first hashing of the id flattened into a fourth).
 */
const codes = Array.from(randomUUID().slice(0, 24) + '000000000000', (c) => c.charCodeAt(0))
const HEX = Array.from('0123456789abcdef', (c) => c.charCodeAt(0))
let counter = 0

export function newRunId (): string {
  counter++
  let n = counter
  for (let i = 35; i >= 24; i--) {
    codes[i] = HEX[n % 16] as number
    n = Math.floor(n / 16)
  }
  return String.fromCharCode.apply(null, codes)
}
