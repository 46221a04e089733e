//! A BERT encoder for inference on the CPU, tuned for small sentence-embedding models such as
//! all-MiniLM-L6-v2. It loads the same weights as candle-transformers' `BertModel` and computes
//! the same function, but arranges the work for throughput:
//!
//! - sequences are packed end to end without padding, so every dense layer works on real
//!   tokens only, in one matrix product over all tokens of the batch, `(tokens, in) x (in,
//!   out)` (candle's `Linear` on a padded 3-D batch broadcasts the weight and runs one small
//!   product per sequence, padding included);
//! - query, key and value are one fused product (`in x 3*in`);
//! - attention reads the fused projection in place: per (sequence, head), scores, masked
//!   softmax and the weighted sum in one pass, no transposes or copies of the heads, sequences
//!   and heads spread over the thread pool;
//! - GELU (the exact, erf form) and the softmax's exponential use a vectorisable polynomial
//!   (max. error about 1e-7, far inside what the parity test allows).
//!
//! Matrix products, embeddings and layer norms stay candle's.

use candle_core::{D, DType, Device, Module, Result, Tensor};
use candle_nn::{Embedding, LayerNorm, VarBuilder, embedding, layer_norm};
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
/// matrix-vector style); above it, candle's matrix product (compute-bound, packed).
const SMALL_BATCH_TOKENS: usize = 24;

/// A dense layer over 2-D input: `x (N, in) -> x W^T + b (N, out)`.
#[derive(Debug)]
struct Dense {
    /// `(in, out)`, for candle's matrix product.
    weight_t: Tensor,
    /// `(out, in)` in half precision, for few tokens: half the bytes to stream, which is what
    /// bounds a single query's time (the parity test covers this path).
    weight_half: Vec<u16>,
    input: usize,
    bias: Tensor,
    bias_values: Vec<f32>,
}

/// f32 to IEEE half, rounding to nearest (weights are far inside the half range).
fn to_half(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let a = x.abs();
    if a < 6.103_515_6e-5 {
        // Subnormal half: multiples of 2^-24.
        return sign | (a * 16_777_216.0).round() as u16;
    }
    let b = a.to_bits();
    // Rebias the exponent (127 -> 15) and round the mantissa from 23 to 10 bits.
    let rounded = b + 0x0fff + ((b >> 13) & 1);
    sign | (((rounded >> 13) as i32 - ((127 - 15) << 10)) as u16)
}

/// IEEE half to f32, exact for normal and subnormal values, branch-free (vectorises).
#[inline(always)]
fn from_half(h: u16) -> f32 {
    let magnitude = f32::from_bits(u32::from(h & 0x7fff) << 13) * 5.192_297e33; // 2^112
    f32::from_bits(magnitude.to_bits() | (u32::from(h & 0x8000) << 16))
}

impl Dense {
    fn new(weight: Tensor, bias: Tensor) -> Result<Self> {
        let (_, input) = weight.dims2()?;
        let weight_half = weight
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(to_half)
            .collect();
        Ok(Self {
            weight_t: weight.t()?.contiguous()?,
            weight_half,
            input,
            bias_values: bias.to_vec1()?,
            bias,
        })
    }

    fn load(vb: VarBuilder<'_>, input: usize, output: usize) -> Result<Self> {
        Self::new(vb.get((output, input), "weight")?, vb.get(output, "bias")?)
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, input) = x.dims2()?;
        if n > SMALL_BATCH_TOKENS {
            return x.matmul(&self.weight_t)?.broadcast_add(&self.bias);
        }
        if input != self.input {
            candle_core::bail!("{input} inputs for a layer of {}", self.input);
        }
        // Few tokens: each output feature is a dot product of a weight row with each token,
        // so the weight is read once, in order, and never packed.
        let xs: Vec<f32> = x.flatten_all()?.to_vec1()?;
        let w = &self.weight_half;
        let output = self.bias_values.len();
        let mut out = vec![0f32; n * output];
        // Work in blocks of output features; transpose on the way out.
        const BLOCK: usize = 64;
        let blocks: Vec<Vec<f32>> = (0..output.div_ceil(BLOCK))
            .into_par_iter()
            .map(|b| {
                let lo = b * BLOCK;
                let hi = (lo + BLOCK).min(output);
                let mut part = vec![0f32; (hi - lo) * n];
                simd(DenseRows {
                    weights: &w[lo * input..hi * input],
                    bias: &self.bias_values[lo..hi],
                    xs: &xs,
                    input,
                    out: &mut part,
                });
                part
            })
            .collect();
        for (b, part) in blocks.iter().enumerate() {
            let lo = b * BLOCK;
            for (k, v) in part.iter().enumerate() {
                let (o, t) = (lo + k / n, k % n);
                out[t * output + o] = *v;
            }
        }
        Tensor::from_vec(out, (n, output), x.device())
    }
}

