"""Network namespaces made one run ahead: each still serves exactly one run, with fresh counters."""

from __future__ import annotations

import gc
import os

import pytest

from rsilab.sandbox.netns import NamespaceSupply, NetworkNamespace

def _available() -> bool:
    namespace = NetworkNamespace.create()
    if namespace is not None:
        namespace.close()
    return namespace is not None


pytestmark = pytest.mark.skipif(not _available(), reason="needs root with unshare and nsenter")


def _inode(namespace: NetworkNamespace) -> int:
    return os.stat(namespace.prefix()[1].removeprefix("--net=")).st_ino


def test_each_take_is_a_namespace_no_run_used_and_a_spare_is_closed_with_the_supply():
    supply = NamespaceSupply()
    taken = [supply.take() for _ in range(3)]
    assert all(n is not None for n in taken)
    assert len({_inode(n) for n in taken}) == 3 and _inode(taken[0]) != os.stat("/proc/self/ns/net").st_ino
    assert all(n.packets_out() == 0 for n in taken)
    for n in taken:
        n.close()
    supply.take().close()
    supply._making.join()
    [spare] = supply._made
    holder = spare._holder
    del supply
    gc.collect()
    assert holder.poll() is not None  # the spare's holder is gone with the supply
