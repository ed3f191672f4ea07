//! The Llama causal language model, written once over the kernel layer
//! ([`Kernels`]): weights in the kernels' memory, the forward pass as a
//! sequence of kernel operations.

use std::cell::{Cell, RefCell};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cache::{KvCache, SharedContext};
use crate::decoder::DecoderLayer;
use crate::input::{ForwardInput, KeyMask, Limits, RowInput};
use crate::kernels::{Heads, Kernels, KvShape, MatrixUse};
use crate::parallel;
use crate::profile::timed;
use crate::rope::RopeTable;
use crate::select::{Picked, Selection};
use crate::{InputError, LlamaConfig, LlamaError, WeightSource};

/// A Llama-family causal LM on kernels `K`: `LlamaForCausalLM`,
/// `Qwen2ForCausalLM` (q/k/v biases, loaded with the fused q/k/v weight) and
/// `MistralForCausalLM` (a sliding window, applied to the key ranges every
/// pass is planned with).
pub struct Llama<K: Kernels> {
    config: LlamaConfig,
    kernels: K,
    device: K::Device,
    heads: Heads,
    /// `[vocab, hidden]`; also the LM head when embeddings are tied.
    embed: K::Matrix,
    layers: Vec<DecoderLayer<K>>,
    norm: K::Vector,
    /// `[vocab, hidden]` when the head is not tied to the embeddings.
    lm_head: Option<K::Matrix>,
    rope: RopeTable,
    eps: f32,
}

impl<K: Kernels> std::fmt::Debug for Llama<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("kernels", &self.kernels.name())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Logits of a forward pass: f32 `[rows, vocab]`, one row per requested
/// position, rows in input order (row after row, each in its `logits_at` order).
pub struct Logits<K: Kernels> {
    values: Option<K::Act>,
    rows: usize,
    vocab: usize,
}

impl<K: Kernels> std::fmt::Debug for Logits<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logits")
            .field("rows", &self.rows)
            .field("vocab", &self.vocab)
            .finish_non_exhaustive()
    }
}

/// What one batch asks of the model's memory, for sizing batches to a device
/// ([`Llama::batch_bytes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchNeed {
    /// New tokens of the batch's prefill pass.
    pub tokens: usize,
    /// Cache entries of the batch: its rows' own tokens plus the new ones.
    pub cached_tokens: usize,
    /// Rows that get logits (one per row in the first step).
    pub logit_rows: usize,
    /// Keys of the shared context the rows attend to (0 when none).
    pub shared_keys: usize,
}

impl<K: Kernels> Logits<K> {
    /// Number of logit rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Vocabulary size (columns).
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// `[rows, vocab]` as in `Tensor::dims`.
    pub fn dims(&self) -> [usize; 2] {
        [self.rows, self.vocab]
    }
}

impl<K: Kernels> Llama<K> {
    /// Builds the model from any weight source, checking every tensor's shape
    /// against the config, and hands the weights to kernels on `device` in
    /// their float type.
    pub fn from_source(source: &dyn WeightSource, device: &K::Device) -> Result<Self, LlamaError> {
        let started = Instant::now();
        let config = source.config().clone();
        let heads = check_config(&config)?;
        let kernels = K::new(device)?;
        let device_ready = started.elapsed();
        let loader = Loader {
            source,
            kernels: &kernels,
            config: &config,
            scratch: RefCell::new(Vec::new()),
            upload_time: Cell::new(Duration::ZERO),
        };
        // What the forward passes need beside the weights (on a GPU: the
        // attention kernels compiled for this head geometry, ~1 s of NVRTC on
        // a 2-core host, and cuBLAS's set-up for each kind of product, 0.14 s
        // of an H200's first pass, its warm-up not yet timed) is prepared on
        // another thread while the weights load, instead of holding up the
        // first pass.
        let (prepared, weights) =
            parallel::alongside(|| kernels.prepare_model(heads), || loader.weights(heads));
        prepared?;
        let (embed, layers, norm, lm_head) = weights?;
        // Uploads may still be in flight; waiting here makes `total_s` the
        // real load time and costs nothing (the first forward pass would wait).
        kernels.sync()?;
        tracing::debug!(
            kernels = kernels.name(),
            layers = layers.len(),
            tied = lm_head.is_none(),
            device_init_s = device_ready.as_secs_f64(),
            upload_s = loader.upload_time.get().as_secs_f64(),
            total_s = started.elapsed().as_secs_f64(),
            "llama weights loaded (the rest of total_s: reading, laying out, converting)"
        );
        Ok(Self {
            rope: RopeTable::new(&config),
            eps: config.rms_norm_eps as f32,
            config,
            kernels,
            device: device.clone(),
            heads,
            embed,
            layers,
            norm,
            lm_head,
        })
    }

