/**
 * Read-only routes the dashboard needs beyond Flask-APScheduler's set. They are ordinary API routes
 * (schemas, operationIds, auth), so whatever the dashboard shows, any client can fetch too.
 */
import { Type } from 'typebox'
import { JobNotFoundError, ValidationError } from '../errors.js'
import type { Scheduler } from '../scheduler.js'
import { checkWireDates, type RouteSpec } from './routes.js'
import * as S from './schemas.js'

/** Runs read per job to find its latest finished run and the ones running now. */
const RUNS_SCANNED = 10
const MAX_JOB_IDS = 200

export const TaskList = Type.Array(Type.String(), { description: 'Names a job may give as `func`, sorted' })

export const PreviewQuery = Type.Object({
  count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 10 }))
})

export const Preview = Type.Object({
  job: S.Job,
  next_run_times: Type.Array(Type.String(), { description: 'ISO 8601 fire times, in the job timezone' })
}, { additionalProperties: false })

export const LatestRunsBody = Type.Object({
  job_ids: Type.Array(Type.String(), { maxItems: MAX_JOB_IDS, description: `Up to ${MAX_JOB_IDS} job ids` })
}, { additionalProperties: false })

export const LatestRuns = Type.Array(Type.Object({
  job_id: Type.String(),
  running: Type.Integer({ description: 'Runs of this job in progress now (on any process sharing the store)' }),
  last_run: Type.Union([S.Run, Type.Null()], { description: 'The newest finished run (success, error, missed or abandoned)' })
}, { additionalProperties: false }), { description: 'One entry per existing job, in the order asked; unknown ids are left out' })

const common = (): Record<string, unknown> => ({
  401: S.errorResponse('Authentication required (when an authenticator is set)'),
  500: S.errorResponse('Unexpected error, e.g. the job store is unreachable')
})

export function dashboardRoutes (scheduler: Scheduler): RouteSpec[] {
  return [
    {
      method: 'GET', path: '/tasks', operationId: 'getTasks', tag: 'scheduler', summary: 'The registered task names a job may run',
      response: { 200: S.described(TaskList, 'Task names'), ...common() },
      handler: async () => scheduler.tasks.names()
    },
    {
      method: 'POST', path: '/preview', operationId: 'previewJob', tag: 'jobs',
      summary: 'Validate a job definition without saving it; returns the job it would be and its next fire times',
      querystring: PreviewQuery,
      body: S.JobInput, coreBody: true,
      response: { 200: S.described(Preview, 'The job as it would be added, and its next fire times'), 400: S.errorResponse('Invalid definition; the message names the field'), ...common() },
      handler: async ({ body, query }) => scheduler.previewJob(checkWireDates(body), (query as { count?: number }).count ?? 10)
    },
    {
      method: 'POST', path: '/runs/latest', operationId: 'getLatestRuns', tag: 'jobs',
      summary: 'For each job asked: its newest finished run and how many runs are in progress (read-only)',
      body: LatestRunsBody,
      response: { 200: S.described(LatestRuns, 'Latest runs'), 400: S.errorResponse('Invalid body; the message names the field'), ...common() },
      handler: async ({ body }) => {
        const ids = (body as { job_ids: string[] } | undefined)?.job_ids
        if (ids === undefined) throw new ValidationError('body', 'must be { "job_ids": [ids] }')
        const entries = await Promise.all([...new Set(ids)].map(async (id) => {
          try {
            const runs = await scheduler.getJobRuns(id, RUNS_SCANNED)
            return {
              job_id: id,
              running: runs.filter((r) => r.status === 'running').length,
              last_run: runs.find((r) => r.status !== 'running') ?? null
            }
          } catch (err) {
            if (err instanceof JobNotFoundError) return null
            throw err
          }
        }))
        return entries.filter((e) => e !== null)
      }
    }
  ]
}
