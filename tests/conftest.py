"""Shared fixtures: independent references the tests compare against."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from tinyformer.data import data_path

# The addresses tiktoken's own "gpt2" definition reads its two files from. tiktoken
# caches downloads under sha1(address) in TIKTOKEN_CACHE_DIR; placing the package's
# copies there lets tiktoken build its reference encoding (checking the files' published
# sha256 hashes itself) without network access.
_TIKTOKEN_GPT2_FILES = {
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe": (
        "gpt2/vocab.bpe"
    ),
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json": (
        "gpt2/encoder.json"
    ),
}


@pytest.fixture(scope="session")
def tiktoken_gpt2(tmp_path_factory):
    """tiktoken's own ``get_encoding("gpt2")``, built offline from our package files."""
    import tiktoken

    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for address, name in _TIKTOKEN_GPT2_FILES.items():
        shutil.copy(data_path(name), cache / hashlib.sha1(address.encode()).hexdigest())
    old = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        return tiktoken.get_encoding("gpt2")
    finally:
        if old is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = old
