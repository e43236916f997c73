/** Errors the core throws; the REST layer maps `statusCode` straight to the HTTP status. */
export class SchedulerError extends Error {
  readonly statusCode: number
  constructor (message: string, statusCode: number) {
    super(message)
    this.name = new.target.name
    this.statusCode = statusCode
  }
}

/** Bad input. `field` names the offending field (dotted path) so callers can point at it. */
export class ValidationError extends SchedulerError {
  readonly field: string
  constructor (field: string, message: string) {
    super(field ? `${field}: ${message}` : message, 400)
    this.field = field
  }
}

export class JobNotFoundError extends SchedulerError {
  constructor (id: string) { super(`Job ${id} not found`, 404) }
}

export class ConflictingIdError extends SchedulerError {
  constructor (id: string) { super(`Job ${id} already exists.`, 409) }
}

export class SchedulerStateError extends SchedulerError {}

/** The job store cannot be reached (e.g. Redis is down): HTTP 503, try again later. */
export class StoreUnavailableError extends SchedulerError {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, 503)
    if (options?.cause !== undefined) this.cause = options.cause
  }
}
