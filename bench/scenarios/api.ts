export interface ApiParams { seconds: number }
export async function runApi (_adapter: string, _p: ApiParams, _dir: string): Promise<Record<string, unknown>> { return { skipped: 'not yet' } }
