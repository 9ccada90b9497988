// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @notice The one endpoint view this reader calls ({QiaoEndpoint-unexecutedCount}).
interface IUnexecutedCount {
    function unexecutedCount(uint256 srcChainId, uint64 firstNonce, uint64 lastNonce) external view returns (uint256);
}

/// @title UnexecutedCounts
/// @notice A read helper that is never deployed: its creation code, with the arguments appended,
///         is run by `eth_call` without a `to` address, and the constructor returns
///         `abi.encode(uint256[] counts)` in place of runtime code, one
///         {QiaoEndpoint-unexecutedCount} per range, in the order given. The relayer reads many
///         batches' pending state this way in one call: a node such as anvil builds its pending
///         block afresh for each call at the `pending` tag, executing every transaction in its
///         pool, so one call instead of one per batch is one build instead of many.
/// @dev Reverts as a whole if any range's call reverts (an invalid range) or the endpoint has
///      no code (the decoding of its empty reply fails). Holds no state and nothing to trust:
///      the counts are the endpoint's own answers at the block the call runs on. The call's
///      input is creation code, which EIP-3860 bounds to 49,152 bytes: 501 ranges at most (96
///      bytes each); the relayer asks RANGES_PER_READ at a time. The reply, returned as code,
///      is within EIP-170's 24,576 bytes up to 766 ranges.
contract UnexecutedCounts {
    /// @notice A batch's nonce range on the destination, from one source chain.
    struct Range {
        uint256 srcChainId;
        uint64 firstNonce;
        uint64 lastNonce;
    }

    /// @param endpoint The destination endpoint asked.
    /// @param ranges The ranges, each answered by `unexecutedCount(srcChainId, firstNonce, lastNonce)`.
    constructor(IUnexecutedCount endpoint, Range[] memory ranges) {
        uint256[] memory counts = new uint256[](ranges.length);
        for (uint256 i = 0; i < ranges.length; ++i) {
            Range memory r = ranges[i];
            counts[i] = endpoint.unexecutedCount(r.srcChainId, r.firstNonce, r.lastNonce);
        }
        bytes memory reply = abi.encode(counts);
        assembly ("memory-safe") {
            return(add(reply, 32), mload(reply))
        }
    }
}
