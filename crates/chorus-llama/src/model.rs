//! The Llama causal language model: weights on a Burn device and the forward pass.

use std::cell::{Cell, RefCell};
use std::time::{Duration, Instant};

use burn::tensor::{
    DType, ElementConversion, FloatDType, Int, Tensor, TensorCreationOptions, TensorData,
    backend::Backend,
};

use crate::attention::{Attention, DecoderLayer, Heads, Linear, Matrix, Mlp, PassContext, RmsNorm};
use crate::cache::KvCache;
use crate::forward::{ForwardInput, InputLimits, PassShape};
use crate::host::{HostMatrix, is_cpu};
use crate::parallel;
use crate::rope::RopeTable;
use crate::{LlamaConfig, LlamaError, WeightSource};

/// A Llama-family causal LM (`LlamaForCausalLM`) on backend `B`.
#[derive(Debug)]
pub struct Llama<B: Backend> {
    config: LlamaConfig,
    device: B::Device,
    /// `[vocab, hidden]`; also the LM head when embeddings are tied.
    embed: Matrix<B>,
    layers: Vec<DecoderLayer<B>>,
    norm: RmsNorm<B>,
    /// `hidden -> vocab` when the head is not tied to the embeddings.
    lm_head: Option<Linear<B>>,
    rope: RopeTable<B>,
}

