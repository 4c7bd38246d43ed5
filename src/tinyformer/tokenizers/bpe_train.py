"""Learning byte-pair-encoding merges from a text.

Training sees a text as a bag of *words*: the pieces the pre-tokenization regex cuts
it into (``" the"``, ``","``, ``"\\n"``), each with its count. Every word starts as its
UTF-8 bytes, and each step merges the most frequent adjacent pair of tokens everywhere
into one new token. Two trainers do exactly that and must agree merge for merge:

- ``train_merges_naive`` recounts every pair of every word after each merge: easy
  to read, and the baseline the benchmark measures against;
- ``train_merges`` keeps the pair counts up to date instead, touching only the
  words that contain the merged pair, and finds the best pair with a heap.

Ties between equally frequent pairs go to the lexicographically greatest pair,
comparing ``(left bytes, right bytes)``, so the result never depends on dict order.
"""

from __future__ import annotations

import heapq
from collections import Counter

import regex

__all__ = ["word_counts", "train_merges", "train_merges_naive", "split_specials"]


def split_specials(
    text: str, special_tokens: tuple[str, ...] | list[str] | set[str]
) -> list[str]:
    """Cut ``text`` at every special token.

    Returns the text between them (and the specials).

    Longer specials are tried first, so ``<|a|><|ab|>`` style overlaps split the same
    way every time. With no specials the text comes back whole: ``[text]``.
    """
    if not special_tokens:
        return [text]
    alternatives = "|".join(
        regex.escape(s) for s in sorted(special_tokens, key=lambda s: (-len(s), s))
    )
    return regex.split(f"({alternatives})", text)


def word_counts(
    text: str, pattern: str, special_tokens: tuple[str, ...] = ()
) -> Counter[bytes]:
    """How often each pre-tokenized word occurs, as UTF-8 bytes; specials are left out.

    >>> sorted(word_counts("the cat, the hat, the end", r" ?\\w+|[^\\w ]").items())
    [(b' cat', 1), (b' end', 1), (b' hat', 1), (b' the', 2), (b',', 2), (b'the', 1)]
    """
    compiled = regex.compile(pattern)
    specials = set(special_tokens)
    counts: Counter[str] = Counter()
    for part in split_specials(text, special_tokens):
        if part and part not in specials:
            counts.update(compiled.findall(part))
    return Counter({word.encode("utf-8"): n for word, n in counts.items()})


def _merge_word(
    word: tuple[int, ...], pair: tuple[int, int], new_id: int
) -> tuple[int, ...]:
    """Replace every non-overlapping occurrence of ``pair`` by ``new_id``.

    Occurrences are found left to right.
    """
    out: list[int] = []
    i, n = 0, len(word)
    a, b = pair
    while i < n:
        if i + 1 < n and word[i] == a and word[i + 1] == b:
            out.append(new_id)
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)


def train_merges_naive(
    counts: Counter[bytes], num_merges: int
) -> list[tuple[int, int]]:
    """The textbook trainer: recount all pairs of all words before every merge.

    Token ids: byte ``b`` is id ``b``; merge ``k`` creates id ``256 + k``. Returns the
    merged pairs in order. Stops early if no pair is left to merge.
    """
    words = {tuple(w): n for w, n in counts.items()}
    token_bytes = [bytes([b]) for b in range(256)]
    merges: list[tuple[int, int]] = []
    for k in range(num_merges):
        stats: Counter[tuple[int, int]] = Counter()
        for word, n in words.items():
            for pair in zip(word, word[1:]):
                stats[pair] += n
        if not stats:
            break
        best = max(
            stats, key=lambda p: (stats[p], token_bytes[p[0]], token_bytes[p[1]])
        )
        new_id = 256 + k
        words = {_merge_word(w, best, new_id): n for w, n in words.items()}
        token_bytes.append(token_bytes[best[0]] + token_bytes[best[1]])
        merges.append(best)
    return merges


class _Greatest:
    """Heap key that orders byte pairs in *reverse*.

    With it, ``heapq`` pops the greatest pair first.
    """

    __slots__ = ("key",)

    def __init__(self, key: tuple[bytes, bytes]):
        self.key = key

    def __lt__(self, other: "_Greatest") -> bool:
        return self.key > other.key

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Greatest) and self.key == other.key


def train_merges(counts: Counter[bytes], num_merges: int) -> list[tuple[int, int]]:
    """Same merges as ``train_merges_naive``, with incrementally updated pair counts.

    ``stats[pair]`` is the total count of ``pair`` over all words and ``where[pair]``
    the indices of words that (may) contain it. A merge only rewrites the words listed
    under its pair and adjusts the counts of the pairs those words gain or lose. The
    best pair comes off a max-heap; entries whose count has since changed are stale
    and skipped (a fresh entry is pushed whenever a count changes).
    """
    words = [tuple(w) for w in counts]
    freqs = list(counts.values())
    token_bytes = [bytes([b]) for b in range(256)]
    stats: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for i, word in enumerate(words):
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + freqs[i]
            where.setdefault(pair, set()).add(i)

    def entry(pair: tuple[int, int], count: int) -> tuple:
        return (-count, _Greatest((token_bytes[pair[0]], token_bytes[pair[1]])), pair)

    heap = [entry(p, c) for p, c in stats.items()]
    heapq.heapify(heap)
    merges: list[tuple[int, int]] = []
    while len(merges) < num_merges and heap:
        neg, _, best = heapq.heappop(heap)
        if stats.get(best, 0) != -neg or neg == 0:
            continue  # stale entry: this pair's count changed after it was pushed
        new_id = 256 + len(merges)
        token_bytes.append(token_bytes[best[0]] + token_bytes[best[1]])
        changed: set[tuple[int, int]] = set()
        for i in where.pop(best):
            old = words[i]
            new = _merge_word(old, best, new_id)
            if new == old:
                continue
            n = freqs[i]
            for pair in zip(old, old[1:]):
                stats[pair] -= n
                changed.add(pair)
            for pair in zip(new, new[1:]):
                stats[pair] = stats.get(pair, 0) + n
                where.setdefault(pair, set()).add(i)
                changed.add(pair)
            words[i] = new
        stats.pop(best, None)
        for pair in changed:
            count = stats.get(pair, 0)
            if count > 0:
                heapq.heappush(heap, entry(pair, count))
            else:
                stats.pop(pair, None)
        merges.append(best)
    return merges
