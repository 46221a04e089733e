//! A BERT encoder for inference on the CPU, tuned for small sentence-embedding models such as
//! all-MiniLM-L6-v2. It loads the same weights as candle-transformers' `BertModel` and computes
//! the same function, but arranges the work for throughput:
//!
//! - sequences are packed end to end without padding, so every dense layer works on real
//!   tokens only, in one matrix product over all tokens of the batch, `(tokens, in) x (in,
//!   out)` (candle's `Linear` on a padded 3-D batch broadcasts the weight and runs one small
//!   product per sequence, padding included);
//! - the matrix products are `gemm`'s (candle's own kernels, AVX-512 or AVX2 chosen at run
//!   time), accumulating into a buffer that already holds the bias and the residual, so a dense
//!   layer, its bias and the residual connection are one pass; the activations live in plain
//!   buffers, with no tensor copies between the steps;
//! - query, key and value are one fused product (`in x 3*in`);
//! - attention reads the fused projection in place: per (sequence, head), a head's keys are
//!   transposed once, so that a query's scores against every key are vector operations across
//!   the keys; then the masked softmax and the weighted sum; sequences spread over the thread
//!   pool;
//! - GELU (the exact, erf form) and the softmax's exponential use a vectorisable polynomial
//!   (max. error about 1e-7, far inside what the parity test allows);
//! - the vector loops are compiled for the best instructions the CPU has (AVX-512, AVX2 + FMA)
//!   and chosen at run time, with several independent accumulators, so that an AVX-512 CPU,
//!   whose one 16-lane register would otherwise hold a whole dot product's chain, is not bound
//!   by the latency of its fused multiply-adds.