    /// Device bytes a batch needs beyond the weights: its KV cache, and the
    /// activations of its prefill pass as if all were alive at once (an upper
    /// bound: the kernels free most before the next is made), the shared
    /// context's attention scores and the first step's logits included.
    pub fn batch_bytes(&self, need: &BatchNeed) -> u64 {
        // Activations and caches are stored in the kernels' float type.
        let elem: u64 = if self.kernels.dtype() == "f32" { 4 } else { 2 };
        let c = &self.config;
        let h = self.heads;
        let per_token_kv = (c.num_hidden_layers * 2 * h.kv_width()) as u64 * elem;
        let widths = 3 * c.hidden_size + h.qkv_width() + 2 * h.q_width() + 3 * c.intermediate_size;
        // Shared part: f32 scores, element probabilities, f32 outputs, max and sum.
        let shared = h.query as u64 * (need.shared_keys as u64 * (4 + elem) + h.dim as u64 * 4 + 8);
        let per_token = widths as u64 * elem + if need.shared_keys > 0 { shared } else { 0 };
        let logits = (need.logit_rows * c.vocab_size) as u64 * (elem + 4);
        need.cached_tokens as u64 * per_token_kv + need.tokens as u64 * per_token + logits
    }

    /// The model's hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// The device holding the weights.
    pub fn device(&self) -> &K::Device {
        &self.device
    }

    /// The kernels the model runs on.
    pub fn kernels(&self) -> &K {
        &self.kernels
    }

    /// Head geometry.
    pub fn heads(&self) -> Heads {
        self.heads
    }

    fn kv_shape(&self, slots: usize, capacity: usize) -> KvShape {
        KvShape {
            layers: self.layers.len(),
            slots,
            capacity: capacity.max(1),
            heads: self.heads,
        }
    }

    /// An empty cache of `slots` sequences with room for `capacity` tokens each
    /// (it grows if a pass needs more).
    pub fn new_cache(&self, slots: usize, capacity: usize) -> Result<KvCache<K>, LlamaError> {
        let shape = self.kv_shape(slots, capacity);
        let k = &self.kernels;
        Ok(KvCache::new(
            timed(k, "new_kv", || k.new_kv(shape))?,
            shape,
            None,
            vec![false; slots],
        ))
    }

    /// An empty cache whose slots marked in `sharing` see `context` first.
    pub fn new_cache_sharing(
        &self,
        context: &Arc<SharedContext<K>>,
        sharing: Vec<bool>,
        capacity: usize,
    ) -> Result<KvCache<K>, LlamaError> {
        if context.shape.heads != self.heads || context.shape.layers != self.layers.len() {
            return Err(InputError::SharedContext {
                reason: "it was encoded by a model of another shape".into(),
            }
            .into());
        }
        let shape = self.kv_shape(sharing.len(), capacity);
        let k = &self.kernels;
        Ok(KvCache::new(
            timed(k, "new_kv", || k.new_kv(shape))?,
            shape,
            Some(Arc::clone(context)),
            sharing,
        ))
    }

