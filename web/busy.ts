// The benchmark page's busy case: a Web Worker burns one core (as another tab, or TF.js' forward
// pass in a worker, would) while the zero-copy simd step runs on 1 thread, 2 threads and
// threads: 'auto', interleaved round by round (medians). 'auto' is stepped first, under the burner,
// until its timing has settled on a choice.
import type { RMSPropClass } from '../bench/steps.js';

export interface BusyRow {
  elements: number;
  /** Median ns per element by threads option ('1', '2', 'auto'). */
  ns: Record<string, number>;
}

const OPTIONS = [1, 2, 'auto'] as const;

function startBurner(): Worker {
  const url = URL.createObjectURL(new Blob(['for (;;) {}'], { type: 'text/javascript' }));
  return new Worker(url);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** `onProgress` runs between samples (the page repaints its progress there). */
export async function busyCase(
  lib: RMSPropClass,
  sizes: readonly number[],
  quick: boolean,
  onProgress: (text: string) => Promise<unknown>,
): Promise<BusyRow[]> {
  const rounds = quick ? 3 : 9;
  const sampleMs = quick ? 10 : 40;
  const settleMs = quick ? 500 : 2500;
  const burner = startBurner();
  const rows: BusyRow[] = [];
  try {
    for (const n of sizes) {
      await onProgress(`Busy machine (a Web Worker burning one core): setting up ${n} elements…`);
      const opts = [];
      for (const threads of OPTIONS) {
        const opt = await lib.create({ w: n }, { backend: 'simd', threads });
        opt.params.w.fill(0.5);
        opt.grads.w.forEach((_, i, g) => (g[i] = Math.sin(i) * 1e-2));
        const until = performance.now() + (threads === 'auto' ? settleMs : 50);
        while (performance.now() < until) opt.step();
        opts.push(opt);
      }
      const samples = opts.map((): number[] => []);
      for (let round = 0; round < rounds; round++) {
        for (let j = 0; j < opts.length; j++) {
          const i = (j + round) % opts.length;
          const start = performance.now();
          let steps = 0;
          while (performance.now() - start < sampleMs) {
            opts[i].step();
            steps++;
          }
          samples[i].push(((performance.now() - start) * 1e6) / steps / n);
        }
        await onProgress(`Busy machine: ${n} elements, round ${round + 1} of ${rounds}`);
      }
      for (const opt of opts) opt.dispose();
      rows.push({ elements: n, ns: Object.fromEntries(OPTIONS.map((t, i) => [String(t), median(samples[i])])) });
    }
  } finally {
    burner.terminate();
  }
  return rows;
}

/** A table of the busy case after `anchor`. */
export function renderBusy(rows: readonly BusyRow[], anchor: HTMLElement): void {
  document.getElementById('busy')?.remove();
  const wrap = document.createElement('div');
  wrap.id = 'busy';
  wrap.className = 'table-wrap';
  const table = document.createElement('table');
  const caption = table.createCaption();
  caption.textContent = 'Busy machine: a Web Worker burns one core (ns per element; ratios: speed against 1 thread)';
  const head = ['elements', '1 thread', '2 threads', "'auto'", '2 threads vs 1', "'auto' vs 1"];
  table
    .createTHead()
    .insertRow()
    .append(...head.map((h) => Object.assign(document.createElement('th'), { textContent: h })));
  const body = table.createTBody();
  for (const { elements, ns } of rows) {
    const cells = [
      String(elements),
      ns['1'].toFixed(3),
      ns['2'].toFixed(3),
      ns.auto.toFixed(3),
      `${(ns['1'] / ns['2']).toFixed(2)}×`,
      `${(ns['1'] / ns.auto).toFixed(2)}×`,
    ];
    body.insertRow().append(...cells.map((c) => Object.assign(document.createElement('td'), { textContent: c })));
  }
  wrap.append(table);
  anchor.after(wrap);
}