use candle_core::{DType, Result, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;
use serde::Deserialize;

/// The parts of a BERT `config.json` this encoder reads.
#[derive(Clone, Debug, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_eps() -> f64 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

/// Up to this many tokens, a dense layer streams its weight rows once (memory-bound
/// matrix-vector style); above it, the packed matrix product (compute-bound).
const SMALL_BATCH_TOKENS: usize = 24;

fn values(t: &Tensor) -> Result<Vec<f32>> {
    t.to_dtype(DType::F32)?.flatten_all()?.to_vec1()
}

/// `dst (n, output) += x (n, input) · w (input, output)`, all row-major: `gemm`'s packed
/// kernels (AVX-512 or AVX2, chosen at run time), over the rayon pool.
#[allow(unsafe_code)]
fn matmul_acc(dst: &mut [f32], x: &[f32], w: &[f32], n: usize, input: usize, output: usize) {
    assert_eq!(dst.len(), n * output, "destination shape");
    assert_eq!(x.len(), n * input, "left operand shape");
    assert_eq!(w.len(), input * output, "right operand shape");
    if n == 0 || output == 0 {
        return;
    }
    let threads = rayon::current_num_threads();
    let parallelism = if threads > 1 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    };
    let (cols_in, cols_out) = (input as isize, output as isize);
    // SAFETY: the assertions above make each slice exactly the row-major matrix its strides
    // describe (column stride 1, row stride = its width), so every element gemm reads or writes
    // is inside its slice; `dst` is borrowed mutably, so it overlaps neither operand; gemm runs
    // to completion before returning, so no pointer outlives its borrow.
    unsafe {
        gemm::gemm(
            n,
            output,
            input,
            dst.as_mut_ptr(),
            1,
            cols_out,
            true,
            x.as_ptr(),
            1,
            cols_in,
            w.as_ptr(),
            1,
            cols_out,
            1.0f32,
            1.0f32,
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// A dense layer: `x W^T + b`.
#[derive(Debug)]
struct Dense {
    /// `(in, out)`, for the packed matrix product.
    weight_t: Vec<f32>,
    /// `(out, in)`, for few tokens: each output's weights in one row, streamed once for the
    /// whole query (the parity test covers this path).
    weight_rows: Vec<f32>,
    bias: Vec<f32>,
    input: usize,
    output: usize,
}

impl Dense {
    fn new(weight: &Tensor, bias: &Tensor) -> Result<Self> {
        let (output, input) = weight.dims2()?;
        let bias = values(bias)?;
        if bias.len() != output {
            candle_core::bail!("{} biases for {output} outputs", bias.len());
        }
        Ok(Self {
            weight_t: values(&weight.t()?.contiguous()?)?,
            weight_rows: values(weight)?,
            bias,
            input,
            output,
        })
    }

    fn load(vb: VarBuilder<'_>, input: usize, output: usize) -> Result<Self> {
        Self::new(
            &vb.get((output, input), "weight")?,
            &vb.get(output, "bias")?,
        )
    }

    /// `dst (n, out) = x (n, in) W^T + b`, plus what `dst` holds when `onto` is
    /// [`Onto::Residual`].
    fn forward_into(&self, x: &[f32], n: usize, dst: &mut [f32], onto: Onto) {
        match onto {
            Onto::Nothing => {
                for row in dst.chunks_exact_mut(self.output) {
                    row.copy_from_slice(&self.bias);
                }
            }
            Onto::Residual => simd(AddRows {
                rows: dst,
                row: &self.bias,
            }),
        }
        if n > SMALL_BATCH_TOKENS {
            matmul_acc(dst, x, &self.weight_t, n, self.input, self.output);
            return;
        }
        // Few tokens: each output feature is a dot product of a weight row with each token,
        // so the weight is read once, in order, and never packed.
        const BLOCK: usize = 64;
        let (input, output) = (self.input, self.output);
        let blocks: Vec<Vec<f32>> = (0..output.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let lo = b * BLOCK;
                let hi = (lo + BLOCK).min(output);
                let mut part = vec![0f32; (hi - lo) * n];
                simd(DenseRows {
                    weights: &self.weight_rows[lo * input..hi * input],
                    xs: x,
                    input,
                    out: &mut part,
                });
                part
            })
            .collect();
        // Transpose on the way out.
        for (b, part) in blocks.iter().enumerate() {
            let lo = b * BLOCK;
            for (k, v) in part.iter().enumerate() {
                let (o, t) = (lo + k / n, k % n);
                dst[t * output + o] += *v;
            }
        }
    }
}

/// What a dense layer's output is added to.
#[derive(Clone, Copy, Debug)]
enum Onto {
    /// Nothing: the destination's values are overwritten.
    Nothing,
    /// The residual connection, already in the destination.
    Residual,
}

/// `row` added to each row of `rows`.
struct AddRows<'a> {
    rows: &'a mut [f32],
    row: &'a [f32],
}

impl Kernel for AddRows<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: pulp::Simd, const F: bool>(self, _: S) {
        for r in self.rows.chunks_exact_mut(self.row.len()) {
            for (d, b) in r.iter_mut().zip(self.row) {
                *d += b;
            }
        }
    }
}

/// A layer norm's learned scale and shift.
#[derive(Debug)]
struct Norm {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl Norm {
    fn load(vb: VarBuilder<'_>, width: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            gamma: values(&vb.get(width, "weight")?)?,
            beta: values(&vb.get(width, "bias")?)?,
            eps: eps as f32,
        })
    }

    /// Normalises each row of `x` in place.
    fn apply(&self, x: &mut [f32]) {
        let width = self.gamma.len();
        // Rows in tasks of about 16k values: enough work per task to be worth a thread.
        let rows_per_task = (16 * 1024 / width).max(1);
        x.par_chunks_mut(width * rows_per_task).for_each(|rows| {
            simd(NormRows {
                rows,
                gamma: &self.gamma,
                beta: &self.beta,
                eps: self.eps,
            })
        });
    }
}

struct NormRows<'a> {
    rows: &'a mut [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

impl Kernel for NormRows<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: pulp::Simd, const F: bool>(self, _: S) {
        let width = self.gamma.len();
        for row in self.rows.chunks_exact_mut(width) {
            let mean = sum(row) / width as f32;
            let mut var = [0f32; 16];
            let (chunks, rest) = row.as_chunks::<16>();
            for c in chunks {
                for k in 0..16 {
                    let d = c[k] - mean;
                    var[k] = madd::<F>(d, d, var[k]);
                }
            }
            let mut v: f32 = var.iter().sum();
            for x in rest {
                v += (x - mean) * (x - mean);
            }
            let inv = 1.0 / (v / width as f32 + self.eps).sqrt();
            for ((x, g), b) in row.iter_mut().zip(self.gamma).zip(self.beta) {
                *x = (*x - mean) * inv * g + b;
            }
        }
    }
}