    /// Encodes a prefix once (its tokens, positions and the mask among them),
    /// for any number of cache slots to attend to ([`Llama::new_cache_sharing`]).
    pub fn encode_context(
        &self,
        tokens: Vec<u32>,
        positions: Vec<usize>,
        mask: KeyMask,
    ) -> Result<SharedContext<K>, LlamaError> {
        let mut cache = self.new_cache(1, tokens.len())?;
        let input = ForwardInput {
            rows: vec![RowInput {
                slot: 0,
                tokens: tokens.clone(),
                positions: positions.clone(),
                mask: mask.clone(),
                bias: None,
                logits_at: Vec::new(),
            }],
        };
        self.forward(&input, &mut cache)?;
        Ok(SharedContext::new(
            cache.kv,
            cache.shape,
            tokens,
            positions,
            mask,
        ))
    }

    /// An independent copy of `cache` (the shared context stays shared).
    pub fn fork_cache(&self, cache: &KvCache<K>) -> Result<KvCache<K>, LlamaError> {
        Ok(cache.with_store(self.kernels.copy_kv(&cache.kv, cache.shape)?))
    }

    /// A cache holding the given slots of `cache`, in that order (slots may repeat).
    pub fn select_slots(
        &self,
        cache: &KvCache<K>,
        slots: &[usize],
    ) -> Result<KvCache<K>, LlamaError> {
        if slots.is_empty() {
            return Err(InputError::SlotSelection {
                reason: "no slot selected".into(),
            }
            .into());
        }
        if let Some(bad) = slots.iter().find(|&&s| s >= cache.slots()) {
            return Err(InputError::SlotSelection {
                reason: format!("slot {bad} is not below {}", cache.slots()),
            }
            .into());
        }
        let to = self.kv_shape(slots.len(), cache.capacity());
        let kv = self
            .kernels
            .remap_kv(&cache.kv, cache.shape, to, slots, cache.longest())?;
        Ok(cache.rebuilt(kv, to, slots))
    }

    /// Runs the new tokens of `input` over the cached ones, writes their keys
    /// and values into `cache`, and returns the logits at the requested
    /// positions.
    ///
    /// Nothing is changed when the input is invalid.
    pub fn forward(
        &self,
        input: &ForwardInput,
        cache: &mut KvCache<K>,
    ) -> Result<Logits<K>, LlamaError> {
        if cache.shape.layers != self.layers.len() {
            return Err(InputError::CacheLayers {
                found: cache.shape.layers,
                expected: self.layers.len(),
            }
            .into());
        }
        if cache.shape.heads != self.heads {
            return Err(InputError::CacheHeads.into());
        }
        let states = cache.slot_states();
        let planning = Instant::now();
        let plan = input.plan(
            &Limits {
                vocab: self.config.vocab_size,
                window: self.config.sliding_window,
                max_positions: self.config.max_position_embeddings,
                heads: self.heads,
                slots: &states,
            },
            &self.rope,
        )?;
        if crate::profile::enabled() {
            crate::profile::record("plan (host)", planning.elapsed());
        }
        let needed = plan
            .rows
            .iter()
            .map(|r| r.cached + r.len)
            .max()
            .unwrap_or(0);
        self.reserve(cache, needed)?;
        let grown: Vec<(usize, usize)> = plan.rows.iter().map(|r| (r.slot, r.len)).collect();
        let logit_rows = plan.logit_tokens.len();
        let k = &self.kernels;
        let _span =
            tracing::trace_span!("forward", tokens = plan.len(), rows = plan.rows.len()).entered();
        let pass = timed(k, "prepare", || k.prepare(plan))?;
        let mut x = timed(k, "embed", || k.embed(&self.embed, &pass))?;
        let (kv, shared) = cache.stores();
        for (index, layer) in self.layers.iter().enumerate() {
            let _span = tracing::trace_span!("layer", index).entered();
            layer.forward(k, &mut x, &pass, index, kv, shared, self.eps)?;
        }
        for (slot, added) in grown {
            cache.advance(slot, added);
        }
        let values = if logit_rows == 0 {
            None
        } else {
            let picked = timed(k, "logit_rows", || k.logit_rows(&x, &pass))?;
            let normed = timed(k, "rms_norm", || k.rms_norm(&picked, &self.norm, self.eps))?;
            let table = self.lm_head.as_ref().unwrap_or(&self.embed);
            Some(timed(k, "lm_head", || k.lm_head(&normed, table))?)
        };
        Ok(Logits {
            values,
            rows: logit_rows,
            vocab: self.config.vocab_size,
        })
    }

