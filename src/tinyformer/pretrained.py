"""Loading Hugging Face GPT-2 weights into :class:`tinyformer.model.GPT`.

GPT-2's checkpoints differ from ``GPT`` in two mechanical ways:

1. Names: ``transformer.h.3.mlp.c_fc.weight`` is our ``blocks.3.mlp.up.weight``, and so on.
2. Layout: GPT-2 uses a ``Conv1D`` module that computes ``x @ W + b`` with ``W`` of shape
   ``(in, out)``; ``nn.Linear`` computes ``x @ W.T + b`` with ``W`` of shape ``(out, in)``.
   Every such matrix is transposed. The fused query/key/value projection ``c_attn``
   ``(C, 3C)`` is also split into three ``(C, C)`` matrices, in the order q, k, v.

Nothing here downloads anything: pass a model or a state dict you already have.

Example (needs ``transformers``)::

    from transformers import GPT2Config, GPT2LMHeadModel
    hf = GPT2LMHeadModel(GPT2Config(n_layer=2, n_head=2, n_embd=64))  # random weights
    model = gpt_from_hf_gpt2(hf.eval()).eval()                       # same logits as hf
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from tinyformer.config import GPTConfig

__all__ = [
    "config_from_hf_gpt2",
    "convert_hf_gpt2_state_dict",
    "load_hf_gpt2_weights",
    "gpt_from_hf_gpt2",
]

# GPT-2 name (after "h.{i}.") -> our name (after "blocks.{i}."), and whether to transpose.
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
    """The :class:`GPTConfig` of a ``transformers.GPT2Config`` (dropout 0 unless overridden).

    Raises ValueError for GPT-2 options ``GPT`` does not implement (another activation,
    another LayerNorm epsilon, per-layer attention scaling).
    """
    act = getattr(hf_config, "activation_function", "gelu_new")
    if act not in ("gelu_new", "gelu_pytorch_tanh"):
        raise ValueError(
            f"GPT uses the tanh-approximated GELU ('gelu_new'); this GPT2Config uses {act!r}"
        )
    if abs(getattr(hf_config, "layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12:
        raise ValueError(
            f"GPT's LayerNorm uses eps=1e-5; this GPT2Config uses {hf_config.layer_norm_epsilon}"
        )
    if getattr(hf_config, "scale_attn_by_inverse_layer_idx", False) or not getattr(
        hf_config, "scale_attn_weights", True
    ):
        raise ValueError(
            "GPT scales attention scores by 1/sqrt(head_dim) only; change the GPT2Config's scaling options"
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
    """Rename and transpose a GPT-2 state dict into ``GPT``'s names and ``nn.Linear`` layout.

    Accepts keys with or without the ``transformer.`` prefix (``GPT2LMHeadModel`` vs
    ``GPT2Model``); buffers such as the old causal-mask ``attn.bias`` are skipped. The output
    head ``lm_head.weight`` is copied when present (it is ``wte.weight`` when tied).
    """
    sd = {k.removeprefix("transformer."): v for k, v in state_dict.items()}
    out: dict[str, torch.Tensor] = {}
    for hf_name, ours in _TOP_MAP.items():
        out[ours] = sd[hf_name]
    for i in range(n_layer):
        p = f"h.{i}."
        for hf_name, (ours, transpose) in _BLOCK_MAP.items():
            w = sd[p + hf_name]
            out[f"blocks.{i}.{ours}"] = w.t().contiguous() if transpose else w
        c = sd[p + "ln_1.weight"].shape[0]
        qkv_w, qkv_b = sd[p + "attn.c_attn.weight"], sd[p + "attn.c_attn.bias"]
        if qkv_w.shape != (c, 3 * c):
            raise ValueError(
                f"expected c_attn.weight of shape {(c, 3 * c)} (Conv1D layout), got {tuple(qkv_w.shape)}"
            )
        for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
            out[f"blocks.{i}.attn.{name}.weight"] = (
                qkv_w[:, j * c : (j + 1) * c].t().contiguous()
            )
            out[f"blocks.{i}.attn.{name}.bias"] = qkv_b[j * c : (j + 1) * c]
    if "lm_head.weight" in sd:
        out["lm_head.weight"] = sd["lm_head.weight"]
    return out


@torch.no_grad()
def load_hf_gpt2_weights(model, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy a GPT-2 state dict into ``model`` (a ``GPT``) in place; every parameter must be covered."""
    converted = convert_hf_gpt2_state_dict(state_dict, model.config.n_layer)
    if model.config.tie_weights:
        converted.pop("lm_head.weight", None)
    params = dict(model.named_parameters())  # tied weights appear once, as wte.weight
    missing = sorted(set(params) - set(converted))
    if missing:
        raise ValueError(
            f"the GPT-2 state dict does not cover these parameters: {missing[:5]}"
        )
    for name, tensor in converted.items():
        if name not in params:
            raise ValueError(
                f"GPT has no parameter {name!r}: is the config the checkpoint's config?"
            )
        if params[name].shape != tensor.shape:
            raise ValueError(
                f"{name}: GPT expects shape {tuple(params[name].shape)}, checkpoint has {tuple(tensor.shape)}"
            )
        params[name].copy_(tensor)


def gpt_from_hf_gpt2(hf_model):
    """A ``GPT`` with the configuration and weights of a ``transformers`` GPT-2 model."""
    from tinyformer.model import GPT

    model = GPT(config_from_hf_gpt2(hf_model.config)).to(
        next(hf_model.parameters()).dtype
    )
    load_hf_gpt2_weights(model, hf_model.state_dict())
    return model
