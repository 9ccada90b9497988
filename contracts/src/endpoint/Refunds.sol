// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {KycRegistry} from "../KycRegistry.sol";
import {BatchCodec} from "./BatchCodec.sol";
import {KeyEpochs} from "./KeyEpochs.sol";
import {RateLimiter} from "./RateLimiter.sol";

/// @title Refunds
/// @notice The source side of a transfer that failed on its destination: a committee-signed
///         refund of exactly the transfer initiated here, charged to the Inbound bucket, once.
/// @dev External: runs by DELEGATECALL on the endpoint's storage (the mappings are the
///      endpoint's); the payout itself is the endpoint's hook ({QiaoEndpoint-refund}).
library Refunds {
    using KeyEpochs for KeyEpochs.Keys;
    using RateLimiter for QiaoEndpoint.Bucket;

    /// @notice Everything {QiaoEndpoint-refund} checks and records before it pays: the transfer's
    ///         leaf equals the one recorded at lock / burn, not refunded yet, the signature, the
    ///         sender allowed, the Inbound charge (and the Outbound charge given back); then marks
    ///         it refunded and emits {QiaoEndpoint-TransferRefunded}. Reverts with the errors
    ///         {QiaoEndpoint-refund} lists, recording nothing, first {QiaoEndpoint-RouteIsCursed}
    ///         while the route toward the transfer's destination is cursed.
    function authorize(
        mapping(uint256 => QiaoEndpoint.Curse) storage curses,
        KeyEpochs.Keys storage keys,
        mapping(uint256 => mapping(uint64 => bytes32)) storage initiated,
        mapping(
            uint256 => mapping(uint256 => uint256)
        ) storage refunded,
        mapping(address => mapping(QiaoEndpoint.Direction => QiaoEndpoint.Bucket)) storage buckets,
        KycRegistry registry,
        uint64 keyEpoch,
        QiaoEndpoint.Transfer calldata t,
        bytes calldata signature
    ) external {
        if (curses[t.dstChainId].cursed) revert QiaoEndpoint.RouteIsCursed(t.dstChainId);
        bytes32 leaf = BatchCodec.transferLeaf(t);
        if (t.srcChainId != block.chainid || initiated[t.dstChainId][t.nonce] != leaf) {
            revert QiaoEndpoint.NotRefundable(t.dstChainId, t.nonce);
        }
        if (_isSet(refunded[t.dstChainId], t.nonce)) revert QiaoEndpoint.AlreadyRefunded(t.dstChainId, t.nonce);
        keys.checkSignature(keyEpoch, BatchCodec.refundMessage(keyEpoch, leaf), signature, true);
        if (!registry.isAllowed(t.sender)) revert QiaoEndpoint.NotAllowed(t.sender);
        _charge(buckets, t.srcToken, t.amount);
        refunded[t.dstChainId][t.nonce >> 8] |= uint256(1) << (t.nonce & 0xff);
        emit QiaoEndpoint.TransferRefunded(t.dstChainId, t.nonce, t.sender, t.amount);
    }

    /// @dev Charges the refund to the Inbound bucket of `token` and gives the transfer's Outbound
    ///      charge back; reverts with {QiaoEndpoint-RateLimited} if the Inbound bucket lacks room.
    function _charge(
        mapping(address => mapping(QiaoEndpoint.Direction => QiaoEndpoint.Bucket)) storage buckets,
        address token,
        uint256 amount
    ) private {
        QiaoEndpoint.Bucket storage inbound = buckets[token][QiaoEndpoint.Direction.Inbound];
        if (!inbound.take(amount)) {
            revert QiaoEndpoint.RateLimited(token, QiaoEndpoint.Direction.Inbound, inbound.available(), amount);
        }
        buckets[token][QiaoEndpoint.Direction.Outbound].give(amount);
    }

    function _isSet(mapping(uint256 => uint256) storage bitmap, uint64 nonce) private view returns (bool) {
        return (bitmap[nonce >> 8] >> (nonce & 0xff)) & 1 == 1;
    }
}
