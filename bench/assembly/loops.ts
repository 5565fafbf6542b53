// Loops for the benchmark (AssemblyScript, compiled at bench time by compile.mjs).

// The streaming limit: moves exactly
// the bytes of a plain RMSProp step (reads w, g, s; writes w, s) with one add per vector, so its
// rate is what the memory system allows a single thread. Not a memory.copy: that reaches only
// about a third of the streaming rate at large sizes here.
export function stream(n: usize, w: usize, g: usize, s: usize): void {
  const end = n << 2;
  for (let i: usize = 0; i < end; i += 32) {
    const g0 = v128.load(g + i);
    const g1 = v128.load(g + i, 16);
    v128.store(w + i, f32x4.add(v128.load(w + i), g0));
    v128.store(w + i, f32x4.add(v128.load(w + i, 16), g1), 16);
    v128.store(s + i, f32x4.add(v128.load(s + i), g0));
    v128.store(s + i, f32x4.add(v128.load(s + i, 16), g1), 16);
  }
}

// A diagnostic, not a limit: the seed update alone (no option dispatch, clipping or flushing), the
// same operations as bench/native/rmsprop.c, to separate the cost of V8's SIMD code from the cost
// of the library kernel's generality.
export function seedOnly(
  n: usize,
  w: usize,
  g: usize,
  s: usize,
  lr: f32,
  decay: f32,
  oneMinusDecay: f32,
  eps: f32,
): void {
  const vLr = f32x4.splat(lr);
  const vDecay = f32x4.splat(decay);
  const vOneMinusDecay = f32x4.splat(oneMinusDecay);
  const vEps = f32x4.splat(eps);
  const end = n << 2;
  for (let i: usize = 0; i < end; i += 16) {
    const gv = v128.load(g + i);
    const sv = f32x4.add(f32x4.mul(vDecay, v128.load(s + i)), f32x4.mul(vOneMinusDecay, f32x4.mul(gv, gv)));
    v128.store(s + i, sv);
    v128.store(w + i, f32x4.sub(v128.load(w + i), f32x4.div(f32x4.mul(vLr, gv), f32x4.sqrt(f32x4.add(sv, vEps)))));
  }
}

// A diagnostic: the operations of the library's default loop (assembly/index.ts, seed options) with
// its constants in registers: flush S below the smallest normal, ε outside the root, lr applied after
// the division. Between seedOnly and the library's loop, it tells operations from constant reloads.
export function seedLibraryOps(
  n: usize,
  w: usize,
  g: usize,
  s: usize,
  lr: f32,
  decay: f32,
  oneMinusDecay: f32,
  eps: f32,
): void {
  const vLr = f32x4.splat(lr);
  const vDecay = f32x4.splat(decay);
  const vOneMinusDecay = f32x4.splat(oneMinusDecay);
  const vEps = f32x4.splat(eps);
  const vEpsOutside = f32x4.splat(0);
  const vMinNormal = f32x4.splat(1.17549435e-38);
  const end = n << 2;
  for (let i: usize = 0; i < end; i += 16) {
    const gv = v128.load(g + i);
    const raw = f32x4.add(f32x4.mul(vDecay, v128.load(s + i)), f32x4.mul(vOneMinusDecay, f32x4.mul(gv, gv)));
    const sv = v128.andnot(raw, f32x4.lt(raw, vMinNormal));
    v128.store(s + i, sv);
    const u = f32x4.div(gv, f32x4.add(f32x4.sqrt(f32x4.add(sv, vEps)), vEpsOutside));
    v128.store(w + i, f32x4.sub(v128.load(w + i), f32x4.mul(vLr, u)));
  }
}