/// The sum of a slice, in 16 lanes.
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (chunks, rest) = x.as_chunks::<16>();
    for c in chunks {
        for k in 0..16 {
            acc[k] += c[k];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// Vector work for [`simd`]: `run` must be `#[inline(always)]`, so that it is compiled inside
/// the dispatcher's function with the wider instructions (a closure would be compiled apart,
/// without them). `F` says whether the CPU fuses multiply and add ([`madd`]).
trait Kernel {
    type Output;
    fn run<S: pulp::Simd, const F: bool>(self, simd: S) -> Self::Output;
}

struct Dispatch<K>(K, bool);

impl<K: Kernel> pulp::WithSimd for Dispatch<K> {
    type Output = K::Output;

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, simd: S) -> K::Output {
        if self.1 {
            self.0.run::<S, true>(simd)
        } else {
            self.0.run::<S, false>(simd)
        }
    }
}

/// Runs `op` compiled for the best vector instructions this CPU has (AVX-512, or AVX2 and FMA),
/// chosen at run time, so one binary is fast on new CPUs and correct on old ones.
#[inline(always)]
fn simd<K: Kernel>(op: K) -> K::Output {
    pulp::Arch::new().dispatch(Dispatch(op, fused()))
}

/// Whether this CPU has fused multiply-add (every x86 CPU with AVX2 since 2013, and every
/// 64-bit ARM): then [`madd`] is one instruction. Elsewhere `mul_add` would be a slow library
/// call, so a separate multiply and add are used.
fn fused() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(target_arch = "aarch64")]
    {
        true
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        false
    }
}

/// `a * b + c`: one fused instruction when `F` (Rust never fuses a separate multiply and add by
/// itself, and a chain of separate ones is twice the instructions and the latency).
#[inline(always)]
fn madd<const F: bool>(a: f32, b: f32, c: f32) -> f32 {
    if F { a.mul_add(b, c) } else { a * b + c }
}

/// Rows of a dense layer against every token: `out[row * tokens + t]`,
/// without the bias. Four rows at a time, so that each token's values are loaded once for four
/// independent sums.
struct DenseRows<'a> {
    weights: &'a [f32],
    xs: &'a [f32],
    input: usize,
    out: &'a mut [f32],
}

impl Kernel for DenseRows<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: pulp::Simd, const F: bool>(self, _: S) {
        let input = self.input;
        let tokens = self.xs.len() / input;
        let rows = self.weights.len() / input;
        let mut r = 0;
        while r < rows {
            let group = (rows - r).min(4);
            let block = &self.weights[r * input..(r + group) * input];
            for (t, x) in self.xs.chunks_exact(input).enumerate() {
                if group == 4 {
                    let (w0, rest) = block.split_at(input);
                    let (w1, rest) = rest.split_at(input);
                    let (w2, w3) = rest.split_at(input);
                    let sums = dot4::<F>([w0, w1, w2, w3], x);
                    for (k, s) in sums.into_iter().enumerate() {
                        self.out[(r + k) * tokens + t] = s;
                    }
                } else {
                    for k in 0..group {
                        self.out[(r + k) * tokens + t] = dot::<F>(&block[k * input..][..input], x);
                    }
                }
            }
            r += group;
        }
    }
}

/// GELU over a slice, in place.
struct GeluSlice<'a>(&'a mut [f32]);

