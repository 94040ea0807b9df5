"""A token-prefix radix tree with reference-counted locks and LRU eviction, as SGLang's RadixAttention.

It follows `python/sglang/srt/mem_cache/radix_cache.py` (page size 1): children are keyed by their
first token; a lookup or insert that ends inside a node splits it, the new upper node inheriting the
lower one's lock count; `lock` increments the count of every node on the path to the root, so the
prefixes of running requests are never evicted; eviction pops unlocked leaves in least-recently-used
order and walks up to parents that become unlocked leaves.

The capacity is the KV pool's size in tokens, shared, as on the server, between the tree and the
tokens that running requests hold outside it (`reserve`/`release`: generated tokens before the request
finishes and inserts them). An insert that would overflow first evicts; if nothing more can be evicted
it stores only the part that fits. Access times are a logical clock, so eviction order is deterministic.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field

from orchestrator.errors import BackendError


@dataclass(eq=False, slots=True)
class _Node:
    key: list[int]
    parent: _Node | None
    serial: int
    children: dict[int, _Node] = field(default_factory=dict)
    lock_ref: int = 0
    last_access: int = 0


@dataclass(frozen=True, slots=True)
class PrefixLock:
    """A held reference on a cached prefix of `length` tokens; give it back with `RadixCache.unlock`."""

    node: _Node
    length: int


class RadixCache:
    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise BackendError(f"radix cache capacity must be >= 0, got {capacity}")
        self.capacity = capacity
        self.evicted_tokens = 0
        self.evicted_nodes = 0
        self._serial = 0
        self._tick = 0
        self._size = 0
        self._locked = 0
        self._reserved = 0
        self._leaves: set[_Node] = set()
        self._root = self._new_node([], None)
        self._reset()

    # --- queries -------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Tokens held in the tree."""
        return self._size

    @property
    def reserved(self) -> int:
        """Tokens held by running requests outside the tree."""
        return self._reserved

    @property
    def locked_tokens(self) -> int:
        return self._locked

    @property
    def evictable_tokens(self) -> int:
        return self._size - self._locked

    @property
    def free_tokens(self) -> int:
        return self.capacity - self._size - self._reserved

    def match_prefix(self, tokens: Sequence[int]) -> int:
        """Length of the longest cached prefix of `tokens`; refreshes its LRU time."""
        return self._walk(tokens)[1]

    # --- locks ---------------------------------------------------------------------------------

    def lock(self, tokens: Sequence[int]) -> PrefixLock:
        """Match `tokens` and protect the matched prefix from eviction until `unlock`."""
        node, length = self._walk(tokens)
        self._lock_path(node)
        return PrefixLock(node, length)

    def unlock(self, held: PrefixLock) -> None:
        self._unlock_path(held.node)

    # --- writes --------------------------------------------------------------------------------

    def insert(self, tokens: Sequence[int]) -> int:
        """Cache `tokens` (as much as fits); returns how many of them were already cached."""
        node, matched = self._walk(tokens)
        rest = len(tokens) - matched
        if rest:
            room = self._make_room(rest, node)
            if room:
                self._add_leaf(node, list(tokens[matched : matched + room]))
        return matched

    def reserve(self, tokens: int) -> None:
        """Account `tokens` held outside the tree, evicting to make room (never refused: SGLang would retract)."""
        self._evict_for(tokens, None)
        self._reserved += tokens

    def release(self, tokens: int) -> None:
        self._reserved = max(0, self._reserved - tokens)

    def evict(self, tokens: int) -> int:
        """Evict at least `tokens` unlocked tokens, least recently used leaves first; returns how many."""
        heap = [(leaf.last_access, leaf.serial, leaf) for leaf in self._leaves]
        heapq.heapify(heap)
        evicted = 0
        while evicted < tokens and heap:
            leaf = heapq.heappop(heap)[2]
            evicted += len(leaf.key)
            parent = self._delete_leaf(leaf)
            if parent in self._leaves:
                heapq.heappush(heap, (parent.last_access, parent.serial, parent))
        return evicted

    def flush(self) -> bool:
        """Drop every cached prefix; refused (False) while any is locked or reserved, as SGLang's /flush_cache."""
        if self._locked or self._reserved:
            return False
        self._reset()
        return True

    # --- internals -----------------------------------------------------------------------------

    def _reset(self) -> None:
        self._root = self._new_node([], None)
        self._root.lock_ref = 1
        self._leaves = set()
        self._size = 0
        self._locked = 0
        self._reserved = 0

    def _new_node(self, key: list[int], parent: _Node | None) -> _Node:
        self._serial += 1
        return _Node(key, parent, self._serial, last_access=self._tick)

    def _walk(self, tokens: Sequence[int]) -> tuple[_Node, int]:
        """Descend along `tokens`, splitting the last node if the match ends inside it."""
        self._tick += 1
        tokens = tokens if isinstance(tokens, list) else list(tokens)
        node, pos, total = self._root, 0, len(tokens)
        node.last_access = self._tick
        while pos < total:
            child = node.children.get(tokens[pos])
            if child is None:
                break
            child.last_access = self._tick
            shared = _shared_length(child.key, tokens, pos)
            pos += shared
            if shared < len(child.key):
                node = self._split(child, shared)
                break
            node = child
        return node, pos

    def _split(self, child: _Node, at: int) -> _Node:
        parent = child.parent
        assert parent is not None
        upper = self._new_node(child.key[:at], parent)
        upper.lock_ref = child.lock_ref
        upper.last_access = child.last_access
        child.key = child.key[at:]
        child.parent = upper
        upper.children[child.key[0]] = child
        parent.children[upper.key[0]] = upper
        return upper

    def _add_leaf(self, parent: _Node, key: list[int]) -> None:
        leaf = self._new_node(key, parent)
        parent.children[key[0]] = leaf
        self._size += len(key)
        self._leaves.discard(parent)
        self._leaves.add(leaf)

    def _delete_leaf(self, leaf: _Node) -> _Node:
        parent = leaf.parent
        assert parent is not None
        del parent.children[leaf.key[0]]
        self._leaves.discard(leaf)
        self._size -= len(leaf.key)
        self.evicted_tokens += len(leaf.key)
        self.evicted_nodes += 1
        self._refresh_leaf(parent)
        return parent

    def _refresh_leaf(self, node: _Node) -> None:
        if node.lock_ref == 0 and not node.children:
            self._leaves.add(node)
        else:
            self._leaves.discard(node)

    def _lock_path(self, node: _Node | None) -> None:
        while node is not None and node is not self._root:
            if node.lock_ref == 0:
                self._locked += len(node.key)
                self._leaves.discard(node)
            node.lock_ref += 1
            node = node.parent

    def _unlock_path(self, node: _Node | None) -> None:
        while node is not None and node is not self._root:
            node.lock_ref -= 1
            if node.lock_ref == 0:
                self._locked -= len(node.key)
                self._refresh_leaf(node)
            node = node.parent

    def _make_room(self, tokens: int, keep: _Node) -> int:
        """Evict (sparing `keep`'s path) until `tokens` fit; returns how many fit."""
        self._evict_for(tokens, keep)
        return max(0, min(tokens, self.free_tokens))

    def _evict_for(self, tokens: int, keep: _Node | None) -> None:
        shortfall = tokens - self.free_tokens
        if shortfall <= 0:
            return
        self._lock_path(keep)
        self.evict(shortfall)
        self._unlock_path(keep)


def _shared_length(key: list[int], tokens: list[int], start: int) -> int:
    """How many leading tokens of `key` equal `tokens[start:]`."""
    if tokens[start : start + len(key)] == key:
        return len(key)
    shared = 0
    for mine, theirs in zip(key, tokens[start:]):
        if mine != theirs:
            break
        shared += 1
    return shared