    /// Grows the cache's store (doubling) when a slot needs `needed` tokens.
    fn reserve(&self, cache: &mut KvCache<K>, needed: usize) -> Result<(), LlamaError> {
        if needed <= cache.capacity() {
            return Ok(());
        }
        let capacity = needed.max(2 * cache.capacity());
        tracing::debug!(from = cache.capacity(), to = capacity, "KV cache grows");
        let to = self.kv_shape(cache.slots(), capacity);
        let slots: Vec<usize> = (0..cache.slots()).collect();
        let k = &self.kernels;
        let kv = timed(k, "grow_kv", || {
            k.remap_kv(&cache.kv, cache.shape, to, &slots, cache.longest())
        })?;
        *cache = cache.rebuilt(kv, to, &slots);
        Ok(())
    }

    /// The logits as f32 on the host, `[rows, vocab]` row-major.
    pub fn logits_to_vec(&self, logits: &Logits<K>) -> Result<Vec<f32>, LlamaError> {
        match &logits.values {
            Some(values) => self.kernels.to_host(values),
            None => Ok(Vec::new()),
        }
    }

    /// One next token per selection, chosen where the logits are (only the
    /// choices are copied back from a device).
    pub fn select(
        &self,
        logits: &Logits<K>,
        selections: &[Selection],
    ) -> Result<Vec<Picked>, LlamaError> {
        match &logits.values {
            Some(values) => timed(&self.kernels, "select", || {
                self.kernels.select(values, selections)
            }),
            None if selections.is_empty() => Ok(Vec::new()),
            None => Err(InputError::EmptySelection.into()),
        }
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
    } else if config.sliding_window == Some(0) {
        Some("sliding_window 0 would hide every key".to_string())
    } else if config.vocab_size == 0 || config.hidden_size == 0 {
        Some("vocab_size and hidden_size must be positive".to_string())
    } else {
        None
    };
    problem.map_or(Ok(heads), |p| Err(LlamaError::Config(p)))
}

/// Fetches named tensors from a source, checks their shapes and hands them to
/// the kernels.
struct Loader<'a, K: Kernels> {
    source: &'a dyn WeightSource,
    kernels: &'a K,
    config: &'a LlamaConfig,
    /// Host buffers for the parts of a fused linear map, reused layer after
    /// layer (slot `i` holds part `i`: q / gate in 0, k / up in 1, v in 2).
    scratch: RefCell<Vec<Vec<f32>>>,
    /// Time spent handing weights to the kernels (uploads), reported in the
    /// load's debug event.
    upload_time: Cell<Duration>,
}

/// A model's weights in load order: embedding table, decoder layers, final
/// norm, and the LM head unless it is tied to the embedding.
type Weights<K> = (
    <K as Kernels>::Matrix,
    Vec<DecoderLayer<K>>,
    <K as Kernels>::Vector,
    Option<<K as Kernels>::Matrix>,
);

