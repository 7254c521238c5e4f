# A small suite for tests/scripts/test_python_pytest.sh: one test leaks into a module-level
# list, the others leave nothing. Sizes are over 512 bytes so they reach malloc.
import pytest

_cache = []


def leak_here(n):
    _cache.append(bytearray(n))          # the leaking line


def test_clean():
    tmp = [bytearray(200000) for _ in range(10)]
    assert sum(len(b) for b in tmp) == 2000000


@pytest.mark.sesstrim_limit("1M")
def test_leaks_over_marker_limit():
    for _ in range(3):
        leak_here(1 << 20)


@pytest.mark.sesstrim_limit("4M")
def test_leaks_under_marker_limit():
    leak_here(300000)


def test_leaks_small():
    leak_here(50000)
