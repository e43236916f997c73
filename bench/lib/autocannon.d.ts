/** The part of autocannon's programmatic API the API benchmark uses (the package ships no types). */
declare module 'autocannon' {
  interface Histogram { average: number, p50: number, p90: number, p99: number, max: number }
  interface Result { requests: Histogram, latency: Histogram, non2xx: number, errors: number, timeouts: number, '2xx': number }
  interface Request { method?: string, path?: string, headers?: Record<string, string>, body?: string, setupRequest?: (req: Request) => Request }
  interface Options { url: string, connections?: number, duration?: number, method?: string, headers?: Record<string, string>, requests?: Request[] }
  /** Without a callback: an event emitter ('response' per answer, its time in fractional ms) that is also a promise of the result. */
  interface Instance extends PromiseLike<Result> {
    on: (event: 'response', listener: (client: unknown, statusCode: number, bytes: number, responseTime: number) => void) => Instance
  }
  function autocannon (opts: Options): Instance
  export default autocannon
}
