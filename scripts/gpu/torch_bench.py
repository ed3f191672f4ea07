#!/usr/bin/env python3
"""PyTorch side of the GPU benchmarks (run on the device machine, same session as Chorus).

Random-weight Llama with Llama-3.2-3B shapes (hidden 3072, 28 layers, 24 heads,
8 KV heads, intermediate 8192, vocab 128256) in bf16 on one GPU, HF transformers
with SDPA attention and its KV cache:

* prefill tokens/s for a batch of prompts;
* decode ms/step (one new token per row, KV cache);
* items/s of the `avg` method (P paraphrase rows, left-aligned equal lengths,
  mean of logits, 10 greedy steps), `max` (the same rows, element-wise max of the
  softmax probabilities), `per_prompt` (the same rows, each decoded greedily on its
  own), `flex` (P segments packed in one row, a dense additive 4D mask, 10 greedy
  steps) and `flex_share` (one copy of a shared prefix of --shared-len tokens, then
  the P question segments, ln P added on the prefix keys for generated queries),
  per item of P x L prompt tokens.

With --context-once, the first --shared-len tokens of every prompt are one
context for the whole run (as in the WebQuestions job: instruction + few-shot
block): it is encoded once, at batch 1, and its KV cache expanded to every row of
every batch (DynamicCache copies it on the first update), so each batch encodes
only the rows' own tokens; flex_share then packs only the P question segments
after it. This is the best a careful PyTorch user does without writing kernels.

Prints one JSON object (also written to --out). Timings are medians over --repeats
runs after one warm-up, with torch.cuda.synchronize() around each.
"""
import argparse, json, statistics, time

import torch
from transformers import LlamaConfig, LlamaForCausalLM


