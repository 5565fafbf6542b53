// Writes src/generated/js-kernels.ts: the js backend's update, one loop per kernel mode, each with
// its options resolved, so that the loop tests no option per element (V8 does not hoist those tests
// out of a loop, and a loop with every option in it is the one it optimises worst). The modes and
// constant slots come from the ABI table (scripts/abi.ts); the formulas are written once, below, in
// the order of assembly/update.ts. Run by `npm run build`;
// test/unit/kernel.test.ts fails when the committed file is stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CONSTANT_SLOTS, modes, SLOT_FLOATS, STATE_BLOCK, type Variant } from './abi.js';

export const GENERATED_JS_KERNELS = fileURLToPath(new URL('../src/generated/js-kernels.ts', import.meta.url));

/**
 * How a loop body reads and writes the state: `float32` arrays; `half` (bfloat16 codes); the first
 * pass over an 8-bit block (`first`: the new state's largest magnitudes, nothing written) or its second
 * (`second`: codes and w written), as in assembly/quantized.ts.
 */
type Pass = 'float32' | 'half' | 'first' | 'second';

const STATE_CODE: Record<'s' | 'a' | 'm', { decode: string; encode: string; max: string }> = {
  s: { decode: 'decodeS', encode: 'encodeS', max: 'maxS' },
  a: { decode: 'decodeM', encode: 'encodeM', max: 'maxA' },
  m: { decode: 'decodeM', encode: 'encodeM', max: 'maxM' },
};
const previous = (pass: Pass, x: 's' | 'a' | 'm') =>
  pass === 'float32'
    ? `${x}[i]`
    : pass === 'half'
      ? `decodeHalf(${x}[i])`
      : `${STATE_CODE[x].decode}(${x}[i], ${x}Old)`;
const stored = (pass: Pass, x: 's' | 'a' | 'm', value: string) =>
  pass === 'float32'
    ? `${x}[i] = ${value};`
    : pass === 'half'
      ? `${x}[i] = encodeHalf(${value}, mix((${x}p + 2 * i) ^ key));`
      : pass === 'first'
        ? `${STATE_CODE[x].max} = Math.max(${STATE_CODE[x].max}, magnitudeBits(${value}));`
        : `${x}[i] = ${STATE_CODE[x].encode}(${value}, ${x}Field, mix((${x}p + i) ^ key));`;

/** The update of element i: the lines of `v`'s loop body. */
function update(v: Variant, pass: Pass = 'float32'): string[] {
  const lines: string[] = [];
  const when = (condition: boolean, ...code: string[]) => {
    if (condition) lines.push(...code);
  };
  const first = pass === 'first';
  // the first pass writes no w: it reads w only for coupled weight decay
  when(!first || v.weightDecay === 'coupled', 'let wi = w[i];');
  when(true, 'let gi = g[i];');
  when(v.transformed, 'gi = f(clamp(gi, minusClipValue, clipValue) * gradScale);');
  when(v.weightDecay === 'coupled', 'gi = f(gi + f(weightDecay * wi));');
  when(v.weightDecay === 'decoupled' && !first, 'wi = f(wi - f(weightDecay * wi));');
  when(
    true,
    `const si = flushSquare(f(f(decay * ${previous(pass, 's')}) + f(oneMinusDecay * f(gi * gi))));`,
    stored(pass, 's', 'si'),
  );
  // the first pass without momentum needs no step: only S and ḡ have scales
  const noStep = first && v.momentum === 'none';
  when(!noStep, `let variance = ${v.transformed ? 'f(si * biasScale)' : 'si'};`);
  when(
    v.centered,
    `const ai = flush(f(f(decay * ${previous(pass, 'a')}) + f(oneMinusDecay * gi)));`,
    stored(pass, 'a', 'ai'),
  );
  when(
    v.centered && !noStep,
    `const meanGrad = ${v.transformed ? 'f(ai * biasScale)' : 'ai'};`,
    // = pmax(difference, 0), as in the kernels: the difference is never −0
    'variance = Math.max(f(variance - f(meanGrad * meanGrad)), 0);',
  );
  if (noStep) return lines;
  when(
    true,
    `const u = f(gi / ${v.epsOutside ? 'f(f(Math.sqrt(variance)) + epsOutsideSqrt)' : 'f(Math.sqrt(f(variance + epsInSqrt)))'});`,
  );
  when(v.momentum === 'none', 'wi = f(wi - f(stepScale * u));');
  when(
    v.momentum !== 'none',
    'const increment = f(incrementScale * u);',
    `const mi = flush(f(f(momentum * ${previous(pass, 'm')}) + increment));`,
    stored(pass, 'm', 'mi'),
  );
  if (pass === 'first') return lines;
  when(
    v.momentum !== 'none',
    `wi = f(wi - f(stepScale * ${v.momentum === 'nesterov' ? 'f(f(momentum * mi) + increment)' : 'mi'}));`,
  );
  when(true, 'w[i] = wi;');
  return lines;
}

const HELPERS = ['clamp', 'f', 'flush', 'flushSquare'];
const CODECS = [
  'decodeHalf',
  'encodeHalf',
  'decodeS',
  'encodeS',
  'decodeM',
  'encodeM',
  'magnitudeBits',
  'mix',
  'scaleField',
  'scaleOf',
  'bitsOf',
];
const uses = (code: string, name: string) => new RegExp(`\\b${name}\\b`).test(code);

