/** Counters and the fire-lag histogram this process exports as Prometheus text. */
const LAG_BUCKETS_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

export type RunOutcome = 'success' | 'error' | 'missed' | 'abandoned'

export class Metrics {
  readonly runs: Record<RunOutcome, number> = { success: 0, error: 0, missed: 0, abandoned: 0 }
  leaseTakeovers = 0
  maxInstancesSkips = 0
  /** Runs recorded as a TimeoutError because they outlived their job's `timeout`. */
  timeouts = 0
  /** Tasks still running after their timeout (they ignored the abort signal); their slot is free. */
  overrunning = 0
  /** Manual runs refused: the job was at max_instances, too many manual runs waited, or its history was full of live runs. */
  readonly manualRefused = { max_instances: 0, queue_full: 0, history_full: 0 }
  /** Steps of the wall clock noticed (wall and monotonic time disagreeing by more than a second). */
  clockSteps = 0
  /** The last one: when it was noticed (wall time after it) and its size in ms (negative: back). */
  lastClockStep: { at: number, ms: number } | null = null
  readonly #lagCounts = new Array<number>(LAG_BUCKETS_SECONDS.length).fill(0)
  #lagCount = 0
  #lagSum = 0

  recordRun (outcome: RunOutcome): void { this.runs[outcome]++ }

  recordClockStep (at: number, ms: number): void {
    this.clockSteps++
    this.lastClockStep = { at, ms }
  }

  /** Counted in its own bucket only (the usual fire stops at the first); cumulated when exported. */
  recordLag (ms: number): void {
    const seconds = Math.max(0, ms) / 1000
    this.#lagCount++
    this.#lagSum += seconds
    let i = 0
    while (i < LAG_BUCKETS_SECONDS.length && seconds > (LAG_BUCKETS_SECONDS[i] as number)) i++
    if (i < LAG_BUCKETS_SECONDS.length) this.#lagCounts[i]++
  }

  toPrometheus (labels: Record<string, string> = {}): string {
    const base = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`)
    const lbl = (...extra: string[]): string => {
      const all = [...base, ...extra]
      return all.length > 0 ? `{${all.join(',')}}` : ''
    }
    const lines: string[] = [
      '# HELP apscheduler_job_runs_total Job runs by outcome.',
      '# TYPE apscheduler_job_runs_total counter'
    ]
    for (const [outcome, n] of Object.entries(this.runs)) lines.push(`apscheduler_job_runs_total${lbl(`outcome="${outcome}"`)} ${n}`)
    const single = (name: string, type: 'counter' | 'gauge', help: string, value: number): void => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${lbl()} ${value}`)
    }
    single('apscheduler_job_misfires_total', 'counter', 'Fires skipped because they were later than misfire_grace_time.', this.runs.missed)
    single('apscheduler_lease_takeovers_total', 'counter', 'Job claims or runs taken over from a process whose lease expired.', this.leaseTakeovers)
    single('apscheduler_max_instances_skips_total', 'counter', 'Fires skipped because max_instances runs were live.', this.maxInstancesSkips)
    single('apscheduler_task_timeouts_total', 'counter', 'Runs that outlived their timeout: aborted and recorded as TimeoutError.', this.timeouts)
    single('apscheduler_tasks_overrunning', 'gauge', 'Tasks still running after their timeout (they ignore the abort signal).', this.overrunning)
    single('apscheduler_clock_steps_total', 'counter', 'Steps of the wall clock noticed: wall and monotonic time disagreeing by more than a second.', this.clockSteps)
    single('apscheduler_clock_last_step_seconds', 'gauge', 'Size of the last wall-clock step (negative: back); 0 before any.', (this.lastClockStep?.ms ?? 0) / 1000)
    lines.push(
      '# HELP apscheduler_manual_runs_refused_total Manual runs refused, by reason.',
      '# TYPE apscheduler_manual_runs_refused_total counter',
      `apscheduler_manual_runs_refused_total${lbl('reason="max_instances"')} ${this.manualRefused.max_instances}`,
      `apscheduler_manual_runs_refused_total${lbl('reason="queue_full"')} ${this.manualRefused.queue_full}`,
      `apscheduler_manual_runs_refused_total${lbl('reason="history_full"')} ${this.manualRefused.history_full}`,
      '# HELP apscheduler_fire_lag_seconds Actual start minus scheduled fire time.',
      '# TYPE apscheduler_fire_lag_seconds histogram'
    )
    let cumulative = 0
    LAG_BUCKETS_SECONDS.forEach((le, i) => {
      cumulative += this.#lagCounts[i] as number
      lines.push(`apscheduler_fire_lag_seconds_bucket${lbl(`le="${le}"`)} ${cumulative}`)
    })
    lines.push(
      `apscheduler_fire_lag_seconds_bucket${lbl('le="+Inf"')} ${this.#lagCount}`,
      `apscheduler_fire_lag_seconds_sum${lbl()} ${this.#lagSum}`,
      `apscheduler_fire_lag_seconds_count${lbl()} ${this.#lagCount}`
    )
    return lines.join('\n') + '\n'
  }
}

function escapeLabel (value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}