def config_3b():
    return LlamaConfig(
        hidden_size=3072, num_hidden_layers=28, num_attention_heads=24,
        num_key_value_heads=8, intermediate_size=8192, vocab_size=128256,
        max_position_embeddings=131072, rope_theta=500000.0, rms_norm_eps=1e-5,
        tie_word_embeddings=True, head_dim=128,
        rope_scaling={"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    )


def config_tiny():
    """A few-MB Llama for checking this script on a CPU (--tiny)."""
    return LlamaConfig(
        hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
        intermediate_size=128, vocab_size=1000, max_position_embeddings=4096,
        tie_word_embeddings=True,
    )


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn, repeats):
    fn()
    sync()
    out = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prefill-batch", type=int, default=8)
    ap.add_argument("--prefill-len", type=int, default=512)
    ap.add_argument("--decode-batch", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--decode-context", type=int, default=512)
    ap.add_argument("--decode-steps", type=int, default=32)
    ap.add_argument("--paraphrases", type=int, default=6)
    ap.add_argument("--prompt-len", type=int, default=150)
    ap.add_argument("--items", type=int, default=8, help="items per timed method run")
    ap.add_argument("--new-tokens", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--item-batch", type=int, default=1,
                    help="items decoded together (avg: item-batch x P rows; flex: item-batch packed rows)")
    ap.add_argument("--shared-len", type=int, default=120,
                    help="flex_share: prompt tokens shared by every paraphrase (instruction + few-shot)")
    ap.add_argument("--context-once", action="store_true",
                    help="encode the shared context once per run and expand its KV cache to every row")
    ap.add_argument("--parts", default="prefill,decode,avg,flex",
                    help="comma-separated subset of prefill,decode,avg,max,per_prompt,flex,flex_share")
    ap.add_argument("--out", default=None)
    ap.add_argument("--tiny", action="store_true", help="a tiny config, to check the script on a CPU")
    args = ap.parse_args()

    torch.manual_seed(0)
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    with dev:
        model = LlamaForCausalLM(config_tiny() if args.tiny else config_3b()).to(torch.bfloat16).eval()
    vocab = model.config.vocab_size
    res = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
           "dtype": "bf16", "attn": model.config._attn_implementation}

    parts = set(args.parts.split(","))
    if "prefill" in parts:
        ids = torch.randint(0, vocab, (args.prefill_batch, args.prefill_len), device=dev)
        t = timed(lambda: model(input_ids=ids, use_cache=False, logits_to_keep=1), args.repeats)
        res["prefill"] = {"batch": args.prefill_batch, "len": args.prefill_len,
                          "seconds": t, "tokens_per_s": ids.numel() / t}

    res["decode"] = []
    for b in (args.decode_batch if "decode" in parts else []):
        ctx = torch.randint(0, vocab, (b, args.decode_context), device=dev)
        tok = torch.randint(0, vocab, (b, 1), device=dev)

        def run_decode():
            out = model(input_ids=ctx, use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
            sync()
            t0 = time.perf_counter()
            for _ in range(args.decode_steps):
                out = model(input_ids=tok, past_key_values=cache, use_cache=True)
                cache = out.past_key_values
            sync()
            return (time.perf_counter() - t0) / args.decode_steps

        run_decode()
        steps = statistics.median(run_decode() for _ in range(args.repeats))
        res["decode"].append({"batch": b, "context": args.decode_context, "ms_per_step": steps * 1e3})

    P, L, N, IB = args.paraphrases, args.prompt_len, args.new_tokens, args.item_batch
    S = min(args.shared_len, L - 1)
    context_ids = torch.randint(0, vocab, (1, S), device=dev)
    context_cache = None
    if args.context_once:
        context_cache = model(input_ids=context_ids, use_cache=True, logits_to_keep=1).past_key_values

    def expanded_context(rows):
        """The context's KV cache, expanded (a view) to `rows` rows."""
        import copy
        cache = copy.copy(context_cache)
        layers = getattr(cache, "layers", None)
        if layers is not None:  # transformers >= 4.56: per-layer keys/values
            new_layers = []
            for layer in layers:
                clone = copy.copy(layer)
                clone.keys = layer.keys.expand(rows, -1, -1, -1)
                clone.values = layer.values.expand(rows, -1, -1, -1)
                new_layers.append(clone)
            cache.layers = new_layers
        else:
            cache.key_cache = [k.expand(rows, -1, -1, -1) for k in context_cache.key_cache]
            cache.value_cache = [v.expand(rows, -1, -1, -1) for v in context_cache.value_cache]
        return cache

    def encode_rows(rows):
        """Prefill `rows` prompts of L tokens: whole, or after the shared context."""
        if not args.context_once:
            ids = torch.randint(0, vocab, (rows, L), device=dev)
            return model(input_ids=ids, use_cache=True, logits_to_keep=1)
        ids = torch.randint(0, vocab, (rows, L - S), device=dev)
        pos = torch.arange(S, L, device=dev).view(1, -1).expand(rows, -1)
        return model(input_ids=ids, position_ids=pos, past_key_values=expanded_context(rows),
                     use_cache=True, logits_to_keep=1)

    def fused_rows_batch(fuse):
        # IB items x P paraphrase rows; `fuse` turns each item's P logit rows into
        # one token, appended to all P rows.
        out = encode_rows(IB * P)
        cache = out.past_key_values
        for step in range(N):
            nxt = fuse(out.logits[:, -1].float().view(IB, P, -1))
            pos = torch.full((IB * P, 1), L + step, device=dev)
            out = model(input_ids=nxt.repeat_interleave(P).view(IB * P, 1), position_ids=pos,
                        past_key_values=cache, use_cache=True)
            cache = out.past_key_values

    def avg_batch():
        fused_rows_batch(lambda logits: logits.mean(1).argmax(-1))

    def max_batch():
        fused_rows_batch(lambda logits: logits.softmax(-1).amax(1).argmax(-1))

    def per_prompt_batch():
        # The same IB x P rows, each choosing its own greedy token.
        out = encode_rows(IB * P)
        cache = out.past_key_values
        for step in range(N):
            nxt = out.logits[:, -1].argmax(-1).view(IB * P, 1)
            pos = torch.full((IB * P, 1), L + step, device=dev)
            out = model(input_ids=nxt, position_ids=pos, past_key_values=cache, use_cache=True)
            cache = out.past_key_values

    def flex_batch():
        # IB packed rows of P segments of L tokens each, a dense additive 4D mask.
        n = P * L
        ids = torch.randint(0, vocab, (IB, n), device=dev)
        seg = torch.arange(n, device=dev) // L
        causal = torch.arange(n, device=dev)[:, None] >= torch.arange(n, device=dev)[None, :]
        visible = causal & (seg[:, None] == seg[None, :])
        mask = torch.zeros(IB, 1, n, n, device=dev, dtype=torch.bfloat16)
        mask.masked_fill_(~visible, torch.finfo(torch.bfloat16).min)
        pos = (torch.arange(n, device=dev) % L).view(1, n).expand(IB, n)
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        for step in range(N):
            nxt = out.logits[:, -1].argmax(-1).view(IB, 1)
            kv = n + step + 1
            m = torch.zeros(IB, 1, 1, kv, device=dev, dtype=torch.bfloat16)
            p = torch.full((IB, 1), L + step, device=dev)
            out = model(input_ids=nxt, attention_mask=m, position_ids=p, past_key_values=cache, use_cache=True)
            cache = out.past_key_values

    def flex_share_batch():
        # One shared prefix of S tokens, then P question segments of L - S tokens;
        # questions see the prefix and themselves; generated tokens see everything,
        # with ln P on the prefix keys (one copy standing for P).
        Q = L - S
        n = S + P * Q
        idx = torch.arange(n, device=dev)
        seg = torch.where(idx < S, -1, (idx - S) // Q)
        causal = idx[:, None] >= idx[None, :]
        same = seg[:, None] == seg[None, :]
        sees_prefix = (seg[None, :] == -1).expand(n, n)
        visible = causal & (same | sees_prefix)
        pos = torch.where(idx < S, idx, S + (idx - S) % Q).view(1, n).expand(IB, n)
        first = S if args.context_once else 0  # the context's rows come from its cache
        ids = torch.randint(0, vocab, (IB, n - first), device=dev)
        mask = torch.zeros(IB, 1, n - first, n, device=dev, dtype=torch.bfloat16)
        mask.masked_fill_(~visible[first:], torch.finfo(torch.bfloat16).min)
        cache = expanded_context(IB) if args.context_once else None
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos[:, first:], past_key_values=cache,
                    use_cache=True, logits_to_keep=1)
        cache = out.past_key_values
        ln_p = float(torch.log(torch.tensor(float(P))))
        for step in range(N):
            nxt = out.logits[:, -1].argmax(-1).view(IB, 1)
            kv = n + step + 1
            m = torch.zeros(IB, 1, 1, kv, device=dev, dtype=torch.bfloat16)
            m[..., :S] = ln_p
            p = torch.full((IB, 1), L + step, device=dev)
            out = model(input_ids=nxt, attention_mask=m, position_ids=p, past_key_values=cache, use_cache=True)
            cache = out.past_key_values

    batches = max(1, args.items // IB)
    methods = [("avg", avg_batch), ("max", max_batch), ("per_prompt", per_prompt_batch),
               ("flex", flex_batch), ("flex_share", flex_share_batch)]
    for name, fn in methods:
        if name not in parts:
            continue
        t = timed(lambda: [fn() for _ in range(batches)], args.repeats)
        res[name] = {"paraphrases": P, "prompt_len": L, "shared_len": S, "new_tokens": N,
                     "items": batches * IB, "item_batch": IB, "context_once": args.context_once,
                     "seconds": t, "items_per_s": batches * IB / t}

    text = json.dumps(res, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
