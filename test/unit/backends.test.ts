// Backend choice: auto takes simd → wasm → js, and forcing one that is missing says why.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { availableBackends, RMSProp } from '../../src/index.js';

afterEach(() => {
  vi.unstubAllGlobals();
  vi.restoreAllMocks();
});

describe('backend selection', () => {
  it('auto picks simd on Node 20', async () => {
    expect(availableBackends()).toEqual(['simd', 'wasm', 'js']);
    expect((await RMSProp.create({ w: 4 })).backend).toBe('simd');
  });

  it('auto falls back to scalar wasm when the SIMD binary does not validate', async () => {
    vi.spyOn(WebAssembly, 'validate').mockReturnValue(false);
    expect((await RMSProp.create({ w: 4 })).backend).toBe('wasm');
    await expect(RMSProp.create({ w: 4 }, { backend: 'simd' })).rejects.toThrow(/'simd' is not available.*SIMD/);
  });

  it('auto falls back to js without WebAssembly, and forcing wasm says why', async () => {
    vi.stubGlobal('WebAssembly', undefined);
    const opt = await RMSProp.create({ w: new Float32Array([1]) });
    expect(opt.backend).toBe('js');
    opt.step({ w: new Float32Array([1]) });
    expect(opt.params.w[0]).toBeLessThan(1);
    await expect(RMSProp.create({ w: 4 }, { backend: 'wasm' })).rejects.toThrow(
      /'wasm' is not available.*no WebAssembly/,
    );
    await expect(RMSProp.create({ w: 4 }, { backend: 'simd' })).rejects.toThrow(/no WebAssembly/);
  });

  it('each optimizer gets its own memory', async () => {
    const a = await RMSProp.create({ w: 4 }, { backend: 'simd' });
    const b = await RMSProp.create({ w: 4 }, { backend: 'simd' });
    expect(a.params.w.buffer).not.toBe(b.params.w.buffer);
  });
});