impl<B: Backend> Llama<B> {
    /// Builds the model from any weight source, checking every tensor's shape
    /// against the config, and uploads it to `device` in the backend's dtype.
    pub fn from_source(source: &dyn WeightSource, device: &B::Device) -> Result<Self, LlamaError> {
        let started = Instant::now();
        let config = source.config().clone();
        let heads = check_config(&config)?;
        // The first tensor on a device pays for its context (CUDA: ~0.3 s on an
        // H100); timed apart from the weights.
        let _ = Tensor::<B, 1>::zeros([1], device);
        let device_ready = started.elapsed();
        let loader = Loader {
            source,
            device,
            config: &config,
            scratch: RefCell::new(Vec::new()),
            upload_time: Cell::new(Duration::ZERO),
        };
        let embed = loader.matrix(
            "model.embed_tokens.weight",
            [config.vocab_size, config.hidden_size],
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| loader.decoder_layer(i, heads))
            .collect::<Result<Vec<_>, _>>()?;
        let norm = loader.norm("model.norm.weight")?;
        let lm_head = if config.tie_word_embeddings && !source.contains("lm_head.weight") {
            None
        } else {
            Some(loader.fused_linear(
                &[("lm_head.weight".to_string(), config.vocab_size)],
                config.hidden_size,
            )?)
        };
        // Uploads may still be in flight; waiting here makes `total_s` the
        // real load time and costs nothing (the first forward pass would wait).
        let synced = B::sync(device).is_ok();
        tracing::debug!(
            layers = layers.len(),
            synced,
            tied = lm_head.is_none(),
            device_init_s = device_ready.as_secs_f64(),
            upload_s = loader.upload_time.get().as_secs_f64(),
            total_s = started.elapsed().as_secs_f64(),
            "llama weights uploaded (the rest of total_s: reading, laying out, converting)"
        );
        Ok(Self {
            rope: RopeTable::new(&config, device),
            config,
            device: device.clone(),
            embed,
            layers,
            norm,
            lm_head,
        })
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The device holding the weights.
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// An empty KV cache for `batch` rows.
    pub fn new_cache(&self, batch: usize) -> KvCache<B> {
        KvCache::new(self.config.num_hidden_layers, batch)
    }

    /// Runs the new tokens of `input` over the cached ones, appends their keys and
    /// values to `cache`, and returns f32 logits `[batch, logits_at.len(), vocab]`.
    ///
    /// Nothing is changed when the input is invalid.
    pub fn forward(
        &self,
        input: &ForwardInput,
        cache: &mut KvCache<B>,
    ) -> Result<Tensor<B, 3>, LlamaError> {
        if cache.num_layers() != self.layers.len() {
            return Err(LlamaError::Input(format!(
                "KV cache has {} layers, model has {}",
                cache.num_layers(),
                self.layers.len()
            )));
        }
        let shape = input.validate(InputLimits {
            vocab_size: self.config.vocab_size,
            max_positions: self.config.max_position_embeddings,
            cache_batch: cache.batch(),
            cache_len: cache.len(),
        })?;
        let context = self.pass_context(input, shape)?;
        let mut hidden = self.embed_tokens(&input.tokens, shape);
        for (index, layer) in self.layers.iter().enumerate() {
            hidden = layer.forward(hidden, &context, cache, index);
        }
        cache.advance(shape.len);
        Ok(self.logits(hidden, &input.logits_at, shape))
    }

    fn embed_tokens(&self, tokens: &[Vec<u32>], shape: PassShape) -> Tensor<B, 3> {
        let rows = match &self.embed {
            Matrix::Device(embed) => {
                let ids: Vec<i64> = tokens.iter().flatten().map(|&t| i64::from(t)).collect();
                let ids = TensorData::new(ids, [shape.batch * shape.len]);
                embed
                    .clone()
                    .select(0, Tensor::<B, 1, Int>::from_data(ids, &self.device))
            }
            Matrix::Host(embed) => {
                let ids: Vec<usize> = tokens.iter().flatten().map(|&t| t as usize).collect();
                embed.gather_rows::<B>(&ids, &self.device)
            }
        };
        rows.reshape([shape.batch, shape.len, self.config.hidden_size])
    }

    fn pass_context(
        &self,
        input: &ForwardInput,
        shape: PassShape,
    ) -> Result<PassContext<B>, LlamaError> {
        let positions: Vec<usize> = input.positions.iter().flatten().copied().collect();
        let (cos, sin) = self.rope.lookup(&positions);
        let dim = self.config.head_dim();
        let per_row = |t: Tensor<B, 2>| t.reshape([shape.batch, 1, shape.len, dim]);
        let mask = input.additive_mask(shape)?.map(|values| {
            let data = TensorData::new(values, [shape.batch, 1, shape.len, shape.total()]);
            let options = TensorCreationOptions::new(self.device.clone()).with_dtype(DType::F32);
            Tensor::from_data(data, options)
        });
        Ok(PassContext {
            cos: per_row(cos),
            sin: per_row(sin),
            mask,
        })
    }

    /// Final norm and LM head at the requested query indices only.
    fn logits(&self, hidden: Tensor<B, 3>, logits_at: &[usize], shape: PassShape) -> Tensor<B, 3> {
        let vocab = self.config.vocab_size;
        let wanted = logits_at.len();
        if wanted == 0 {
            return Tensor::zeros([shape.batch, 0, vocab], &self.device);
        }
        let ids: Vec<i64> = logits_at.iter().map(|&i| i as i64).collect();
        let ids = Tensor::<B, 1, Int>::from_data(TensorData::new(ids, [wanted]), &self.device);
        let picked = self.norm.forward(hidden.select(1, ids));
        let rows = picked.reshape([shape.batch * wanted, self.config.hidden_size]);
        let logits = match (&self.lm_head, &self.embed) {
            (Some(head), _) => head.forward(rows),
            // Tied head: `E · rowsᵀ` then a transpose of the small result, rather
            // than `rows · Eᵀ`, which would copy the whole `[vocab, hidden]`
            // embedding into a transposed layout on every call on some backends.
            (None, Matrix::Device(embed)) => embed.clone().matmul(rows.transpose()).transpose(),
            (None, Matrix::Host(embed)) => embed.left_multiply_transposed(rows),
        };
        logits
            .cast(FloatDType::F32)
            .reshape([shape.batch, wanted, vocab])
    }
}

/// Checks the head arithmetic the forward pass relies on.
fn check_config(config: &LlamaConfig) -> Result<Heads, LlamaError> {
    let heads = Heads {
        query: config.num_attention_heads,
        key_value: config.kv_heads(),
        dim: config.head_dim(),
    };
    let problem = if heads.query == 0 || heads.key_value == 0 || heads.dim == 0 {
        Some("head counts and head_dim must be positive".to_string())
    } else if !heads.query.is_multiple_of(heads.key_value) {
        Some(format!(
            "num_attention_heads {} is not a multiple of num_key_value_heads {}",
            heads.query, heads.key_value
        ))
    } else if !heads.dim.is_multiple_of(2) {
        Some(format!("head_dim {} must be even for RoPE", heads.dim))
    } else if config.vocab_size == 0 || config.hidden_size == 0 {
        Some("vocab_size and hidden_size must be positive".to_string())
    } else {
        None
    };
    problem.map_or(Ok(heads), |p| Err(LlamaError::Config(p)))
}

/// Fetches named tensors from a source, checks their shapes and uploads them.
struct Loader<'a, B: Backend> {
    source: &'a dyn WeightSource,
    device: &'a B::Device,
    config: &'a LlamaConfig,
    /// Host buffers for the parts of a fused linear map, reused layer after
    /// layer (slot `i` holds part `i`: q / gate in 0, k / up in 1, v in 2).
    scratch: RefCell<Vec<Vec<f32>>>,
    /// Time spent in `Tensor::from_data`, reported in the load's debug event.
    upload_time: Cell<Duration>,
}

