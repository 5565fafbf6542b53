// Time and peak memory to save and load a checkpoint of `n` elements (default 110 M, past where one
// base64 string outgrew V8), in each form: the JSON form (saveState/loadState, base64 pieces) and the
// binary form (saveState({ arrays: 'float32' }) → encodeState, decodeState → loadState). Each form
// runs in a fresh process of the built package (npx tsc -p . first) under /usr/bin/time -v, after
// one that only creates and fills the optimizer (the baseline).
// Usage: npx tsx bench/checkpoint.ts [elements]
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { environment } from './environment.js';

const n = Number(process.argv[2] ?? 110_000_000);
console.log(`Checkpoints of ${n} elements — ${environment()}`);
const entry = new URL('../dist/index.js', import.meta.url).href;
const program = (form: string) => `
  import { RMSProp, encodeState, decodeState } from '${entry}';
  const opt = await RMSProp.create({ w: ${n} });
  const squareAvg = opt.state.w.squareAvg;
  const bits = new Uint32Array(squareAvg.buffer, squareAvg.byteOffset, ${n});
  for (let i = 0; i < ${n}; i++) bits[i] = Math.imul(i, 2654435761) >>> 1;
  const mib = () => Math.round(process.resourceUsage().maxRSS / 1024);
  const out = { form: '${form}', filledMiB: mib() };
  if ('${form}' !== 'baseline') {
    let t = performance.now();
    const saved = '${form}' === 'json' ? opt.saveState() : encodeState(opt.saveState({ arrays: 'float32' }));
    Object.assign(out, { saveMs: Math.round(performance.now() - t), savedMiB: mib() });
    squareAvg.fill(0);
    t = performance.now();
    opt.loadState('${form}' === 'json' ? saved : decodeState(saved));
    Object.assign(out, { loadMs: Math.round(performance.now() - t), loadedMiB: mib() });
  }
  console.log(JSON.stringify(out));`;

const time = existsSync('/usr/bin/time');
for (const form of ['baseline', 'json', 'binary']) {
  const args = ['--input-type=module', '-e', program(form)];
  const { stdout, stderr } = spawnSync(
    time ? '/usr/bin/time' : process.execPath,
    time ? ['-v', process.execPath, ...args] : args,
    {
      cwd: fileURLToPath(new URL('..', import.meta.url)),
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    },
  );
  const totals = stderr.split('\n').filter((line) => /Elapsed|Maximum resident|User time|System time|Error/.test(line));
  console.log([stdout.trim(), ...totals.map((line) => line.trim())].join('\n  '));
}
