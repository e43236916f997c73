import { plugin } from './plugin.js'

export default plugin
export { plugin as fastifyApscheduler }
export { Scheduler, type SchedulerState, type JobQuery, type RunInfo, type AuthenticateFn } from './scheduler.js'
export type { SchedulerPluginOptions } from './options.js'
export type { JobDefinition, JobInfo, JobDefaults } from './job.js'
export type { TaskContext, TaskFunction } from './tasks.js'
export type { JobStore, AcquiredJob, JobRelease, RunResult, StoreChange, SchedulerSharedState } from './store.js'
export type { JobRecord, RunRecord, TriggerSpec, Trigger } from './types.js'
export { ManualClock, systemClock, type Clock } from './clock.js'
export { SchedulerError, ValidationError, JobNotFoundError, ConflictingIdError, StoreUnavailableError } from './errors.js'
export { MemoryStore } from '../stores/memory.js'
export { SqliteStore } from '../stores/sqlite.js'
export { RedisStore, type RedisStoreOptions, type RedisStoreHealth } from '../stores/redis.js'