impl<B: Backend> Loader<'_, B> {
    fn decoder_layer(&self, index: usize, heads: Heads) -> Result<DecoderLayer<B>, LlamaError> {
        let prefix = format!("model.layers.{index}");
        let hidden = self.config.hidden_size;
        let inter = self.config.intermediate_size;
        let (q_width, kv_width) = (heads.query * heads.dim, heads.key_value * heads.dim);
        let attn = |name: &str| format!("{prefix}.self_attn.{name}.weight");
        let mlp = |name: &str| format!("{prefix}.mlp.{name}.weight");
        let attention = Attention {
            qkv: self.fused_linear(
                &[
                    (attn("q_proj"), q_width),
                    (attn("k_proj"), kv_width),
                    (attn("v_proj"), kv_width),
                ],
                hidden,
            )?,
            o: self.fused_linear(&[(attn("o_proj"), hidden)], q_width)?,
            heads,
        };
        let mlp = Mlp {
            gate_up: self.fused_linear(
                &[(mlp("gate_proj"), inter), (mlp("up_proj"), inter)],
                hidden,
            )?,
            down: self.fused_linear(&[(mlp("down_proj"), hidden)], inter)?,
            intermediate: inter,
        };
        Ok(DecoderLayer {
            input_norm: self.norm(&format!("{prefix}.input_layernorm.weight"))?,
            attention,
            post_attention_norm: self.norm(&format!("{prefix}.post_attention_layernorm.weight"))?,
            mlp,
        })
    }

    /// Linear maps sharing one input, fused into one `[in, Σ out]` matrix so a
    /// single product computes them all (q/k/v; gate/up). Each part is a
    /// `[out, in]` Hugging Face weight; `.bias` siblings (Qwen-style) are loaded
    /// when any part has one, zeros standing in for parts without.
    fn fused_linear(
        &self,
        parts: &[(String, usize)],
        inputs: usize,
    ) -> Result<Linear<B>, LlamaError> {
        let outputs: usize = parts.iter().map(|(_, out)| out).sum();
        let mut scratch = self.scratch.borrow_mut();
        if scratch.len() < parts.len() {
            scratch.resize_with(parts.len(), Vec::new);
        }
        for ((name, out), buffer) in parts.iter().zip(scratch.iter_mut()) {
            self.host_into(name, &[*out, inputs], buffer)?;
        }
        let blocks: Vec<&[f32]> = scratch[..parts.len()].iter().map(Vec::as_slice).collect();
        let weight = if is_cpu::<B>() {
            let transposed = parallel::stack_transposed(&blocks, inputs, |x| x);
            Matrix::Host(HostMatrix::new(transposed, inputs, outputs))
        } else {
            let transposed = parallel::stack_transposed(&blocks, inputs, to_float::<B>);
            Matrix::Device(self.upload(TensorData::new(transposed, [inputs, outputs])))
        };
        let bias_of = |name: &String| {
            name.strip_suffix(".weight")
                .map(|stem| format!("{stem}.bias"))
        };
        let has_bias = parts
            .iter()
            .any(|(name, _)| bias_of(name).is_some_and(|b| self.source.contains(&b)));
        let bias = if has_bias {
            let mut values = Vec::with_capacity(outputs);
            for (name, out) in parts {
                match bias_of(name).filter(|b| self.source.contains(b)) {
                    Some(bias_name) => values.extend(self.host(&bias_name, &[*out])?.data),
                    None => values.extend(std::iter::repeat_n(0.0, *out)),
                }
            }
            Some(self.upload(TensorData::new(values, [outputs])))
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    /// A host tensor onto the device, timed: every weight goes through here.
    fn upload<const D: usize>(&self, data: TensorData) -> Tensor<B, D> {
        let started = Instant::now();
        let tensor = Tensor::from_data(data, self.device);
        self.upload_time
            .set(self.upload_time.get() + started.elapsed());
        tensor
    }

    fn norm(&self, name: &str) -> Result<RmsNorm<B>, LlamaError> {
        Ok(RmsNorm {
            weight: self.vector(name, self.config.hidden_size)?,
            eps: self.config.rms_norm_eps,
        })
    }

    fn matrix(&self, name: &str, shape: [usize; 2]) -> Result<Matrix<B>, LlamaError> {
        let host = self.host(name, &shape)?;
        Ok(if is_cpu::<B>() {
            Matrix::Host(HostMatrix::new(host.data, shape[0], shape[1]))
        } else {
            let values = parallel::convert(&host.data, to_float::<B>);
            Matrix::Device(self.upload(TensorData::new(values, shape)))
        })
    }

    fn vector(&self, name: &str, len: usize) -> Result<Tensor<B, 1>, LlamaError> {
        let host = self.host(name, &[len])?;
        Ok(self.upload(TensorData::new(host.data, [len])))
    }

    /// A tensor into a recycled buffer (see [`WeightSource::tensor_into`]), its
    /// shape checked.
    fn host_into(
        &self,
        name: &str,
        expected: &[usize],
        buffer: &mut Vec<f32>,
    ) -> Result<(), LlamaError> {
        let shape = self.source.tensor_into(name, buffer)?;
        check_shape(name, shape, buffer.len(), expected)
    }

    fn host(&self, name: &str, expected: &[usize]) -> Result<crate::HostTensor, LlamaError> {
        let host = self.source.tensor(name)?;
        check_shape(name, host.shape.clone(), host.data.len(), expected)?;
        Ok(host)
    }
}

/// A source's tensor `name` has the `expected` shape, and as many values.
fn check_shape(
    name: &str,
    found: Vec<usize>,
    values: usize,
    expected: &[usize],
) -> Result<(), LlamaError> {
    if found != expected || values != expected.iter().product::<usize>() {
        return Err(LlamaError::WeightShape {
            tensor: name.to_string(),
            found,
            expected: expected.to_vec(),
        });
    }
    Ok(())
}

/// One value in the backend's float type. Weights are converted here, in
/// parallel, rather than by Burn's upload, which converts on one thread (seconds
/// for a 3B model).
fn to_float<B: Backend>(value: f32) -> B::FloatElem {
    value.elem()
}
