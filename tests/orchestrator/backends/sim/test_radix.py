import pytest

from orchestrator.backends.sim import RadixCache
from orchestrator.errors import BackendError


def test_an_empty_cache_matches_nothing() -> None:
    assert RadixCache(100).match_prefix([1, 2, 3]) == 0


def test_inserted_tokens_match_in_full_and_by_prefix() -> None:
    cache = RadixCache(100)
    assert cache.insert([1, 2, 3, 4]) == 0
    assert cache.match_prefix([1, 2, 3, 4]) == 4
    assert cache.match_prefix([1, 2, 3, 4, 5, 6]) == 4
    assert cache.match_prefix([1, 2]) == 2
    assert cache.match_prefix([2, 3]) == 0
    assert cache.size == 4


def test_a_partial_match_splits_the_node_and_shares_the_prefix() -> None:
    cache = RadixCache(100)
    cache.insert([1, 2, 3, 4])
    assert cache.insert([1, 2, 9, 9, 9]) == 2
    assert cache.size == 4 + 3
    assert cache.match_prefix([1, 2, 3, 4]) == 4
    assert cache.match_prefix([1, 2, 9, 9, 9]) == 5
    assert cache.match_prefix([1, 2, 7]) == 2


def test_reinserting_cached_tokens_adds_nothing() -> None:
    cache = RadixCache(100)
    cache.insert([5, 6, 7])
    assert cache.insert([5, 6, 7]) == 3
    assert cache.insert([5, 6]) == 2
    assert cache.size == 3


def test_eviction_removes_the_least_recently_used_leaf_first() -> None:
    cache = RadixCache(9)
    cache.insert([1, 1, 1])
    cache.insert([2, 2, 2])
    cache.insert([3, 3, 3])
    cache.match_prefix([1, 1, 1])  # now [2, 2, 2] is the least recently used
    cache.insert([4, 4, 4])
    assert cache.match_prefix([2, 2, 2]) == 0
    assert cache.match_prefix([1, 1, 1]) == 3
    assert cache.match_prefix([3, 3, 3]) == 3
    assert cache.match_prefix([4, 4, 4]) == 3
    assert cache.evicted_tokens == 3


def test_eviction_walks_up_to_parents_that_become_leaves() -> None:
    cache = RadixCache(100)
    cache.insert([1, 2, 3])
    cache.insert([1, 2, 4])
    assert cache.evict(4) >= 4
    assert cache.size == 0


def test_locked_prefixes_survive_eviction() -> None:
    cache = RadixCache(6)
    cache.insert([1, 2, 3])
    held = cache.lock([1, 2, 3])
    cache.insert([4, 5, 6])
    cache.insert([7, 8, 9])  # must evict: only [4, 5, 6] is evictable
    assert cache.match_prefix([1, 2, 3]) == 3
    assert cache.match_prefix([4, 5, 6]) == 0
    assert cache.match_prefix([7, 8, 9]) == 3
    cache.unlock(held)
    assert cache.locked_tokens == 0
    assert cache.evictable_tokens == 6


def test_a_lock_covers_only_the_matched_part_and_survives_splits() -> None:
    cache = RadixCache(100)
    cache.insert([1, 2, 3, 4])
    held = cache.lock([1, 2, 3, 4, 5])
    assert held.length == 4
    cache.insert([1, 2, 7])  # splits the locked node
    assert cache.locked_tokens == 4
    cache.unlock(held)
    assert cache.locked_tokens == 0
    assert cache.evict(100) == 5


def test_capacity_is_never_exceeded_and_only_what_fits_is_cached() -> None:
    cache = RadixCache(5)
    held = cache.lock([])
    cache.insert([1, 2, 3])
    locked = cache.lock([1, 2, 3])
    cache.insert([4, 5, 6, 7])  # nothing evictable: keeps what fits
    assert cache.size == 5
    assert cache.match_prefix([4, 5, 6, 7]) == 2
    cache.unlock(locked)
    cache.unlock(held)


def test_reserved_tokens_share_the_capacity_and_evict_the_tree() -> None:
    cache = RadixCache(10)
    cache.insert(list(range(8)))
    cache.reserve(5)
    assert cache.size + cache.reserved <= 10
    assert cache.match_prefix(list(range(8))) < 8
    cache.release(5)
    assert cache.free_tokens == 10 - cache.size


def test_flush_is_refused_while_anything_is_locked() -> None:
    cache = RadixCache(100)
    cache.insert([1, 2, 3])
    held = cache.lock([1, 2, 3])
    assert cache.flush() is False
    cache.unlock(held)
    assert cache.flush() is True
    assert cache.size == 0
    assert cache.match_prefix([1, 2, 3]) == 0


def test_a_zero_capacity_cache_caches_nothing() -> None:
    cache = RadixCache(0)
    cache.insert([1, 2, 3])
    assert cache.match_prefix([1, 2, 3]) == 0


def test_negative_capacity_is_rejected() -> None:
    with pytest.raises(BackendError):
        RadixCache(-1)
