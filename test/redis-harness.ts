/**
 * Redis for the tests: the shared server named by REDIS_URL (each run under its own key prefix,
 * deleted afterwards), and private servers on loopback ports 7100-7199 that a test may stop,
 * restart or kill, alone or as a three-master Redis Cluster.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { Redis, Cluster } from 'ioredis'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

const HOW_TO_START = 'Start one with `redis-server --daemonize yes --save "" --appendonly no` ' +
  '(Debian/Ubuntu: apt-get install redis-server), or `docker run -d -p 6379:6379 redis:7`, ' +
  'or point REDIS_URL at a running server. The Redis tests never skip.'

/** A prefix no other run uses. */
export function uniquePrefix (what = 'test'): string {
  return `apscheduler-${what}-${process.pid}-${randomBytes(4).toString('hex')}`
}

/** Connects to REDIS_URL or fails with a message saying how to start Redis. */
export async function requireRedis (url = REDIS_URL): Promise<Redis> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null, connectTimeout: 2000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
  } catch (err) {
    client.disconnect()
    throw new Error(`Redis is not reachable at ${url} (${(err as Error).message}). ${HOW_TO_START}`)
  }
  return client
}

/** Deletes every key under a (plain) prefix, on every master of a cluster. */
export async function deletePrefix (client: Redis | Cluster, prefix: string): Promise<number> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  let deleted = 0
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000)
      cursor = next
      // One slot per prefix (the hash tag), so a multi-key DEL is fine on a cluster too.
      if (keys.length > 0) deleted += await node.del(...keys)
    } while (cursor !== '0')
  }
  return deleted
}

export function redisServerInstalled (): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const PORT_MIN = 7100
const PORT_MAX = 7199
let nextPort = PORT_MIN + (process.pid % 50)

async function portFree (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => { resolve(false) })
    server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
  })
}

/** A free loopback port in 7100-7199 (and, for cluster nodes, its bus port + 10000). */
export async function sparePort (withBus = false): Promise<number> {
  for (let tries = 0; tries <= PORT_MAX - PORT_MIN; tries++) {
    const port = nextPort
    nextPort = nextPort >= PORT_MAX ? PORT_MIN : nextPort + 1
    if (await portFree(port) && (!withBus || await portFree(port + 10_000))) return port
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX}`)
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }

export interface PrivateRedis {
  port: number
  url: string
  /**
   * Starts (or restarts) the server on the same port and data directory; resolves once it
   * answers. With `{ empty: true }` its data files are deleted first (a restart that lost the data).
   */
  start: (opts?: { empty?: boolean }) => Promise<void>
  /** Stops it: SHUTDOWN (with a save when persistent), or SIGKILL with `{ kill: true }`. */
  stop: (opts?: { kill?: boolean }) => Promise<void>
  /** Stops it and deletes its data directory. */
  destroy: () => Promise<void>
}

/**
 * A redis-server of the tests' own on a spare port 7100-7199. `persistent` turns on the
 * append-only file (fsync always), so a restart keeps everything written before the stop.
 */
export async function startPrivateRedis ({ persistent = true, extraArgs = [] as string[], port: wanted }: { persistent?: boolean, extraArgs?: string[], port?: number } = {}): Promise<PrivateRedis> {
  if (!redisServerInstalled()) throw new Error(`redis-server is not installed, so the test cannot start its own Redis. ${HOW_TO_START}`)
  const port = wanted ?? await sparePort(extraArgs.includes('--cluster-enabled'))
  const dir = mkdtempSync(join(tmpdir(), `apsched-redis-${port}-`))
  let child: ChildProcess | null = null
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
    '--appendonly', persistent ? 'yes' : 'no', '--appendfsync', 'always', '--protected-mode', 'no', ...extraArgs
  ]
  const answers = async (): Promise<boolean> => {
    const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 500 })
    probe.on('error', () => {})
    try {
      await probe.connect()
      const loading = (await probe.info('persistence')).includes('loading:1')
      return !loading
    } catch {
      return false
    } finally {
      probe.disconnect()
    }
  }
  const start = async ({ empty = false } = {}): Promise<void> => {
    if (child !== null) return
    if (empty) {
      rmSync(dir, { recursive: true, force: true })
      mkdirSync(dir)
    }
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    proc.stderr?.on('data', (d: Buffer) => { stderr += d.toString() })
    proc.once('exit', () => { if (child === proc) child = null })
    child = proc
    for (let i = 0; i < 100; i++) {
      if (await answers()) return
      if (child === null) break
      await sleep(50)
    }
    throw new Error(`redis-server on port ${port} did not start: ${stderr}`)
  }
  const stop = async ({ kill = false } = {}): Promise<void> => {
    const proc = child
    if (proc === null) return
    const exited = new Promise((resolve) => proc.once('exit', resolve))
    proc.kill(kill ? 'SIGKILL' : 'SIGTERM') // SIGTERM: redis-server flushes the AOF and exits
    await exited
    child = null
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    destroy: async () => {
      await stop({ kill: true })
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

export interface LocalCluster {
  nodes: PrivateRedis[]
  /** A connected ioredis Cluster client (the caller closes it). */
  client: () => Cluster
  destroy: () => Promise<void>
}

/** Three masters on loopback, joined with `redis-cli --cluster create`. */
export async function startLocalCluster (): Promise<LocalCluster> {
  const nodes: PrivateRedis[] = []
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(await startPrivateRedis({ persistent: false, extraArgs: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '2000'] }))
    }
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { stdio: 'pipe', timeout: 30_000 })
    for (let i = 0; i < 100; i++) {
      const probe = new Redis({ port: nodes[0]!.port, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        await probe.connect()
        if ((await probe.cluster('INFO') as string).includes('cluster_state:ok')) break
      } finally {
        probe.disconnect()
      }
      await sleep(100)
    }
  } catch (err) {
    for (const node of nodes) await node.destroy()
    throw err
  }
  return {
    nodes,
    client: () => new Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: n.port })), { enableOfflineQueue: true }),
    destroy: async () => { for (const node of nodes) await node.destroy() }
  }
}
