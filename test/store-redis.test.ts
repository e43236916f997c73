import { describe, before, after } from 'node:test'
import type { Cluster } from 'ioredis'
import { RedisStore } from '../stores/redis.js'
import { storeContract } from './store-contract.js'
import { REDIS_URL, deletePrefix, requireRedis, startLocalCluster, uniquePrefix, type LocalCluster } from './redis-harness.js'

// The contract drives time by hand (fixed instants around 2027), so these stores take the caller's
// `now`; the server clock is tested on its own in redis-time.test.ts.
const admin = await requireRedis()
after(async () => { await admin.quit() })

storeContract('redis', async () => {
  const prefix = uniquePrefix('contract')
  const opened: RedisStore[] = []
  const make = (): RedisStore => {
    const store = new RedisStore({ url: REDIS_URL, prefix, time: 'caller' })
    opened.push(store)
    return store
  }
  return {
    store: make(),
    sibling: async () => make(),
    cleanup: async () => {
      for (const store of opened) await store.close()
      await deletePrefix(admin, prefix)
    }
  }
})

describe('a local Redis Cluster of three masters', () => {
  let cluster: LocalCluster
  const clients: Cluster[] = []
  before(async () => { cluster = await startLocalCluster() })
  after(async () => {
    for (const client of clients) client.disconnect()
    await cluster?.destroy()
  })

  storeContract('redis cluster', async () => {
    const prefix = uniquePrefix('cluster')
    const opened: RedisStore[] = []
    const make = (): RedisStore => {
      const client = cluster.client()
      clients.push(client)
      const store = new RedisStore({ client, prefix, time: 'caller' })
      opened.push(store)
      return store
    }
    return {
      store: make(),
      sibling: async () => make(),
      cleanup: async () => {
        for (const store of opened) await store.close()
        const client = cluster.client()
        await deletePrefix(client, prefix)
        client.disconnect()
      }
    }
  })
})
