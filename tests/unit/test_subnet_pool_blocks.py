"""Carving a subnet out of a pool: the first free block, found in one walk, is the block a brute-force search of
every block against every carved subnet finds (the default pool holds a /16: a thousand projects' networks)."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from twinstack.core.network.subnet_pools import IPNetwork, first_free

PREFIXES = [ipaddress.ip_network("10.0.0.0/20"), ipaddress.ip_network("192.168.0.0/24"),
            ipaddress.ip_network("fd00::/116")]


def brute_force(prefix: IPNetwork, length: int, carved: list[IPNetwork]) -> IPNetwork | None:
    for block in prefix.subnets(new_prefix=length):
        if not any(block.overlaps(taken) for taken in carved):
            return block
    return None


@st.composite
def pools(draw: st.DrawFn) -> tuple[IPNetwork, int, list[IPNetwork]]:
    prefix = draw(st.sampled_from(PREFIXES))
    carved = []
    for _ in range(draw(st.integers(0, 25))):
        length = draw(st.integers(prefix.prefixlen, prefix.max_prefixlen - 2))
        offset = draw(st.integers(0, (1 << (length - prefix.prefixlen)) - 1))
        carved.append(ipaddress.ip_network((int(prefix.network_address) + (offset << (prefix.max_prefixlen - length)),
                                            length)))
    return prefix, draw(st.integers(prefix.prefixlen, prefix.max_prefixlen - 4)), carved


@given(pools())
def test_the_first_free_block_is_the_brute_forces(pool: tuple[IPNetwork, int, list[IPNetwork]]) -> None:
    prefix, length, carved = pool
    assert first_free(prefix, length, carved) == brute_force(prefix, length, carved)


def test_a_full_pool_has_no_free_block_and_a_pool_of_a_thousand_networks_finds_the_next() -> None:
    prefix = ipaddress.ip_network("10.0.0.0/16")
    carved: list[IPNetwork] = list(prefix.subnets(new_prefix=26))[:1000]
    assert first_free(prefix, 26, carved) == ipaddress.ip_network("10.0.250.0/26")
    assert first_free(prefix, 16, carved) is None
    assert first_free(ipaddress.ip_network("10.0.0.0/24"), 26, list(ipaddress.ip_network("10.0.0.0/24").subnets(
        new_prefix=26))) is None
