"""Loading Hugging Face GPT-2 and Llama weights into ``tinyformer.model.GPT``.

GPT-2's checkpoints differ from ``GPT`` in two mechanical ways:

1. Names: ``transformer.h.3.mlp.c_fc.weight`` is our ``blocks.3.mlp.up.weight``, and so
   on.
2. Layout: GPT-2 uses a ``Conv1D`` module that computes ``x @ W + b`` with ``W`` of
   shape ``(in, out)``; ``nn.Linear`` computes ``x @ W.T + b`` with ``W`` of shape
   ``(out, in)``. Every such matrix is transposed. The fused query/key/value projection
   ``c_attn`` ``(C, 3C)`` is also split into three ``(C, C)`` matrices, in the order q,
   k, v.

Llama checkpoints (``LlamaForCausalLM``) need no transposition: their projections are
``nn.Linear`` too. They differ by name only, plus the configuration: RMSNorm with its
own epsilon, SwiGLU, rotary positions with their own base (theta), grouped-query
attention and an untied output head. Hugging Face stores the query and key projections
for the "split halves" RoPE layout (``rotate_half``), which is ``GPT``'s default; Meta's
original checkpoints pair adjacent dimensions instead
(``GPTConfig(rope_interleaved=True)``), and converting between the two permutes the rows
of ``q_proj`` and ``k_proj`` (``interleaved_to_halves``).

Nothing here downloads anything: pass a model or a state dict you already have. A state
dict that does not fit fails with a ``ValueError`` that names the key and the shapes.

Example (needs ``transformers``)::

    from transformers import GPT2Config, GPT2LMHeadModel
    hf = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=64))  # random weights
    model = gpt_from_hf_gpt2(hf.eval()).eval()                       # same logits as hf
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from tinyformer.config import GPTConfig
from tinyformer.positional import rope_permutation

__all__ = [
    "config_from_hf_gpt2",
    "convert_hf_gpt2_state_dict",
    "load_hf_gpt2_weights",
    "gpt_from_hf_gpt2",
    "config_from_hf_llama",
    "convert_hf_llama_state_dict",
    "load_hf_llama_weights",
    "gpt_from_hf_llama",
    "interleaved_to_halves",
    "load_converted",
]

# GPT-2 name (after "h.{i}.") -> our name (after "blocks.{i}."), and whether to
# transpose.
_BLOCK_MAP = {
    "ln_1.weight": ("ln_1.weight", False),
    "ln_1.bias": ("ln_1.bias", False),
    "attn.c_proj.weight": ("attn.out_proj.weight", True),
    "attn.c_proj.bias": ("attn.out_proj.bias", False),
    "ln_2.weight": ("ln_2.weight", False),
    "ln_2.bias": ("ln_2.bias", False),
    "mlp.c_fc.weight": ("mlp.up.weight", True),
    "mlp.c_fc.bias": ("mlp.up.bias", False),
    "mlp.c_proj.weight": ("mlp.down.weight", True),
    "mlp.c_proj.bias": ("mlp.down.bias", False),
}
_TOP_MAP = {
    "wte.weight": "wte.weight",
    "wpe.weight": "wpe.weight",
    "ln_f.weight": "ln_f.weight",
    "ln_f.bias": "ln_f.bias",
}


def config_from_hf_gpt2(hf_config, **overrides: object) -> GPTConfig:
    """The ``GPTConfig`` of a ``transformers.GPT2Config`` (dropout 0 unless overridden).

    Raises ValueError for GPT-2 options ``GPT`` does not implement (another activation,
    another LayerNorm epsilon, per-layer attention scaling).
    """
    act = getattr(hf_config, "activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError(
            "GPT uses the tanh-approximated GELU ('gelu_new'); this GPT2Config uses "
            f"{act!r}"
        )
    if abs(getattr(hf_config, "layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12:
        raise ValueError(
            "GPT's LayerNorm uses eps=1e-5; this GPT2Config uses "
            f"{hf_config.layer_norm_epsilon}"
        )
    if getattr(hf_config, "scale_attn_by_inverse_layer_idx", False) or not getattr(
        hf_config, "scale_attn_weights", True
    ):
        raise ValueError(
            "GPT scales attention scores by 1/sqrt(head_dim) only; change the "
            "GPT2Config's scaling options"
        )
    fields = dict(
        vocab_size=hf_config.vocab_size,
        block_size=hf_config.n_positions,
        n_layer=hf_config.n_layer,
        n_head=hf_config.n_head,
        n_embd=hf_config.n_embd,
        ffn_hidden=getattr(hf_config, "n_inner", None),
        dropout=0.0,
        bias=True,
        norm="layernorm",
        ffn="gelu",
        position="learned",
        norm_position="pre",
        tie_weights=bool(getattr(hf_config, "tie_word_embeddings", True)),
    )
    return GPTConfig(**{**fields, **overrides})


def convert_hf_gpt2_state_dict(
    state_dict: Mapping[str, torch.Tensor], n_layer: int
) -> dict[str, torch.Tensor]:
    """Rename and transpose a GPT-2 state dict into ``GPT``'s names and Linear layout.

    Accepts keys with or without the ``transformer.`` prefix (``GPT2LMHeadModel`` vs
    ``GPT2Model``); buffers such as the old causal-mask ``attn.bias`` are skipped. The
    output head ``lm_head.weight`` is copied when present (it is ``wte.weight`` when
    tied).
    """
    sd = {k.removeprefix("transformer."): v for k, v in state_dict.items()}
    take = _taker(sd, "GPT-2")
    out: dict[str, torch.Tensor] = {}
    for hf_name, ours in _TOP_MAP.items():
        out[ours] = take(hf_name)
    for i in range(n_layer):
        p = f"h.{i}."
        for hf_name, (ours, transpose) in _BLOCK_MAP.items():
            w = take(p + hf_name)
            out[f"blocks.{i}.{ours}"] = w.t().contiguous() if transpose else w
        c = take(p + "ln_1.weight").shape[0]
        qkv_w, qkv_b = take(p + "attn.c_attn.weight"), take(p + "attn.c_attn.bias")
        if qkv_w.shape != (c, 3 * c):
            raise ValueError(
                f"expected c_attn.weight of shape {(c, 3 * c)} (Conv1D layout), got "
                f"{tuple(qkv_w.shape)}"
            )
        for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
            out[f"blocks.{i}.attn.{name}.weight"] = (
                qkv_w[:, j * c : (j + 1) * c].t().contiguous()
            )
            out[f"blocks.{i}.attn.{name}.bias"] = qkv_b[j * c : (j + 1) * c]
    if "lm_head.weight" in sd:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return out


def _taker(sd: Mapping[str, torch.Tensor], source: str):
    def take(name: str) -> torch.Tensor:
        if name not in sd:
            raise ValueError(
                f"the {source} state dict has no {name!r}: is it a {source} checkpoint "
                "with the configuration given?"
            )
        return sd[name]

    return take


@torch.no_grad()
def load_converted(model, converted: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy tensors already named and laid out as ``model``'s into it, in place.

    Every parameter must be covered and every shape must match; the error names the
    first parameter that does not fit and both shapes (a different vocabulary shows up
    here, at ``wte.weight``).
    """
    converted = dict(converted)
    if getattr(model.config, "tie_weights", False):
        converted.pop("lm_head.weight", None)
    params = dict(model.named_parameters())  # tied weights appear once, as wte.weight
    missing = sorted(set(params) - set(converted))
    if missing:
        raise ValueError(
            f"the {source} state dict does not cover these parameters: {missing[:5]}"
        )
    for name, tensor in converted.items():
        if name not in params:
            raise ValueError(
                f"{type(model).__name__} has no parameter {name!r}: is the config the "
                "checkpoint's config?"
            )
        if params[name].shape != tensor.shape:
            raise ValueError(
                f"{name}: {type(model).__name__} expects shape "
                f"{tuple(params[name].shape)}, the {source} "
                f"checkpoint has {tuple(tensor.shape)}"
            )
    for name, tensor in converted.items():
        params[name].copy_(tensor)


