import { MemoryStore } from '../stores/memory.js'
import { storeContract } from './store-contract.js'

storeContract('MemoryStore', async () => {
  const store = new MemoryStore()
  // Schedulers in one process share the instance itself.
  return { store, sibling: async () => store, cleanup: async () => { await store.close() } }
})
