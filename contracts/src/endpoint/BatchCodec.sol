// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {Protocol} from "./Protocol.sol";

/// @title BatchCodec
/// @notice What the committee signs, computed the way docs/PROTOCOL.md fixes it: the leaf of a
///         transfer, the Merkle root of a batch (from its packed calldata form, checking every
///         transfer's values on the way), a Merkle proof's root, and the BATCH and REFUND messages.
/// @dev Internal functions only (pure hashing on the hot path of every batch, inlined in the
///      endpoint). No storage.
library BatchCodec {
    /// @dev Validates a packed batch and returns its Merkle root, its last nonce and the sum of its
    ///      amounts. Reverts on: no transfer; another destination chain; first nonce 0 or a range
    ///      past 2^64 - 1; 0 or more than 256 pairs; not one pair index per transfer, or one out of
    ///      range; an address word with bits above 160; a zero recipient; a zero amount or one above
    ///      MAX_AMOUNT. Token pairs are not looked up here (see {_verifyBatch}).
    function packedRoot(QiaoEndpoint.PackedBatch calldata batch)
        internal
        view
        returns (bytes32 root, uint64 lastNonce, uint256 sum)
    {
        uint256 n = batch.transfers.length;
        if (n == 0) revert QiaoEndpoint.EmptyBatch();
        if (batch.dstChainId != block.chainid) revert QiaoEndpoint.WrongDestinationChain(0, batch.dstChainId);
        uint64 firstNonce = batch.firstNonce;
        if (firstNonce == 0) revert QiaoEndpoint.ZeroNonce();
        // In uint256, so that a range running past 2^64 - 1 is refused rather than wrapping.
        if (uint256(firstNonce) + n - 1 > type(uint64).max) revert QiaoEndpoint.NonceRangeOverflow(firstNonce, n);
        // forge-lint: disable-next-line(unsafe-typecast) -- checked just above
        lastNonce = uint64(uint256(firstNonce) + n - 1);
        uint256 pairCount = batch.pairs.length;
        if (pairCount == 0 || pairCount > 256) revert QiaoEndpoint.InvalidPairCount(pairCount);
        if (batch.pairOf.length != n) revert QiaoEndpoint.PairIndexLengthMismatch(n, batch.pairOf.length);

        bytes32[] memory nodes = new bytes32[](n);
        uint256 bad;
        {
            // Solidity checks, on access, that each array lies inside the calldata.
            uint256 pairsOffset;
            uint256 pairOfOffset;
            uint256 transfersOffset;
            {
                QiaoEndpoint.TokenPair[] calldata pairs = batch.pairs;
                assembly ("memory-safe") {
                    pairsOffset := pairs.offset
                }
            }
            {
                bytes calldata pairOf = batch.pairOf;
                assembly ("memory-safe") {
                    pairOfOffset := pairOf.offset
                }
            }
            {
                QiaoEndpoint.PackedTransfer[] calldata ts = batch.transfers;
                assembly ("memory-safe") {
                    transfersOffset := ts.offset
                }
            }
            uint256 p = leafPreimage(batch.srcChainId, firstNonce);
            (sum, bad) = hashLeaves(pairsOffset, pairCount, pairOfOffset, transfersOffset, nodes, p);
        }
        if (bad != 0) revertBadTransfer(batch.srcChainId, firstNonce, batch.pairOf, (bad >> 8) - 1, bad & 0xff);
        root = merkleRoot(nodes);
    }

    /// @dev Allocates the 288-byte leaf preimage of a batch (once per batch, reused for every
    ///      leaf) and returns where: typehash, srcChainId, dstChainId, nonce, then the tokens,
    ///      sender, recipient and amount that {hashLeaves} writes. Allocated, not left past the
    ///      free memory pointer: it lives across two assembly blocks, which "memory-safe" only
    ///      allows for allocated memory (temporary memory past the pointer is valid within one block).
    function leafPreimage(uint256 srcChainId, uint64 firstNonce) internal view returns (uint256 p) {
        bytes32 typehash = Protocol.TRANSFER_TYPEHASH;
        assembly ("memory-safe") {
            p := mload(0x40)
            mstore(0x40, add(p, 0x120))
            mstore(p, typehash)
            mstore(add(p, 0x20), srcChainId)
            mstore(add(p, 0x40), chainid())
            mstore(add(p, 0x60), firstNonce)
        }
    }

    /// @dev Hashes the leaves of a packed batch into `nodes` (one per transfer, nodes.length of
    ///      them) with the preimage at `p` ({leafPreimage}), checking each transfer's values.
    ///      `pairsOffset`, `pairOfOffset` and `transfersOffset` are the calldata offsets of the
    ///      batch's arrays, which Solidity has checked lie inside the calldata; `pairOf` has
    ///      nodes.length bytes and the transfers nodes.length elements of three words, so every read
    ///      is in bounds. Returns the sum of the amounts and, if a transfer is bad, `bad` =
    ///      (1 + its index) << 8 | why (1: pair index out of range; 2: an address with bits above
    ///      160; 3: zero recipient; 4: zero amount; 5: amount above MAX_AMOUNT), else 0.
    function hashLeaves(
        uint256 pairsOffset,
        uint256 pairCount,
        uint256 pairOfOffset,
        uint256 transfersOffset,
        bytes32[] memory nodes,
        uint256 p
    ) internal pure returns (uint256 sum, uint256 bad) {
        uint256 maxAmount = Protocol.MAX_AMOUNT;
        assembly ("memory-safe") {
            let current := 0x100 // the pair index whose tokens are in the preimage: none yet
            for { let i := 0 } lt(i, mload(nodes)) { i := add(i, 1) } {
                let k := byte(0, calldataload(add(pairOfOffset, i)))
                if iszero(eq(k, current)) {
                    if iszero(lt(k, pairCount)) {
                        bad := or(shl(8, add(i, 1)), 1)
                        break
                    }
                    // the pair's two words: srcToken, dstToken
                    calldatacopy(add(p, 0x80), add(pairsOffset, shl(6, k)), 0x40)
                    if shr(160, or(mload(add(p, 0x80)), mload(add(p, 0xa0)))) {
                        bad := or(shl(8, add(i, 1)), 2)
                        break
                    }
                    current := k
                }
                // the transfer's three words: sender, recipient, amount
                let t := add(p, 0xc0)
                calldatacopy(t, add(transfersOffset, mul(i, 0x60)), 0x60)
                if shr(160, or(mload(t), mload(add(t, 0x20)))) {
                    bad := or(shl(8, add(i, 1)), 2)
                    break
                }
                if iszero(mload(add(t, 0x20))) {
                    bad := or(shl(8, add(i, 1)), 3)
                    break
                }
                t := mload(add(t, 0x40)) // the amount
                if iszero(t) {
                    bad := or(shl(8, add(i, 1)), 4)
                    break
                }
                if gt(t, maxAmount) {
                    bad := or(shl(8, add(i, 1)), 5)
                    break
                }
                // No overflow: fewer than 2^64 transfers fit in calldata, each below 2^128.
                sum := add(sum, t)
                mstore(add(nodes, shl(5, add(i, 1))), keccak256(p, 0x120))
                mstore(add(p, 0x60), add(mload(add(p, 0x60)), 1)) // the next transfer's nonce
            }
        }
    }

    /// @dev The revert for transfer `i` of a packed batch that {packedRoot} found bad.
    function revertBadTransfer(uint256 srcChainId, uint64 firstNonce, bytes calldata pairOf, uint256 i, uint256 why)
        internal
        pure
    {
        // forge-lint: disable-next-line(unsafe-typecast) -- i < n and firstNonce + n - 1 < 2^64
        uint64 nonce = uint64(firstNonce + i);
        if (why == 1) revert QiaoEndpoint.PairIndexOutOfRange(i, uint8(pairOf[i]));
        if (why == 2) revert QiaoEndpoint.DirtyAddress(i);
        if (why == 3) revert QiaoEndpoint.TransferZeroRecipient(srcChainId, nonce);
        if (why == 4) revert QiaoEndpoint.TransferZeroAmount(srcChainId, nonce);
        revert QiaoEndpoint.TransferAmountTooLarge(srcChainId, nonce);
    }

    function batchMessage(uint256 srcChainId, uint64 keyEpoch, uint64 firstNonce, uint64 lastNonce, bytes32 root)
        internal
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                Protocol.BATCH_TYPEHASH,
                Protocol.VERSION,
                srcChainId,
                block.chainid,
                address(this),
                keyEpoch,
                firstNonce,
                lastNonce,
                root
            )
        );
    }

    /// @dev The REFUND message of the transfer whose leaf is `leaf` (docs/PROTOCOL.md).
    function refundMessage(uint64 keyEpoch, bytes32 leaf) internal view returns (bytes32) {
        return
            keccak256(
                abi.encode(Protocol.REFUND_TYPEHASH, Protocol.VERSION, block.chainid, address(this), keyEpoch, leaf)
            );
    }

    /// @dev leaf = keccak256(abi.encode(TRANSFER_TYPEHASH, ...all eight fields...)), 288 bytes hashed.
    function transferLeaf(QiaoEndpoint.Transfer calldata t) internal pure returns (bytes32 leaf) {
        bytes32 typehash = Protocol.TRANSFER_TYPEHASH;
        assembly ("memory-safe") {
            // The scratch area past the free memory pointer, not allocated: no memory growth per leaf.
            let p := mload(0x40)
            mstore(p, typehash)
            calldatacopy(add(p, 0x20), t, 0x100)
            leaf := keccak256(p, 0x120)
        }
    }

    /// @dev Ordered binary Merkle root, in place: node = keccak256(left || right); an odd last node
    ///      is carried up unchanged. `nodes` must be non-empty; one leaf is its own root.
    function merkleRoot(bytes32[] memory nodes) internal pure returns (bytes32 root) {
        assembly ("memory-safe") {
            let base := add(nodes, 0x20)
            let count := mload(nodes)
            for {} gt(count, 1) {} {
                let pairs := shr(1, count)
                // node i of the next level = keccak256(node 2i || node 2i + 1): the two are
                // adjacent in memory, and are read before node i (i <= 2i) is overwritten.
                for { let i := 0 } lt(i, pairs) { i := add(i, 1) } {
                    mstore(add(base, shl(5, i)), keccak256(add(base, shl(6, i)), 0x40))
                }
                // an odd last node is carried up unchanged
                if and(count, 1) { mstore(add(base, shl(5, pairs)), mload(add(base, shl(5, sub(count, 1))))) }
                count := add(pairs, and(count, 1))
            }
            root := mload(base)
        }
    }

    /// @dev Root from a leaf at `index` of a batch of `count` leaves and its siblings (same rule).
    function rootFromProof(bytes32 leaf, uint256 index, uint256 count, bytes32[] calldata proof)
        internal
        pure
        returns (bytes32 node)
    {
        node = leaf;
        uint256 used;
        while (count > 1) {
            if (index == count - 1 && count % 2 == 1) {
                // Odd last node: carried up, no sibling at this level.
            } else {
                if (used >= proof.length) revert QiaoEndpoint.InvalidProofLength(used + 1, proof.length);
                bytes32 sibling = proof[used++];
                node = index % 2 == 0 ? hashPair(node, sibling) : hashPair(sibling, node);
            }
            index /= 2;
            count = (count + 1) / 2;
        }
        if (used != proof.length) revert QiaoEndpoint.InvalidProofLength(used, proof.length);
    }

    function hashPair(bytes32 a, bytes32 b) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }
}