def load_hf_gpt2_weights(model, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a GPT-2 state dict into ``model`` (a ``GPT``) in place.

    Every parameter must be covered.
    """
    converted = convert_hf_gpt2_state_dict(state_dict, model.config.n_layer)
    load_converted(model, converted, "GPT-2")


def _gpt_from_hf(hf_model, make_config, load_weights):
    """A ``GPT`` with ``hf_model``'s configuration, dtype and weights."""
    from tinyformer.model import GPT

    model = GPT(make_config(hf_model.config)).to(next(hf_model.parameters()).dtype)
    load_weights(model, hf_model.state_dict())
    return model


def gpt_from_hf_gpt2(hf_model):
    """A ``GPT`` with the configuration and weights of a ``transformers`` GPT-2."""
    return _gpt_from_hf(hf_model, config_from_hf_gpt2, load_hf_gpt2_weights)


# --- Llama ----------------------------------------------------------------------------

# Llama name (after "model.layers.{i}.") -> our name (after "blocks.{i}.")
_LLAMA_BLOCK_MAP = {
    "input_layernorm.weight": "ln_1.weight",
    "self_attn.q_proj.weight": "attn.q_proj.weight",
    "self_attn.k_proj.weight": "attn.k_proj.weight",
    "self_attn.v_proj.weight": "attn.v_proj.weight",
    "self_attn.o_proj.weight": "attn.out_proj.weight",
    "post_attention_layernorm.weight": "ln_2.weight",
    "mlp.gate_proj.weight": "mlp.gate.weight",
    "mlp.up_proj.weight": "mlp.up.weight",
    "mlp.down_proj.weight": "mlp.down.weight",
}


def _rope_theta(hf_config) -> float:
    params = getattr(hf_config, "rope_parameters", None) or {}
    scaling = getattr(hf_config, "rope_scaling", None) or {}
    kind = params.get("rope_type", scaling.get("rope_type", "default"))
    if kind not in ("default", None):
        raise ValueError(
            f"this LlamaConfig uses RoPE scaling {kind!r}; GPT implements plain RoPE "
            "only"
        )
    theta = params.get("rope_theta", getattr(hf_config, "rope_theta", None))
    return float(10000.0 if theta is None else theta)


def config_from_hf_llama(hf_config, **overrides: object) -> GPTConfig:
    """The ``GPTConfig`` of a ``transformers.LlamaConfig``.

    Dropout is 0 unless overridden.

    Raises ValueError for options ``GPT`` does not implement: biases, another activation
    than SiLU, a head width other than ``hidden_size / num_attention_heads``, RoPE
    scaling.
    """
    if getattr(hf_config, "hidden_act", "silu") != "silu":
        raise ValueError(
            f"GPT's SwiGLU uses SiLU; this LlamaConfig uses {hf_config.hidden_act!r}"
        )
    if getattr(hf_config, "attention_bias", False) or getattr(
        hf_config, "mlp_bias", False
    ):
        raise ValueError("this LlamaConfig has biases; GPT's Llama layout has none")
    heads = hf_config.num_attention_heads
    head_dim = getattr(hf_config, "head_dim", None)
    if head_dim is not None and head_dim * heads != hf_config.hidden_size:
        raise ValueError(
            "GPT's heads are hidden_size / num_attention_heads = "
            f"{hf_config.hidden_size // heads} wide; this LlamaConfig sets "
            f"head_dim={head_dim}"
        )
    fields = dict(
        vocab_size=hf_config.vocab_size,
        block_size=hf_config.max_position_embeddings,
        n_layer=hf_config.num_hidden_layers,
        n_head=heads,
        n_kv_head=getattr(hf_config, "num_key_value_heads", None) or heads,
        n_embd=hf_config.hidden_size,
        ffn_hidden=hf_config.intermediate_size,
        dropout=0.0,
        bias=False,
        norm="rmsnorm",
        ffn="swiglu",
        position="rope",
        norm_position="pre",
        tie_weights=bool(getattr(hf_config, "tie_word_embeddings", False)),
        rope_base=_rope_theta(hf_config),
        rope_interleaved=False,
        norm_eps=float(hf_config.rms_norm_eps),
    )
    return GPTConfig(**{**fields, **overrides})


def convert_hf_llama_state_dict(
    state_dict: Mapping[str, torch.Tensor], n_layer: int
) -> dict[str, torch.Tensor]:
    """Rename a Llama state dict into ``GPT``'s names.

    No transposes: both use ``nn.Linear``.

    Accepts keys with or without the ``model.`` prefix (``LlamaForCausalLM`` vs
    ``LlamaModel``); buffers such as ``rotary_emb.inv_freq`` are skipped.
    """
    sd = {k.removeprefix("model."): v for k, v in state_dict.items()}
    take = _taker(sd, "Llama")
    out = {
        "wte.weight": take("embed_tokens.weight"),
        "ln_f.weight": take("norm.weight"),
    }
    for i in range(n_layer):
        for hf_name, ours in _LLAMA_BLOCK_MAP.items():
            out[f"blocks.{i}.{ours}"] = take(f"layers.{i}.{hf_name}")
    if "lm_head.weight" in sd:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return out


def interleaved_to_halves(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Permute the rows of a query or key projection ``(n_heads * head_dim, C)`` from
    the interleaved RoPE layout (pairs ``(0, 1), (2, 3), ...``) to split halves (pairs
    ``(0, D/2), (1, D/2 + 1), ...``), head by head.

    Within a head, output dimensions ``0, 2, 4, ...`` move to the first half and
    ``1, 3, 5, ...`` to the second, so each rotated pair keeps its frequency. Attention
    scores are unchanged: queries and keys are permuted alike, and a dot product does
    not depend on the order of its terms.
    """
    rows, cols = weight.shape
    if rows % n_heads or (rows // n_heads) % 2:
        raise ValueError(f"{rows} rows do not split into {n_heads} heads of even width")
    head_dim = rows // n_heads
    per_head = weight.reshape(n_heads, head_dim, cols)
    return per_head[:, rope_permutation(head_dim)].reshape(rows, cols)


def load_hf_llama_weights(model, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a Llama state dict into ``model`` (a ``GPT``) in place.

    Every parameter must be covered.
    """
    if model.config.rope_interleaved:
        raise ValueError(
            "Hugging Face Llama weights use the split-halves RoPE layout: build the "
            "GPT with rope_interleaved=False"
        )
    converted = convert_hf_llama_state_dict(state_dict, model.config.n_layer)
    load_converted(model, converted, "Llama")


def gpt_from_hf_llama(hf_model):
    """A ``GPT`` with the configuration and weights of a ``transformers`` Llama."""
    return _gpt_from_hf(hf_model, config_from_hf_llama, load_hf_llama_weights)
