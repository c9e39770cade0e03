/**
 * Minimum-cost flow by successive shortest paths (Ahuja, Magnanti & Orlin, "Network Flows", ch. 9): augment
 * along a cheapest source-sink path of the residual network until the wanted flow is sent or no path is
 * left. Paths are found with Dijkstra on reduced costs, node potentials keeping them non-negative (Johnson);
 * the first potentials come from Bellman-Ford, so arcs of negative cost are allowed (negative cycles are
 * not). With integral capacities the flow found is integral, which is what makes it an assignment.
 */
export class FlowNetwork {
  private readonly head: number[];
  private readonly to: number[] = [];
  private readonly next: number[] = [];
  private readonly cap: number[] = [];
  private readonly cost: number[] = [];
  private readonly original: number[] = [];

  constructor(readonly nodes: number) {
    this.head = new Array<number>(nodes).fill(-1);
  }

  /** Adds an arc and returns its id; its reverse residual arc is `id ^ 1`. */
  addArc(from: number, to: number, capacity: number, cost: number): number {
    if (from < 0 || from >= this.nodes || to < 0 || to >= this.nodes) throw new RangeError(`arc ${from} -> ${to} outside 0..${this.nodes - 1}`);
    if (!(capacity >= 0)) throw new RangeError(`arc ${from} -> ${to}: capacity must be >= 0, got ${capacity}`);
    const id = this.to.length;
    for (const [a, b, c, k] of [
      [from, to, capacity, cost],
      [to, from, 0, -cost],
    ] as const) {
      this.to.push(b);
      this.cap.push(c);
      this.cost.push(k);
      this.original.push(c);
      this.next.push(this.head[a] as number);
      this.head[a] = this.to.length - 1;
    }
    return id;
  }

  /** Flow on an arc after solving. */
  flow(arc: number): number {
    return (this.original[arc] as number) - (this.cap[arc] as number);
  }

  /** Sends up to `maxFlow` units from `source` to `sink` at least cost; resolves with what was sent and its cost. */
  minCostFlow(source: number, sink: number, maxFlow = Infinity): { flow: number; cost: number } {
    const n = this.nodes;
    const potential = this.bellmanFord(source);
    const dist = new Float64Array(n);
    const prevArc = new Int32Array(n);
    let flow = 0;
    let total = 0;
    while (flow < maxFlow) {
      dist.fill(Infinity);
      prevArc.fill(-1);
      dist[source] = 0;
      const heap = new MinHeap();
      heap.push(0, source);
      while (heap.size) {
        const [d, u] = heap.pop();
        if (d > (dist[u] as number)) continue;
        for (let e = this.head[u] as number; e !== -1; e = this.next[e] as number) {
          if ((this.cap[e] as number) <= 0) continue;
          const v = this.to[e] as number;
          // Reduced costs are >= 0 in exact arithmetic; clamp the rounding noise of fractional costs.
          const reduced = Math.max(0, (this.cost[e] as number) + (potential[u] as number) - (potential[v] as number));
          const nd = d + reduced;
          if (nd < (dist[v] as number) - 1e-12) {
            dist[v] = nd;
            prevArc[v] = e;
            heap.push(nd, v);
          }
        }
      }
      if (dist[sink] === Infinity) break;
      for (let v = 0; v < n; v++) if (dist[v] !== Infinity) potential[v] = (potential[v] as number) + (dist[v] as number);
      let push = maxFlow - flow;
      for (let v = sink; v !== source; v = this.to[(prevArc[v] as number) ^ 1] as number) push = Math.min(push, this.cap[prevArc[v] as number] as number);
      for (let v = sink; v !== source; v = this.to[(prevArc[v] as number) ^ 1] as number) {
        const e = prevArc[v] as number;
        this.cap[e] = (this.cap[e] as number) - push;
        this.cap[e ^ 1] = (this.cap[e ^ 1] as number) + push;
        total += push * (this.cost[e] as number);
      }
      flow += push;
    }
    return { flow, cost: total };
  }

  /** Shortest distances from `source` over arcs with capacity (0 where unreachable), as first potentials. */
  private bellmanFord(source: number): Float64Array {
    const n = this.nodes;
    const dist = new Float64Array(n).fill(Infinity);
    dist[source] = 0;
    for (let round = 0; round < n; round++) {
      let changed = false;
      for (let u = 0; u < n; u++) {
        if (dist[u] === Infinity) continue;
        for (let e = this.head[u] as number; e !== -1; e = this.next[e] as number) {
          if ((this.cap[e] as number) <= 0) continue;
          const v = this.to[e] as number;
          const nd = (dist[u] as number) + (this.cost[e] as number);
          if (nd < (dist[v] as number)) {
            dist[v] = nd;
            changed = true;
          }
        }
      }
      if (!changed) break;
      if (round === n - 1) throw new Error('the network has a negative-cost cycle');
    }
    for (let v = 0; v < n; v++) if (dist[v] === Infinity) dist[v] = 0;
    return dist;
  }
}

/** A binary min-heap of (key, node). */
class MinHeap {
  private readonly keys: number[] = [];
  private readonly values: number[] = [];

  get size(): number {
    return this.keys.length;
  }

  push(key: number, value: number): void {
    const { keys, values } = this;
    keys.push(key);
    values.push(value);
    let i = keys.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if ((keys[p] as number) <= key) break;
      keys[i] = keys[p] as number;
      values[i] = values[p] as number;
      i = p;
    }
    keys[i] = key;
    values[i] = value;
  }

  pop(): [number, number] {
    const { keys, values } = this;
    const top: [number, number] = [keys[0] as number, values[0] as number];
    const lastKey = keys.pop() as number;
    const lastValue = values.pop() as number;
    if (keys.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= keys.length) break;
        const r = l + 1;
        const c = r < keys.length && (keys[r] as number) < (keys[l] as number) ? r : l;
        if ((keys[c] as number) >= lastKey) break;
        keys[i] = keys[c] as number;
        values[i] = values[c] as number;
        i = c;
      }
      keys[i] = lastKey;
      values[i] = lastValue;
    }
    return top;
  }
}
