// The kernel ABI, defined once: the fields of `mode`, the slots of the step's constants and the
// reduction block. scripts/build-abi.ts generates from it the constants of both languages
// (src/generated/abi.ts, assembly/generated/abi.ts) and the wasm dispatch over every mode
// (assembly/generated/dispatch.ts); scripts/build-js-kernels.ts writes one js loop per mode.

/**
 * The fields of `mode`, lowest bits first; each selects which operations the update runs. A field
 * of two values is one bit (NAME); a longer one is NAME_SHIFT and NAME_MASK (its bits, shifted
 * down), with a value NAME_VALUE per choice.
 */
export const MODE_FIELDS = [
  { name: 'centered', values: [false, true], doc: 'Subtract the squared mean gradient from the variance.' },
  { name: 'momentum', values: ['none', 'heavy ball', 'nesterov'], doc: 'The momentum buffer, if any.' },
  {
    name: 'weightDecay',
    values: ['none', 'coupled', 'decoupled'],
    doc: 'Weight decay added to g (coupled) or applied to w (decoupled).',
  },
  {
    name: 'transformed',
    values: [false, true],
    doc: 'Clamp/scale the gradient and bias-correct the averages; off only where those are exact identities, so it changes speed, never results.',
  },
  { name: 'epsOutside', values: [false, true], doc: 'ε outside the root: √var + ε (else √(var + ε)).' },
  {
    name: 'stateFormat',
    values: ['float32', 'bfloat16', '8bit'],
    doc: 'How S, ḡ and m are stored: float32; bfloat16 (stochastic rounding); 8 bits per element in blocks of STATE_BLOCK with a float32 power-of-two scale per block (S unsigned E5M3, m signed E3M4, ḡ bfloat16; stochastic rounding).',
  },
] as const;

/** Slots of the constants block at `k`, in order: slot i holds one float32 four times (one per SIMD lane) at k + 16·i. */
export const CONSTANT_SLOTS = [
  'gradScale',
  'clipValue',
  'minusClipValue',
  'weightDecay',
  'decay',
  'oneMinusDecay',
  'biasScale',
  'epsInSqrt',
  'epsOutsideSqrt',
  'momentum',
  'incrementScale',
  'stepScale',
  'minNormal',
  'zero',
  // the keys of S's, ḡ's and m's stochastic rounding (u32 bits): a code's random bits are a hash of its
  // byte address plus its array's key plus its block's (src/tensors.ts: they cancel the address out)
  'squareAvgKey',
  'gradAvgKey',
  'momentumKey',
  // bytes from a call's `sq` (its first block's square scale; 0 + its block index · 4 with bfloat16) to its first block's key
  'blockKeysOffset',
  'signBit',
  // 1: the compressed-state loops load ahead (wasm has no prefetch), 0: they do not; no bit depends on it
  'loadAhead',
  // the parameters' moving average (the ema option): e = averageMomentum·e + averageOneMinus·w
  'averageMomentum',
  'averageOneMinus',
] as const;

/** Floats per constant slot: one per lane of an f32x4. */
export const SLOT_FLOATS = 4;
/** Slots of a constants block: every one is in use (build-abi.ts refuses more slots than this). */
export const RESERVED_SLOTS = 22;
/** Elements per block of a gradient reduction (sumSquares). */
export const REDUCTION_BLOCK = 1024;
/**
 * Elements per block of 8-bit state (one float32 scale per block and state array): a call starts at
 * a block boundary, so thread chunks are whole blocks. bench/state-formats.ts measured 256 to 4096
 * alike on accuracy; 1024 is the reduction block too.
 */
export const STATE_BLOCK = 1024;
/**
 * Bytes of scratch memory a kernel call with compressed state needs of its own (one per thread): a
 * block's S, ḡ and m as float32 (assembly/quantized.ts says why), then one slot through which its
 * lane loops load their integer constants (assembly/rounding.ts, `held`).
 */
export const STATE_SCRATCH_BYTES = 3 * 4 * STATE_BLOCK + 16;

/**
 * The 8-bit codes: small floats times their block's power-of-two scale, S unsigned E5M3 (code 0 is
 * 0), m sign + E3M4 (ḡ stays bfloat16: src/layout.ts' arrayFormat). `shift`: the float32 bits below a code's mantissa; `top`: the code's
 * exponent field in the block's top binade.
 */
export const CODES = { S: { shift: 20, top: 31 }, M: { shift: 19, top: 7 } } as const;
/** An element's random bits for stochastic rounding are (address + keys) times this odd constant, the golden ratio's. */
export const GOLDEN = 0x9e3779b1;

type Field = (typeof MODE_FIELDS)[number];
/** One mode's choices, by field name. */
export type Variant = { -readonly [F in Field as F['name']]: F['values'][number] };

/**
 * The compressed-state modes whose simd builds run `update` itself over their codes instead of
 * assembly/quantized.ts's passes over a scratch (decode, float32 step, encode): bfloat16 in one loop
 * per call; 8 bits in one loop per block that decodes S, steps and finds S's largest value, then the
 * encoding pass. Each is a loop of its own in the wasm, so only the seed preset's family (no
 * centering, momentum or weight decay): BENCHMARKS.md ("The kernel's speed with compressed state")
 * has what it gains and what the others cost.
 */
export function fusedLoop(variant: Variant): boolean {
  return (
    variant.stateFormat !== 'float32' &&
    !variant.centered &&
    variant.momentum === 'none' &&
    variant.weightDecay === 'none'
  );
}

const snake = (name: string) =>
  name
    .replace(/([a-z])([A-Z])/g, '$1_$2')
    .replace(/ /g, '_')
    .toUpperCase();
const bitsOf = (field: Field) => Math.ceil(Math.log2(field.values.length));

/** Each field's lowest bit in `mode`. */
export function fieldShifts(): number[] {
  let shift = 0;
  return MODE_FIELDS.map((field) => (shift += bitsOf(field)) - bitsOf(field));
}

/** The named constants of `mode`, with a comment for each field: [name, value, comment?]. */
export function modeConstants(): Array<[string, number, string?]> {
  const shifts = fieldShifts();
  return MODE_FIELDS.flatMap((field, i): Array<[string, number, string?]> => {
    const name = snake(field.name);
    if (field.values.length === 2) return [[name, 1 << shifts[i], field.doc]];
    return [
      [`${name}_SHIFT`, shifts[i], `${field.doc} ${field.values.map((v, j) => `${j} ${v}`).join(', ')}.`],
      [`${name}_MASK`, (1 << bitsOf(field)) - 1],
      ...field.values.map((value, j): [string, number] => [`${name}_${snake(String(value))}`, j]),
    ];
  });
}

/** Every mode and its variant, in increasing order of mode. */
export function modes(): Array<[number, Variant]> {
  const shifts = fieldShifts();
  let all: Array<[number, Record<string, unknown>]> = [[0, {}]];
  MODE_FIELDS.forEach((field, i) => {
    all = all.flatMap(([mode, variant]) =>
      field.values.map((value, j): [number, Record<string, unknown>] => [
        mode | (j << shifts[i]),
        { ...variant, [field.name]: value },
      ]),
    );
  });
  return (all as Array<[number, Variant]>).sort((x, y) => x[0] - y[0]);
}
