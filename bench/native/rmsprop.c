// The seed RMSProp step in plain float32 C, the native reference for the benchmark (bench/native.ts
// builds it with -O3 -msse4.2 and with -O3 -march=native). Usage: rmsprop N MIN_MS
// Prints the nanoseconds of one step over N elements: the median of batches that each last about
// MIN_MS / 5 after a warm-up, so one call is one interleaved sample.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

// The formula of the `seed` preset: S = decay S + (1 - decay) g²; w -= lr g / sqrt(S + eps).
static void step(size_t n, float *restrict w, const float *restrict g, float *restrict s,
                 float lr, float decay, float oneMinusDecay, float eps) {
  for (size_t i = 0; i < n; i++) {
    float si = decay * s[i] + oneMinusDecay * (g[i] * g[i]);
    s[i] = si;
    w[i] -= lr * g[i] / sqrtf(si + eps);
  }
}

static double nowNs(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

static int byValue(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s N MIN_MS\n", argv[0]);
    return 2;
  }
  size_t n = strtoull(argv[1], NULL, 10);
  double minNs = atof(argv[2]) * 1e6;
  size_t bytes = ((n * sizeof(float)) + 63) & ~(size_t)63;
  float *w = aligned_alloc(64, bytes), *g = aligned_alloc(64, bytes), *s = aligned_alloc(64, bytes);
  if (!w || !g || !s) return 1;
  for (size_t i = 0; i < n; i++) {
    w[i] = 0.5f;
    g[i] = (float)(sin((double)i) * 1e-2);
    s[i] = 0.0f;
  }
  // Constants rounded once from double, as the library's JS side does.
  const float lr = 1e-3f, decay = 0.9f, oneMinusDecay = (float)(1.0 - 0.9), eps = 1e-8f;

  // Warm-up (page faults, caches, clocks), and how many steps make one batch.
  double start = nowNs();
  size_t warm = 0;
  do {
    step(n, w, g, s, lr, decay, oneMinusDecay, eps);
    warm++;
  } while (nowNs() - start < minNs / 5 || warm < 2);
  size_t reps = (size_t)((minNs / 5) / ((nowNs() - start) / warm)) + 1;

  double samples[5];
  for (int k = 0; k < 5; k++) {
    double t0 = nowNs();
    for (size_t r = 0; r < reps; r++) step(n, w, g, s, lr, decay, oneMinusDecay, eps);
    samples[k] = (nowNs() - t0) / reps;
  }
  qsort(samples, 5, sizeof(double), byValue);
  // w[0] is printed to stderr so that the compiler must keep every step.
  fprintf(stderr, "%g\n", w[n / 2]);
  printf("%.3f\n", samples[2]);
  return 0;
}
