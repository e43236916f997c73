/** The part of autocannon's programmatic API the API benchmark uses (the package ships no types). */
declare module 'autocannon' {
  interface Histogram { average: number, p50: number, p90: number, p99: number, max: number }
  interface Result { requests: Histogram, latency: Histogram, non2xx: number, errors: number, timeouts: number, '2xx': number }
  interface Request { method?: string, path?: string, headers?: Record<string, string>, body?: string, setupRequest?: (req: Request) => Request }
  interface Options { url: string, connections?: number, duration?: number, method?: string, headers?: Record<string, string>, requests?: Request[] }
  function autocannon (opts: Options): Promise<Result>
  export default autocannon
}
