"""The block-level simulator's RateCache: an object a run is given (not module state), shared between runs
and backends, picklable with its counts, and carrying the dense cost model; and the simulator never imports a
backend."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

from swallowtail.backends import get_backend
from swallowtail.errors import SpecError
from swallowtail.sim.network import DENSE_COST_MODELS, RateCache, default_cache, simulate_network
from swallowtail.workload.lower import lower

ARCH = "df-4x4-simd8"


@pytest.fixture(scope="module")
def workload():
    return lower("lra-image", 64)


@pytest.fixture(scope="module")
def filled(workload):
    """A fresh cache after one multilayer run of `workload`, and that run."""
    cache = RateCache()
    run = simulate_network(workload, ARCH, "multilayer", cache=cache)
    return cache, run


def test_first_run_misses_second_run_all_hits(workload, filled):
    cache0, run1 = filled
    cache = pickle.loads(pickle.dumps(cache0))  # leave the module fixture as it was
    assert cache.misses > 0 and len(cache) == cache.misses  # every miss stored one entry
    hits, misses = cache.hits, cache.misses
    run2 = simulate_network(workload, ARCH, "multilayer", cache=cache)
    assert cache.misses == misses  # nothing probed again
    assert cache.hits > hits
    assert run2.result.to_json() == run1.result.to_json()
    assert run2.timeline == run1.timeline


def test_pickle_round_trip(workload, filled):
    cache, run1 = filled
    back = pickle.loads(pickle.dumps(cache))
    assert back is not cache
    assert back == cache  # same tables, dense cost model and counts
    assert back.stats() == cache.stats()
    assert (back.hits, back.misses) == (cache.hits, cache.misses)
    misses = back.misses
    run2 = simulate_network(workload, ARCH, "multilayer", cache=back)
    assert back.misses == misses
    assert run2.result.to_json() == run1.result.to_json()


def test_save_and_load(tmp_path, filled):
    cache, _ = filled
    path = tmp_path / "rates.pkl"
    cache.save(path)
    assert RateCache.load(path) == cache
    path.write_bytes(pickle.dumps({"not": "a cache"}))
    with pytest.raises(SpecError, match="RateCache"):
        RateCache.load(path)


def test_backends_share_a_cache(workload, filled):
    _, run1 = filled
    cache = RateCache()
    a = get_backend("dataflow-multilayer", arch=ARCH, cache=cache)
    b = get_backend("dataflow-multilayer", arch=ARCH, cache=cache)
    assert a.cache is cache and b.cache is cache
    ra = a.run(workload)
    misses = cache.misses
    rb = b.run(workload)
    assert cache.misses == misses and cache.hits > 0
    assert ra.to_json() == rb.to_json() == run1.result.to_json()
    # a backend given no cache holds the process-wide default
    assert get_backend("dataflow-single-layer", arch=ARCH).cache is default_cache()
    with pytest.raises(SpecError, match="RateCache"):
        get_backend("dataflow-multilayer", arch=ARCH, cache={})
    with pytest.raises(SpecError, match="option"):
        get_backend("dataflow-multilayer", arch=ARCH, no_such_option=1)


def test_dense_cost_model_per_cache(workload, filled):
    _, cycle = filled
    analytic_cache = RateCache(dense_cost_model="analytic")
    analytic = simulate_network(workload, ARCH, "multilayer", cache=analytic_cache)
    assert not analytic_cache.dense and not analytic_cache.alone  # no dense program probed
    assert any("DENSE_COST_MODEL = 'analytic'" in n for n in analytic.result.notes)
    assert any("DENSE_COST_MODEL = 'cycle'" in n for n in cycle.result.notes)
    assert analytic.result.to_json() != cycle.result.to_json()
    # the same process, the other model again: each run follows its own cache, nothing global changed
    again = simulate_network(workload, ARCH, "multilayer", cache=RateCache(dense_cost_model="cycle"))
    assert again.result.to_json() == cycle.result.to_json()
    assert set(DENSE_COST_MODELS) == {"cycle", "analytic"}
    with pytest.raises(SpecError, match="dense_cost_model"):
        RateCache(dense_cost_model="guess")


def test_clear_resets_contents_and_counts(filled):
    cache = pickle.loads(pickle.dumps(filled[0]))
    cache.clear()
    assert len(cache) == 0 and cache.stats()["hits"] == cache.stats()["misses"] == 0


def test_sim_does_not_import_backends():
    code = (
        "import sys, swallowtail.sim, swallowtail.sim.network; "
        "bad = sorted(m for m in sys.modules if m.startswith('swallowtail.backends')); "
        "assert not bad, bad"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_entries_since_is_a_rate_cache_and_merge_checks_the_dense_cost_model(filled):
    cache, _ = filled
    snap = cache.keys()
    assert len(cache.entries_since(snap)) == 0
    every = cache.entries_since(None)
    assert isinstance(every, RateCache) and every.dense_cost_model == cache.dense_cost_model
    assert len(every) == len(cache) and (every.hits, every.misses) == (0, 0)
    fresh = RateCache()
    fresh.merge(every)
    assert fresh.keys() == cache.keys() and (fresh.hits, fresh.misses) == (0, 0)
    with pytest.raises(SpecError, match="dense_cost_model"):
        RateCache(dense_cost_model="analytic").merge(every)
    with pytest.raises(SpecError, match="a RateCache"):
        fresh.merge({"kernels": {}})  # a bare dict would skip the dense cost model's check
