export interface SizeParams { size: number }
export async function runSize (_adapter: string, _p: SizeParams, _dir: string): Promise<Record<string, unknown>> { return { skipped: 'not yet' } }