impl Kernel for GeluSlice<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: pulp::Simd, const F: bool>(self, _: S) {
        for x in self.0 {
            *x = 0.5 * *x * (1.0 + erf::<F>(*x * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

/// One sequence's self-attention (see `attention`).
struct SequenceAttention<'a> {
    qkv: &'a [f32],
    offset: usize,
    len: usize,
    heads: usize,
    hidden: usize,
    out: &'a mut [f32],
}

impl Kernel for SequenceAttention<'_> {
    type Output = ();

    #[inline(always)]
    fn run<S: pulp::Simd, const F: bool>(self, _: S) {
        let (hidden, len) = (self.hidden, self.len);
        let d = hidden / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let stride = 3 * hidden;
        let base = self.offset * stride;
        let qkv = self.qkv;
        // A head's keys transposed, `keys[c * padded + j]`, padded with zeros to whole vectors,
        // so that one query's scores against all keys are vector operations across the keys.
        let padded = len.next_multiple_of(16);
        let mut keys = vec![0f32; d * padded];
        let mut scores = vec![0f32; padded];
        for h in 0..self.heads {
            let (qo, ko, vo) = (h * d, hidden + h * d, 2 * hidden + h * d);
            for j in 0..len {
                let k = &qkv[base + j * stride + ko..][..d];
                for (c, v) in k.iter().enumerate() {
                    keys[c * padded + j] = *v;
                }
            }
            for i in 0..len {
                let q = &qkv[base + i * stride + qo..][..d];
                scores.fill(0.0);
                for (c, qc) in q.iter().enumerate() {
                    let qc = qc * scale;
                    for (s, k) in scores.iter_mut().zip(&keys[c * padded..][..padded]) {
                        *s = madd::<F>(qc, *k, *s);
                    }
                }
                // The padding's scores are not keys: only the first `len` count.
                let valid = &mut scores[..len];
                let max = valid.iter().fold(f32::NEG_INFINITY, |m, s| m.max(*s));
                let mut total = 0.0;
                for s in valid.iter_mut() {
                    *s = fast_exp::<F>(*s - max);
                    total += *s;
                }
                let inv = 1.0 / total;
                let o = &mut self.out[i * hidden + h * d..][..d];
                if d == 32 {
                    // The usual head size: the sum stays in two registers (AVX-512) instead of
                    // going through memory at every key.
                    let (mut lo, mut hi) = ([0f32; 16], [0f32; 16]);
                    for (j, p) in valid.iter().enumerate() {
                        let v = &qkv[base + j * stride + vo..][..32];
                        let w = p * inv;
                        for k in 0..16 {
                            lo[k] = madd::<F>(w, v[k], lo[k]);
                            hi[k] = madd::<F>(w, v[16 + k], hi[k]);
                        }
                    }
                    o[..16].copy_from_slice(&lo);
                    o[16..].copy_from_slice(&hi);
                } else {
                    for (j, p) in valid.iter().enumerate() {
                        let v = &qkv[base + j * stride + vo..][..d];
                        let w = p * inv;
                        for (o, v) in o.iter_mut().zip(v) {
                            *o = madd::<F>(w, *v, *o);
                        }
                    }
                }
            }
        }
    }
}

/// A dot product in four independent chains of 16 lanes: on AVX-512 each chain is one
/// register, and four keep the multiply-add units busy instead of waiting on one chain.
#[inline(always)]
fn dot<const F: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [[0f32; 16]; 4];
    let ((ca, ra), (cb, rb)) = (a.as_chunks::<64>(), b.as_chunks::<64>());
    for (x, y) in ca.iter().zip(cb) {
        for c in 0..4 {
            for k in 0..16 {
                acc[c][k] = madd::<F>(x[c * 16 + k], y[c * 16 + k], acc[c][k]);
            }
        }
    }
    let mut total: f32 = acc.iter().flatten().sum();
    for (x, y) in ra.iter().zip(rb) {
        total = madd::<F>(*x, *y, total);
    }
    total
}

/// Four dot products of `x` with four rows: each 16 values of `x` are loaded once for the
/// four independent sums (each a register on AVX-512).
#[inline(always)]
fn dot4<const F: bool>(rows: [&[f32]; 4], x: &[f32]) -> [f32; 4] {
    let (mut a0, mut a1, mut a2, mut a3) = ([0f32; 16], [0f32; 16], [0f32; 16], [0f32; 16]);
    let (cx, rx) = x.as_chunks::<16>();
    let (c0, r0) = rows[0].as_chunks::<16>();
    let (c1, r1) = rows[1].as_chunks::<16>();
    let (c2, r2) = rows[2].as_chunks::<16>();
    let (c3, r3) = rows[3].as_chunks::<16>();
    for ((((xv, w0), w1), w2), w3) in cx.iter().zip(c0).zip(c1).zip(c2).zip(c3) {
        for k in 0..16 {
            a0[k] = madd::<F>(w0[k], xv[k], a0[k]);
            a1[k] = madd::<F>(w1[k], xv[k], a1[k]);
            a2[k] = madd::<F>(w2[k], xv[k], a2[k]);
            a3[k] = madd::<F>(w3[k], xv[k], a3[k]);
        }
    }
    let tail = |acc: [f32; 16], r: &[f32]| -> f32 {
        acc.iter().sum::<f32>() + r.iter().zip(rx).map(|(w, v)| w * v).sum::<f32>()
    };
    [tail(a0, r0), tail(a1, r1), tail(a2, r2), tail(a3, r3)]
}

#[derive(Debug)]
struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

/// The encoder: embeddings, then the layers. Output: hidden states `(B*T, hidden)`, row-major.
#[derive(Debug)]
pub struct BertEncoder {
    /// `(vocab, hidden)`, `(positions, hidden)`, `(types, hidden)`.
    words: Vec<f32>,
    positions: Vec<f32>,
    token_types: Vec<f32>,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
    intermediate: usize,
}

impl BertEncoder {
    pub fn load(vb: VarBuilder<'_>, config: &BertConfig) -> Result<Self> {
        if config.hidden_act != "gelu" {
            candle_core::bail!(
                "hidden_act {:?} is not supported (only the exact GELU)",
                config.hidden_act
            );
        }
        let h = config.hidden_size;
        let eps = config.layer_norm_eps;
        let e = vb.pp("embeddings");
        let table = |name: &str, rows: usize| -> Result<Vec<f32>> {
            values(&e.pp(name).get((rows, h), "weight")?)
        };
        let words = table("word_embeddings", config.vocab_size)?;
        let positions = table("position_embeddings", config.max_position_embeddings)?;
        let token_types = table("token_type_embeddings", config.type_vocab_size)?;
        let embedding_norm = Norm::load(e.pp("LayerNorm"), h, eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for i in 0..config.num_hidden_layers {
            let l = vb.pp(format!("encoder.layer.{i}"));
            let a = l.pp("attention.self");
            let part = |name: &str| -> Result<(Tensor, Tensor)> {
                Ok((
                    a.get((h, h), &format!("{name}.weight"))?,
                    a.get(h, &format!("{name}.bias"))?,
                ))
            };
            let (qw, qb) = part("query")?;
            let (kw, kb) = part("key")?;
            let (vw, vbias) = part("value")?;
            let qkv = Dense::new(
                &Tensor::cat(&[&qw, &kw, &vw], 0)?,
                &Tensor::cat(&[&qb, &kb, &vbias], 0)?,
            )?;
            layers.push(Layer {
                qkv,
                attention_out: Dense::load(l.pp("attention.output.dense"), h, h)?,
                attention_norm: Norm::load(l.pp("attention.output.LayerNorm"), h, eps)?,
                intermediate: Dense::load(l.pp("intermediate.dense"), h, config.intermediate_size)?,
                output: Dense::load(l.pp("output.dense"), config.intermediate_size, h)?,
                output_norm: Norm::load(l.pp("output.LayerNorm"), h, eps)?,
            });
        }
        if !h.is_multiple_of(config.num_attention_heads) {
            candle_core::bail!("hidden size {h} is not a multiple of the head count");
        }
        Ok(Self {
            words,
            positions,
            token_types,
            embedding_norm,
            layers,
            heads: config.num_attention_heads,
            hidden: h,
            intermediate: config.intermediate_size,
        })
    }

    /// Hidden states of sequences packed end to end, without padding: `ids` and `types` hold
    /// every sequence's tokens one after another, `lengths` their lengths. Every dense layer
    /// then works on real tokens only. Output: `(sum of lengths) x hidden` values, row-major.
    pub fn forward(&self, ids: &[u32], types: &[u32], lengths: &[usize]) -> Result<Vec<f32>> {
        // On one of the pool's threads: each parallel step inside then shares its work with the
        // pool's other threads directly, instead of handing it to the pool and sleeping until it
        // is done (two thread switches per step, dozens of steps per query).
        rayon::scope(|_| self.forward_on_pool(ids, types, lengths))
    }

    fn forward_on_pool(&self, ids: &[u32], types: &[u32], lengths: &[usize]) -> Result<Vec<f32>> {
        let n: usize = lengths.iter().sum();
        if ids.len() != n || types.len() != n {
            candle_core::bail!("{} ids and {} types for {n} tokens", ids.len(), types.len());
        }
        let h = self.hidden;
        let row = |table: &[f32], index: usize, what: &str| -> Result<std::ops::Range<usize>> {
            if (index + 1) * h > table.len() {
                candle_core::bail!("{what} {index} is outside the model's table");
            }
            Ok(index * h..(index + 1) * h)
        };
        let mut x = vec![0f32; n * h];
        let positions = lengths.iter().flat_map(|&l| 0..l);
        for (((out, &id), &ty), pos) in x.chunks_exact_mut(h).zip(ids).zip(types).zip(positions) {
            let w = &self.words[row(&self.words, id as usize, "token id")?];
            let t = &self.token_types[row(&self.token_types, ty as usize, "token type")?];
            let p = &self.positions[row(&self.positions, pos, "position")?];
            for (((o, w), t), p) in out.iter_mut().zip(w).zip(t).zip(p) {
                *o = w + t + p;
            }
        }
        self.embedding_norm.apply(&mut x);
        let mut qkv = vec![0f32; n * 3 * h];
        let mut inner = vec![0f32; n * self.intermediate];
        for layer in &self.layers {
            layer.qkv.forward_into(&x, n, &mut qkv, Onto::Nothing);
            let context = attention(&qkv, lengths, self.heads, h);
            // x1 = norm(x + context W^T + b), in x's buffer.
            layer
                .attention_out
                .forward_into(&context, n, &mut x, Onto::Residual);
            layer.attention_norm.apply(&mut x);
            layer
                .intermediate
                .forward_into(&x, n, &mut inner, Onto::Nothing);
            gelu(&mut inner);
            // x = norm(x1 + gelu(inner) W^T + b).
            layer.output.forward_into(&inner, n, &mut x, Onto::Residual);
            layer.output_norm.apply(&mut x);
        }
        Ok(x)
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden
    }
}

/// Self-attention over the fused projection `qkv (N, 3*H)` of packed sequences: for each
/// sequence and head, softmax(q k^T / sqrt(d)) v over that sequence's tokens.
fn attention(qkv: &[f32], lengths: &[usize], heads: usize, hidden: usize) -> Vec<f32> {
    let n: usize = lengths.iter().sum();
    let mut out = vec![0f32; n * hidden];
    // Split the output by sequence, so that sequences can be worked on in parallel.
    let mut parts: Vec<(usize, usize, &mut [f32])> = Vec::with_capacity(lengths.len());
    let mut rest: &mut [f32] = &mut out;
    let mut offset = 0;
    for &len in lengths {
        let (part, tail) = rest.split_at_mut(len * hidden);
        parts.push((offset, len, part));
        rest = tail;
        offset += len;
    }
    parts.into_par_iter().for_each(|(offset, len, out)| {
        simd(SequenceAttention {
            qkv,
            offset,
            len,
            heads,
            hidden,
            out,
        });
    });
    out
}

/// GELU, the exact form `x/2 (1 + erf(x/sqrt 2))`, element by element, in place.
fn gelu(x: &mut [f32]) {
    x.par_chunks_mut(16 * 1024)
        .for_each(|chunk| simd(GeluSlice(chunk)));
}

/// e^x for f32, vectorisable: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial,
/// 2^n by building the float's exponent. Relative error about 2e-7 over the useful range;
/// inputs below -87 give 0 (as they underflow anyway).
#[inline(always)]
fn fast_exp<const F: bool>(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by the 1.5 * 2^23 trick (vectorises, unlike f32::round).
    const MAGIC: f32 = 12_582_912.0;
    let n = madd::<F>(x, std::f32::consts::LOG2_E, MAGIC) - MAGIC;
    // ln 2 split in two (Cody and Waite) so the reduction stays exact in f32.
    let r = madd::<F>(n, 2.121_944_4e-4, madd::<F>(n, -0.693_359_4, x));
    // Horner's rule for 1 + r + r^2/2 + ... + r^6/720.
    let mut p = 1.0 / 720.0;
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = madd::<F>(p, r, c);
    }
    // n is in [-126, 127] after the clamp, so the exponent field is valid.
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// erf for f32: the rational approximation x P(x^2) / Q(x^2) on [-4, 4] (beyond it erf is
/// ±1 in f32) that Eigen and XLA use for single precision; one division and no exponential,
/// error within a few units in the last place.
#[inline(always)]
fn erf<const F: bool>(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10;
    for c in [
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_6e-3,
        -1.609_603_3e-2,
    ] {
        p = madd::<F>(x2, p, c);
    }
    let mut q = -1.456_607_2e-5;
    for c in [-2.133_740_6e-4, -1.682_827e-3, -7.373_329e-3, -1.426_474e-2] {
        q = madd::<F>(x2, q, c);
    }
    x * p / q
}

/// Mean over each packed sequence's tokens, then unit length: one vector per sequence.
/// `hidden` holds the tokens' states, `width` values each.
pub fn mean_pool_normalised(hidden: &[f32], width: usize, lengths: &[usize]) -> Vec<Vec<f32>> {
    let mut offset = 0;
    lengths
        .iter()
        .map(|&len| {
            let mut sum = vec![0f32; width];
            for row in hidden[offset * width..(offset + len) * width].chunks_exact(width) {
                for (s, v) in sum.iter_mut().zip(row) {
                    *s += v;
                }
            }
            offset += len;
            let count = len.max(1) as f32;
            sum.iter_mut().for_each(|s| *s /= count);
            let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
            sum.iter_mut().for_each(|s| *s /= norm);
            sum
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_exp_and_erf_are_accurate() {
        for i in -2000..=2000 {
            let x = i as f32 / 100.0;
            let (e, e_fused) = (fast_exp::<false>(x), fast_exp::<true>(x));
            let want = (x as f64).exp();
            for e in [e, e_fused] {
                assert!(
                    ((e as f64 - want) / want).abs() < 1e-6,
                    "exp({x}) = {e}, want {want}"
                );
            }
        }
        for i in -300..=300 {
            let x = i as f32 / 100.0;
            let want = libm_erf(x as f64);
            for got in [erf::<false>(x), erf::<true>(x)] {
                let err = (got as f64 - want).abs(); // A&S 7.1.26: 1.5e-7, plus f32 rounding
                assert!(err < 1e-6, "erf({x}) off by {err}");
            }
        }
    }

    #[test]
    fn erf_is_one_beyond_four() {
        for x in [4.0f32, 4.5, 6.0, 100.0, f32::MAX] {
            for got in [erf::<false>(x), erf::<true>(x)] {
                assert!((got - 1.0).abs() < 1e-6, "erf({x}) = {got}");
            }
            assert!((erf::<true>(-x) + 1.0).abs() < 1e-6);
        }
    }

    /// erf by its Taylor series, in f64, for the test.
    fn libm_erf(x: f64) -> f64 {
        // Series: erf x = 2/sqrt(pi) sum (-1)^n x^(2n+1) / (n! (2n+1)); accurate in f64 for
        // |x| <= 3 (the largest term is about 1e3).
        let mut sum = 0.0;
        let mut term = x;
        let mut n = 0.0;
        while n < 200.0 {
            sum += term / (2.0 * n + 1.0);
            n += 1.0;
            term *= -x * x / n;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }
}
