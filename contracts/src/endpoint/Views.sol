// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {Protocol} from "./Protocol.sol";

/// @title Views
/// @notice Read-only answers about the destination's transfers that loop or combine several
///         bitmaps: external, so their code is not part of the endpoint's (they run by
///         DELEGATECALL, or STATICCALL-like from a view, on the endpoint's mappings).
library Views {
    /// @notice How many nonces of `firstNonce..lastNonce` are not set in `executed` ({QiaoEndpoint-unexecutedCount}).
    /// @dev Reverts with {QiaoEndpoint-InvalidNonceRange} if `firstNonce` is 0, `lastNonce <
    ///      firstNonce`, or the range spans more than MAX_RANGE_QUERY nonces.
    function unexecutedCount(mapping(uint256 => uint256) storage executed, uint64 firstNonce, uint64 lastNonce)
        external
        view
        returns (uint256 count)
    {
        if (firstNonce == 0 || lastNonce < firstNonce || lastNonce - firstNonce >= Protocol.MAX_RANGE_QUERY) {
            revert QiaoEndpoint.InvalidNonceRange(firstNonce, lastNonce);
        }
        uint256 wordIndex = type(uint256).max;
        uint256 bits;
        for (uint256 nonce = firstNonce; nonce <= lastNonce; ++nonce) {
            if (nonce >> 8 != wordIndex) {
                wordIndex = nonce >> 8;
                bits = executed[wordIndex];
            }
            if ((bits >> (nonce & 0xff)) & 1 == 0) ++count;
        }
    }

    /// @notice The state of a transfer from one source chain ({QiaoEndpoint-transferStatus}).
    function transferStatus(
        mapping(uint256 => uint256) storage executed,
        mapping(uint256 => uint256) storage failed,
        mapping(uint64 => bytes32) storage queued,
        uint64 nonce
    ) external view returns (QiaoEndpoint.TransferStatus) {
        if (!_bit(executed, nonce)) return QiaoEndpoint.TransferStatus.None;
        if (_bit(failed, nonce)) return QiaoEndpoint.TransferStatus.Failed;
        if (queued[nonce] != bytes32(0)) return QiaoEndpoint.TransferStatus.Queued;
        return QiaoEndpoint.TransferStatus.Delivered;
    }

    function _bit(mapping(uint256 => uint256) storage bitmap, uint64 nonce) private view returns (bool) {
        return (bitmap[nonce >> 8] >> (nonce & 0xff)) & 1 == 1;
    }
}