/// Runs `op` compiled for the best vector instructions this CPU has (AVX2 and FMA where
/// present), chosen at run time, so one binary is fast on new CPUs and correct on old ones.
/// (The work must be a `WithSimd` whose `with_simd` is `#[inline(always)]`: a closure would be
/// compiled apart, without the wider instructions.)
#[inline(always)]
fn simd<Op: pulp::WithSimd>(op: Op) -> Op::Output {
    pulp::Arch::new().dispatch(op)
}

/// Rows of a dense layer in half precision against every token: `out[row * tokens + t]`.
struct DenseRows<'a> {
    weights: &'a [u16],
    bias: &'a [f32],
    xs: &'a [f32],
    input: usize,
    out: &'a mut [f32],
}

impl pulp::WithSimd for DenseRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let tokens = self.xs.len() / self.input;
        // Each row is widened once, then used for every token.
        let mut wide = vec![0f32; self.input];
        for (r, (row, b)) in self
            .weights
            .chunks_exact(self.input)
            .zip(self.bias)
            .enumerate()
        {
            for (w, h) in wide.iter_mut().zip(row) {
                *w = from_half(*h);
            }
            for (t, x) in self.xs.chunks_exact(self.input).enumerate() {
                self.out[r * tokens + t] = dot(&wide, x) + b;
            }
        }
    }
}

/// GELU over a slice, in place.
struct GeluSlice<'a>(&'a mut [f32]);

impl pulp::WithSimd for GeluSlice<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        for x in self.0 {
            *x = 0.5 * *x * (1.0 + erf(*x * std::f32::consts::FRAC_1_SQRT_2));
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

impl pulp::WithSimd for SequenceAttention<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: pulp::Simd>(self, _: S) {
        let (hidden, len) = (self.hidden, self.len);
        let d = hidden / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let stride = 3 * hidden;
        let base = self.offset * stride;
        let qkv = self.qkv;
        let mut scores = vec![0f32; len];
        for h in 0..self.heads {
            let (qo, ko, vo) = (h * d, hidden + h * d, 2 * hidden + h * d);
            for i in 0..len {
                let q = &qkv[base + i * stride + qo..][..d];
                let mut max = f32::NEG_INFINITY;
                for (j, s) in scores.iter_mut().enumerate() {
                    let k = &qkv[base + j * stride + ko..][..d];
                    *s = dot(q, k) * scale;
                    max = max.max(*s);
                }
                let mut sum = 0.0;
                for s in &mut scores {
                    *s = fast_exp(*s - max);
                    sum += *s;
                }
                let inv = 1.0 / sum;
                let o = &mut self.out[i * hidden + h * d..][..d];
                for (j, p) in scores.iter().enumerate() {
                    let v = &qkv[base + j * stride + vo..][..d];
                    let w = p * inv;
                    for (o, v) in o.iter_mut().zip(v) {
                        *o += w * v;
                    }
                }
            }
        }
    }
}

/// A dot product with 16 independent sums, so the compiler can keep them in vector lanes.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let ((ca, ra), (cb, rb)) = (a.as_chunks::<16>(), b.as_chunks::<16>());
    for (x, y) in ca.iter().zip(cb) {
        for k in 0..16 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        sum += x * y;
    }
    sum
}

#[derive(Debug)]
struct Layer {
    qkv: Dense,
    attention_out: Dense,
    attention_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    output_norm: LayerNorm,
}

/// The encoder: embeddings, then the layers. Output: hidden states `(B*T, hidden)`.
#[derive(Debug)]
pub struct BertEncoder {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    embedding_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: usize,
    hidden: usize,
    device: Device,
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
        let e = vb.pp("embeddings");
        let words = embedding(config.vocab_size, h, e.pp("word_embeddings"))?;
        let positions = embedding(
            config.max_position_embeddings,
            h,
            e.pp("position_embeddings"),
        )?;
        let token_types = embedding(config.type_vocab_size, h, e.pp("token_type_embeddings"))?;
        let embedding_norm = layer_norm(h, config.layer_norm_eps, e.pp("LayerNorm"))?;
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
                Tensor::cat(&[&qw, &kw, &vw], 0)?,
                Tensor::cat(&[&qb, &kb, &vbias], 0)?,
            )?;
            layers.push(Layer {
                qkv,
                attention_out: Dense::load(l.pp("attention.output.dense"), h, h)?,
                attention_norm: layer_norm(
                    h,
                    config.layer_norm_eps,
                    l.pp("attention.output.LayerNorm"),
                )?,
                intermediate: Dense::load(l.pp("intermediate.dense"), h, config.intermediate_size)?,
                output: Dense::load(l.pp("output.dense"), config.intermediate_size, h)?,
                output_norm: layer_norm(h, config.layer_norm_eps, l.pp("output.LayerNorm"))?,
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
            device: vb.device().clone(),
        })
    }

    /// Hidden states of sequences packed end to end, without padding: `ids` and `types` hold
    /// every sequence's tokens one after another, `lengths` their lengths. Every dense layer
    /// then works on real tokens only. Output: `(sum of lengths, hidden)`.
    pub fn forward(&self, ids: &[u32], types: &[u32], lengths: &[usize]) -> Result<Tensor> {
        let n: usize = lengths.iter().sum();
        if ids.len() != n || types.len() != n {
            candle_core::bail!("{} ids and {} types for {n} tokens", ids.len(), types.len());
        }
        let ids = Tensor::from_slice(ids, n, &self.device)?;
        let types = Tensor::from_slice(types, n, &self.device)?;
        let positions: Vec<u32> = lengths.iter().flat_map(|&l| 0..l as u32).collect();
        let positions = Tensor::from_vec(positions, n, &self.device)?;
        let x = self
            .words
            .forward(&ids)?
            .add(&self.token_types.forward(&types)?)?
            .add(&self.positions.forward(&positions)?)?;
        let mut x = self.embedding_norm.forward(&x)?;
        for layer in &self.layers {
            let qkv = layer.qkv.forward(&x)?;
            let context = attention(&qkv, lengths, self.heads, self.hidden)?;
            let attended = layer.attention_out.forward(&context)?;
            let x1 = layer.attention_norm.forward(&attended.add(&x)?)?;
            let inner = gelu(&layer.intermediate.forward(&x1)?)?;
            let out = layer.output.forward(&inner)?;
            x = layer.output_norm.forward(&out.add(&x1)?)?;
        }
        Ok(x)
    }
}

