/** Fires as parallel arrays (job number, due, start), cheap to record at 100,000s of fires. */
export class FireLog {
  n: number[] = []
  due: number[] = []
  start: number[] = []

  readonly record = (n: number, due: number, start: number): void => {
    this.n.push(n)
    this.due.push(due)
    this.start.push(start)
  }

  get length (): number { return this.n.length }

  countDueIn (from: number, to: number): number {
    let count = 0
    for (const due of this.due) if (due >= from && due < to) count++
    return count
  }
}

export interface FireArrays { n: number[], due: number[], start: number[], node?: string[] }