// The average (a) and momentum (m) arrays are parameters of every mode; a mode that does not read one names it `_a`/`_m`.
const unusedIfAbsent = (code: string, name: 'a' | 'm') => (new RegExp(`\\b${name}\\[`).test(code) ? name : `_${name}`);

function kernel(mode: number, v: Variant): string {
  const loops =
    v.stateFormat === '8bit' ? blockLoops(v) : loop(update(v, v.stateFormat === 'bfloat16' ? 'half' : 'float32'));
  const code = loops.join('\n');
  const constants = CONSTANT_SLOTS.filter((name) => name !== 'roundingKey' && uses(code, name));
  const flags = [
    v.centered && 'centered',
    v.momentum !== 'none' && `${v.momentum} momentum`,
    v.weightDecay !== 'none' && `${v.weightDecay} weight decay`,
    v.transformed && 'transformed',
    v.epsOutside && 'ε outside the root',
    v.stateFormat !== 'float32' && `${v.stateFormat} state`,
  ].filter(Boolean);
  const quantized = v.stateFormat !== 'float32';
  const name = (x: 'a' | 'm') => unusedIfAbsent(code, x);
  const params = [
    'n',
    'w',
    'g',
    's',
    name('a'),
    name('m'),
    'k',
    ...(quantized ? ['s', name('a'), name('m')].map((x) => `${x}p`) : []),
    ...(v.stateFormat === '8bit' ? ['sq', `${name('a')}q`, `${name('m')}q`] : []),
  ];
  return [
    `/** Mode ${mode}: ${flags.length ? flags.join(', ') : 'the seed step'}. */`,
    `const step${mode}: JsStep = (${params.join(', ')}) => {`,
    `  const ${constants.map((name) => `${name} = k[${CONSTANT_SLOTS.indexOf(name) * SLOT_FLOATS}]`).join(', ')};`,
    ...(quantized ? [`  const key = bitsOf(k[${CONSTANT_SLOTS.indexOf('roundingKey') * SLOT_FLOATS}]);`] : []),
    ...loops.map((line) => `  ${line}`),
    '};',
  ].join('\n');
}

function loop(body: string[], from = '0', to = 'n'): string[] {
  return [`for (let i = ${from}; i < ${to}; i++) {`, ...body.map((line) => `  ${line}`), '}'];
}

/** An 8-bit mode: per block, the pass that finds the new scales, then the pass that writes. */
function blockLoops(v: Variant): string[] {
  const arrays = ['s', ...(v.centered ? ['a'] : []), ...(v.momentum !== 'none' ? ['m'] : [])] as Array<'s' | 'a' | 'm'>;
  const shift = (x: string) => (x === 's' ? 20 : 19);
  return [
    `for (let start = 0; start < n; start += ${STATE_BLOCK}) {`,
    `  const end = Math.min(start + ${STATE_BLOCK}, n);`,
    `  const block = start / ${STATE_BLOCK};`,
    ...arrays.map((x) => `  const ${x}Old = ${x}q[block];`),
    `  let ${arrays.map((x) => `${STATE_CODE[x].max} = 0`).join(', ')};`,
    ...loop(update(v, 'first'), 'start', 'end').map((line) => `  ${line}`),
    ...arrays.map((x) => `  const ${x}Field = scaleField(${STATE_CODE[x].max}, ${shift(x)});`),
    ...loop(update(v, 'second'), 'start', 'end').map((line) => `  ${line}`),
    ...arrays.map((x) => `  ${x}q[block] = scaleOf(${x}Field);`),
    '}',
  ];
}

export function jsKernelsModule(): string {
  const all = modes();
  const sources = all.map(([mode, v]) => kernel(mode, v));
  const helpers = HELPERS.filter((name) => sources.some((source) => uses(source, name)));
  const codecs = CODECS.filter((name) => sources.some((source) => uses(source, name)));
  return [
    '// Generated by scripts/build-js-kernels.ts — do not edit; run `npm run build`.',
    "// The js backend's update, one loop per kernel mode (src/kernel.ts), every operation rounded to float32.",
    "import * as float32 from '../float32.js';",
    "import * as codecs from '../state-codecs.js';",
    '',
    '// Copies in this module: a test runner or bundler that reaches imports through getters (vitest,',
    '// webpack in development) would otherwise run a getter per operation.',
    `const { ${helpers.join(', ')} } = float32;`,
    `const { ${codecs.join(', ')} } = codecs;`,
    '',
    '/** @internal A state array: float32 values, bfloat16 codes or 8-bit codes, as the mode says. */',
    'export type StateView = Float32Array | Uint16Array | Uint8Array;',
    '/**',
    " * @internal Updates n elements: w, g, s, a, m are the arrays, k the step's constants (src/kernel.ts);",
    " * with compressed state, sp, ap, mp are the state arrays' byte addresses (stochastic rounding) and",
    " * sq, aq, mq the 8-bit blocks' scales.",
    ' */',
    'export type JsStep = (n: number, w: Float32Array, g: Float32Array, s: StateView, a: StateView, m: StateView, k: Float32Array, sp: number, ap: number, mp: number, sq: Float32Array, aq: Float32Array, mq: Float32Array) => void;',
    '',
    ...sources.flatMap((source) => [source, '']),
    '/** @internal The loop of each mode. */',
    `export const JS_STEPS: Readonly<Record<number, JsStep>> = { ${all.map(([mode]) => `${mode}: step${mode}`).join(', ')} };`,
    '',
  ].join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(GENERATED_JS_KERNELS, jsKernelsModule());
  console.log(`wrote ${GENERATED_JS_KERNELS} (${modes().length} kernels)`);
}
