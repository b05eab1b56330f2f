// Which connection (HBONE pool lane) a tunnel to a waypoint takes. A
// waypoint's primary hands whole connections to its workers, so the tunnels
// of one connection share one worker. A source's tunnels to a waypoint fill
// one connection up to `perConnection` open tunnels, then the next, and when
// all `connections` are that full, the least busy: a lightly used waypoint
// serves a source from one warm worker (fewer wake-ups, lower latency), a
// busy source reaches every worker. (Different sources use different
// connections anyway: the pool keys them by identity.)
export class WaypointLanes {
  private readonly open = new Map<string, number[]>();

  constructor(private readonly connections: number, private readonly perConnection: number) {}

  /** A lane for a new tunnel of `key` (source and waypoint); `release` once the tunnel ends or failed to open. */
  take(key: string): { lane: number; release: () => void } {
    let counts = this.open.get(key);
    if (counts === undefined) this.open.set(key, (counts = new Array<number>(this.connections).fill(0)));
    const open = counts;
    let lane = open.findIndex((n) => n < this.perConnection);
    if (lane === -1) lane = open.indexOf(Math.min(...open));
    open[lane]!++;
    let released = false;
    return {
      lane,
      release: () => {
        if (released) return;
        released = true;
        open[lane]!--;
        if (open.every((n) => n === 0) && this.open.get(key) === open) this.open.delete(key);
      },
    };
  }

  /** Open tunnels by lane, for `key` (tests and the config dump). */
  counts(key: string): number[] {
    return [...(this.open.get(key) ?? new Array<number>(this.connections).fill(0))];
  }
}