impl<K: Kernels> Loader<'_, K> {
    /// Every weight of the model, checked against the config.
    fn weights(&self, heads: Heads) -> Result<Weights<K>, LlamaError> {
        let config = self.config;
        let embed = self.table(
            "model.embed_tokens.weight",
            [config.vocab_size, config.hidden_size],
        )?;
        let layers = (0..config.num_hidden_layers)
            .map(|i| self.decoder_layer(i, heads))
            .collect::<Result<Vec<_>, _>>()?;
        let norm = self.vector("model.norm.weight", config.hidden_size)?;
        let tied = config.tie_word_embeddings && !self.source.contains("lm_head.weight");
        let lm_head = match tied {
            true => None,
            false => Some(self.table("lm_head.weight", [config.vocab_size, config.hidden_size])?),
        };
        Ok((embed, layers, norm, lm_head))
    }

    fn decoder_layer(&self, index: usize, heads: Heads) -> Result<DecoderLayer<K>, LlamaError> {
        let prefix = format!("model.layers.{index}");
        let hidden = self.config.hidden_size;
        let inter = self.config.intermediate_size;
        let attn = |name: &str| format!("{prefix}.self_attn.{name}.weight");
        let mlp = |name: &str| format!("{prefix}.mlp.{name}.weight");
        let (qkv, qkv_bias) = self.fused_linear(
            &[
                (attn("q_proj"), heads.q_width()),
                (attn("k_proj"), heads.kv_width()),
                (attn("v_proj"), heads.kv_width()),
            ],
            hidden,
        )?;
        let (o, _) = self.fused_linear(&[(attn("o_proj"), hidden)], heads.q_width())?;
        let (gate_up, _) = self.fused_linear(
            &[(mlp("gate_proj"), inter), (mlp("up_proj"), inter)],
            hidden,
        )?;
        let (down, _) = self.fused_linear(&[(mlp("down_proj"), hidden)], inter)?;
        Ok(DecoderLayer {
            input_norm: self.vector(&format!("{prefix}.input_layernorm.weight"), hidden)?,
            qkv,
            qkv_bias,
            o,
            post_attention_norm: self
                .vector(&format!("{prefix}.post_attention_layernorm.weight"), hidden)?,
            gate_up,
            down,
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
    ) -> Result<(K::Matrix, Option<K::Vector>), LlamaError> {
        let outputs: usize = parts.iter().map(|(_, out)| out).sum();
        let mut scratch = self.scratch.borrow_mut();
        if scratch.len() < parts.len() {
            scratch.resize_with(parts.len(), Vec::new);
        }
        for ((name, out), buffer) in parts.iter().zip(scratch.iter_mut()) {
            self.host_into(name, &[*out, inputs], buffer)?;
        }
        let blocks: Vec<&[f32]> = scratch[..parts.len()].iter().map(Vec::as_slice).collect();
        let weight = if self.kernels.takes_outputs_major() {
            self.timed(|| {
                self.kernels
                    .stacked_matrix(&blocks, outputs, inputs, MatrixUse::LinearOutputsMajor)
            })?
        } else {
            let transposed = parallel::stack_transposed(&blocks, inputs, |x| x);
            self.timed(|| {
                self.kernels
                    .matrix(transposed, inputs, outputs, MatrixUse::Linear)
            })?
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
            Some(self.timed(|| self.kernels.vector(values))?)
        } else {
            None
        };
        Ok((weight, bias))
    }

    /// Runs a hand-over to the kernels, timed: every weight goes through here.
    fn timed<T>(&self, upload: impl FnOnce() -> Result<T, LlamaError>) -> Result<T, LlamaError> {
        let started = Instant::now();
        let out = upload();
        self.upload_time
            .set(self.upload_time.get() + started.elapsed());
        out
    }

    /// A `[vocab, hidden]` table (embedding, LM head).
    fn table(&self, name: &str, shape: [usize; 2]) -> Result<K::Matrix, LlamaError> {
        let host = self.host(name, &shape)?;
        self.timed(|| {
            self.kernels
                .matrix(host.data, shape[0], shape[1], MatrixUse::Table)
        })
    }

    fn vector(&self, name: &str, len: usize) -> Result<K::Vector, LlamaError> {
        let host = self.host(name, &[len])?;
        self.timed(|| self.kernels.vector(host.data))
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
        return Err(LlamaError::ShapeMismatch {
            path: None,
            tensor: name.to_string(),
            found,
            expected: expected.to_vec(),
        });
    }
    Ok(())
}
