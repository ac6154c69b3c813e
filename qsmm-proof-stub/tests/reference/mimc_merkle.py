#!/usr/bin/env python3
"""Independent reference for the MiMC-Merkle known answers in ../merkle.rs.

Plain Python integers mod p and hashlib's SHAKE256; shares no code with the Rust crates.
Run `python3 mimc_merkle.py` and compare with the constants pinned in the tests.
"""
from hashlib import shake_256

P = 0x40000000000000000000000000000000224698FC094CF91B992D30ED00000001
ROUNDS = 91
DOMAIN = b"qsmm/v1/shatter/mimc7-pallas/round-constants"


def h2f(data):
    return int.from_bytes(shake_256(data).digest(64), "little") % P


C = [0] + [h2f(DOMAIN + i.to_bytes(4, "little")) for i in range(1, ROUNDS)]


def encrypt(k, x):
    for c in C:
        x = pow((x + k + c) % P, 7, P)
    return (x + k) % P


def compress(l, r):
    return (encrypt(l, r) + r + l) % P


def chain(tag, xs):
    for x in xs:
        tag = compress(tag, x)
    return tag


LEAF_TAG = h2f(b"qsmm/v1/proof/leaf\x00leaf")
EMPTY = h2f(b"qsmm/v1/proof/leaf\x00empty")
NODE_TAG = h2f(b"qsmm/v1/proof/node\x00node")
ROOT_TAG = h2f(b"qsmm/v1/proof/node\x00root")


def leaf(content):
    chunks = [int.from_bytes(content[i:i + 31], "little") for i in range(0, len(content), 31)]
    return chain(LEAF_TAG, [len(content)] + chunks)


def node(l, r):
    return chain(NODE_TAG, [l, r])


def depth(n):
    return (n - 1).bit_length()


def tree_levels(generation, blocks):
    n = len(blocks)
    level = [leaf(b) for b in blocks] + [EMPTY] * ((1 << depth(n)) - n)
    levels = [level]
    while len(level) > 1:
        level = [node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def root(generation, blocks):
    top = tree_levels(generation, blocks)[-1][0]
    return chain(ROOT_TAG, [generation, len(blocks), top])


def le(x):
    return x.to_bytes(32, "little").hex()


def proof(generation, blocks, index):
    levels = tree_levels(generation, blocks)
    out = bytes([1]) + generation.to_bytes(8, "little") + len(blocks).to_bytes(8, "little")
    out += index.to_bytes(8, "little") + bytes([len(levels) - 1])
    for h in range(len(levels) - 1):
        out += levels[h][(index >> h) ^ 1].to_bytes(32, "little")
    return out.hex()


def block(i):
    """The fixed test blocks: block i is 100 + i bytes of value i + 1."""
    return bytes([i + 1]) * (100 + i)


if __name__ == "__main__":
    print("compress(1, 2) be", format(compress(1, 2), "064x"))
    print("leaf_tag ", le(LEAF_TAG))
    print("node_tag ", le(NODE_TAG))
    print("root_tag ", le(ROOT_TAG))
    print("empty    ", le(EMPTY))
    print("leaf('') ", le(leaf(b"")))
    print("leaf(abc)", le(leaf(b"abc")))
    for n in (1, 2, 3, 5):
        print(f"root n={n}", le(root(7, [block(i) for i in range(n)])))
    print("proof n=5 i=4", proof(7, [block(i) for i in range(5)], 4))