/// Self-attention over the fused projection `qkv (N, 3*H)` of packed sequences: for each
/// sequence and head, softmax(q k^T / sqrt(d)) v over that sequence's tokens.
fn attention(qkv: &Tensor, lengths: &[usize], heads: usize, hidden: usize) -> Result<Tensor> {
    let device = qkv.device().clone();
    let qkv: Vec<f32> = qkv.flatten_all()?.to_vec1()?;
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
            qkv: &qkv,
            offset,
            len,
            heads,
            hidden,
            out,
        });
    });
    Tensor::from_vec(out, (n, hidden), &device)
}

/// GELU, the exact form `x/2 (1 + erf(x/sqrt 2))`, element by element.
fn gelu(x: &Tensor) -> Result<Tensor> {
    let shape = x.shape().clone();
    let device = x.device().clone();
    let mut v: Vec<f32> = x.flatten_all()?.to_vec1()?;
    v.par_chunks_mut(16 * 1024)
        .for_each(|chunk| simd(GeluSlice(chunk)));
    Tensor::from_vec(v, shape, &device)
}

/// e^x for f32, vectorisable: x = n ln2 + r with |r| <= ln2/2, e^r by a degree-6 polynomial,
/// 2^n by building the float's exponent. Relative error about 2e-7 over the useful range;
/// inputs below -87 give 0 (as they underflow anyway).
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // Round to nearest by the 1.5 * 2^23 trick (vectorises, unlike f32::round).
    const MAGIC: f32 = 12_582_912.0;
    let n = (x * std::f32::consts::LOG2_E + MAGIC) - MAGIC;
    // ln 2 split in two (Cody and Waite) so the reduction stays exact in f32.
    let r = (x - n * 0.693_359_4) - n * -2.121_944_4e-4;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n is in [-126, 127] after the clamp, so the exponent field is valid.
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// erf for f32 (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7).
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let y = 1.0
        - t * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))))
            * fast_exp(-a * a);
    y.copysign(x)
}

/// Mean over each packed sequence's tokens, then unit length: one vector per sequence.
pub fn mean_pool_normalised(hidden: &Tensor, lengths: &[usize]) -> Result<Vec<Vec<f32>>> {
    let width = hidden.dim(D::Minus1)?;
    let h: Vec<f32> = hidden.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    let mut offset = 0;
    Ok(lengths
        .iter()
        .map(|&len| {
            let mut sum = vec![0f32; width];
            for row in h[offset * width..(offset + len) * width].chunks_exact(width) {
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
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_round_trips() {
        for x in [
            0.0f32, -0.0, 1.0, -2.5, 0.1, 65504.0, 6.1e-5, 3.0e-6, -1.0e-7, 0.333_333,
        ] {
            let back = from_half(to_half(x));
            let tolerance = (x.abs() * 1e-3).max(6e-8);
            assert!((back - x).abs() <= tolerance, "{x} -> {back}");
        }
        assert_eq!(to_half(1.0), 0x3c00);
        assert_eq!(to_half(-2.0), 0xc000);
        assert_eq!(from_half(0x0001), 5.960_464_5e-8);
    }

    #[test]
    fn fast_exp_and_erf_are_accurate() {
        for i in -2000..=2000 {
            let x = i as f32 / 100.0;
            let e = fast_exp(x);
            let want = (x as f64).exp();
            assert!(
                ((e as f64 - want) / want).abs() < 1e-6,
                "exp({x}) = {e}, want {want}"
            );
        }
        for i in -300..=300 {
            let x = i as f32 / 100.0;
            let want = libm_erf(x as f64);
            let err = (erf(x) as f64 - want).abs(); // A&S 7.1.26: 1.5e-7, plus f32 rounding
            assert!(err < 1e-6, "erf({x}) off by {err}");
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
