/* Level-1 helpers with two independent SIMD accumulators. */
#include "common.h"

double dot(int n, const double *x, const double *y) {
  f2 s0 = wasm_f64x2_splat(0.0), s1 = s0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 = MADD(s0, wasm_v128_load(x + i), wasm_v128_load(y + i));
    s1 = MADD(s1, wasm_v128_load(x + i + 2), wasm_v128_load(y + i + 2));
  }
  s0 = wasm_f64x2_add(s0, s1);
  double s = wasm_f64x2_extract_lane(s0, 0) + wasm_f64x2_extract_lane(s0, 1);
  for (; i < n; i++) s += x[i] * y[i];
  return s;
}

void axpy(int n, double a, const double *x, double *y) {
  f2 av = wasm_f64x2_splat(a);
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    wasm_v128_store(y + i, MADD(wasm_v128_load(y + i), av, wasm_v128_load(x + i)));
    wasm_v128_store(y + i + 2, MADD(wasm_v128_load(y + i + 2), av, wasm_v128_load(x + i + 2)));
  }
  for (; i < n; i++) y[i] += a * x[i];
}

void scal(int n, double a, double *x) {
  for (int i = 0; i < n; i++) x[i] *= a;
}

/* Overflow/underflow-safe 2-norm (scaled sum of squares). */
double nrm2_strided(int n, const double *x, int inc) {
  double scale = 0.0, ssq = 1.0;
  for (int i = 0; i < n; i++) {
    double v = x[(size_t)i * inc];
    if (v != 0.0) {
      double a = nrc_fabs(v);
      if (scale < a) {
        double r = scale / a;
        ssq = 1.0 + ssq * r * r;
        scale = a;
      } else {
        double r = a / scale;
        ssq += r * r;
      }
    }
  }
  return scale * nrc_sqrt(ssq);
}

double nrm2(int n, const double *x) {
  /* Fast path: plain sum of squares when it cannot overflow or underflow harmfully. */
  double mx = 0.0;
  for (int i = 0; i < n; i++) {
    double a = nrc_fabs(x[i]);
    if (a > mx) mx = a;
  }
  if (mx == 0.0) return 0.0;
  if (mx < 1e150 && mx > 1e-150) return nrc_sqrt(dot(n, x, x));
  return nrm2_strided(n, x, 1);
}

/* Rows x, y (length len): x' = c x − s y, y' = s x + c y. */
void rot_rows(int len, double *x, double *y, double c, double s) {
  f2 cv = wasm_f64x2_splat(c), sv = wasm_f64x2_splat(s);
  int j = 0;
  for (; j + 2 <= len; j += 2) {
    f2 xv = wasm_v128_load(x + j), yv = wasm_v128_load(y + j);
    wasm_v128_store(x + j, wasm_f64x2_sub(wasm_f64x2_mul(cv, xv), wasm_f64x2_mul(sv, yv)));
    wasm_v128_store(y + j, MADD(wasm_f64x2_mul(sv, xv), cv, yv));
  }
  for (; j < len; j++) {
    double xv = x[j], yv = y[j];
    x[j] = c * xv - s * yv;
    y[j] = s * xv + c * yv;
  }
}

/* Householder parameters for a vector (α, x₂…) with σ = ‖x₂…‖ > 0: β = −sign(α)·hypot(α, σ),
 * returns τ = (β − α)/β and sets *scale = 1/(α − β) (v = x·scale below the leading 1). */
double house_params(double alpha, double sigma, double *beta, double *scale) {
  double a = nrc_fabs(alpha);
  double mx = a > sigma ? a : sigma, mn = a > sigma ? sigma : a;
  double r = mn / mx;
  double norm = mx * nrc_sqrt(1.0 + r * r);
  double b = alpha >= 0 ? -norm : norm;
  *beta = b;
  *scale = 1.0 / (alpha - b);
  return (b - alpha) / b;
}

/* Copies the lower triangle of the n×n row-major A onto the upper; returns max |a_ij|. */
double sym_from_lower(double *A, int n) {
  double amax = 0.0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j <= i; j++) {
      double v = A[(size_t)i * n + j];
      A[(size_t)j * n + i] = v;
      if (nrc_fabs(v) > amax) amax = nrc_fabs(v);
    }
  return amax;
}

/* Scales x (len) by the power of two that brings amax = max|x| into [1, 2) (exact); returns the
 * inverse factor, to scale results back. amax must be > 0. */
double pow2_normalize(double *x, size_t len, double amax) {
  double scale = 1.0, unscale = 1.0;
  while (amax * scale >= 2.0) scale *= 0.5, unscale *= 2.0;
  while (amax * scale < 1.0) scale *= 2.0, unscale *= 0.5;
  if (scale != 1.0)
    for (size_t i = 0; i < len; i++) x[i] *= scale;
  return unscale;
}

/* ‖x − Σ_{p<k} c_p·VT_p‖² (VT k×n row-major), the residual formed entry by entry and squared
 * (never ‖x‖² − ‖c‖²): a projected tail keeps its digits however small it is. */
double resid_sq(int n, int k, const double *x, const double *c, const double *VT) {
  const int n2 = n & ~1;
  f2 ss = wasm_f64x2_splat(0.0);
  for (int j = 0; j < n2; j += 2) {
    f2 r = wasm_v128_load(x + j);
    for (int p = 0; p < k; p++)
      r = wasm_f64x2_sub(r, wasm_f64x2_mul(wasm_f64x2_splat(c[p]),
                                           wasm_v128_load(VT + (size_t)p * n + j)));
    ss = MADD(ss, r, r);
  }
  double t = wasm_f64x2_extract_lane(ss, 0) + wasm_f64x2_extract_lane(ss, 1);
  if (n2 < n) {
    double r = x[n2];
    for (int p = 0; p < k; p++) r -= c[p] * VT[(size_t)p * n + n2];
    t += r * r;
  }
  return t;
}
