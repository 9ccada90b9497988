// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {BatchCodec} from "./BatchCodec.sol";

/// @title RateLimiter
/// @notice Token buckets per local token and direction (Outbound: lock / burn; Inbound: unlock,
///         mint, refund). A bucket holds up to `capacity` units and refills at `refillPerSecond`;
///         capacity 0 means no limit.
/// @dev Charging and giving back ({take}, {give}) are internal: they run on every lock, burn and
///      batch and stay inlined. Setting a limit ({setRateLimit}) is an external function: it runs
///      by DELEGATECALL on the endpoint's storage (`buckets` is the endpoint's mapping) and its
///      code is not part of the endpoint's.
library RateLimiter {
    /// @notice Sets the token bucket of `token` in `direction`; the bucket starts full.
    /// @dev capacity = 0 and refillPerSecond = 0 removes the limit; capacity 0 with a refill is
    ///      refused. The caller checks that it is the owner. Emits {QiaoEndpoint-RateLimitSet}.
    function setRateLimit(
        mapping(address => mapping(QiaoEndpoint.Direction => QiaoEndpoint.Bucket)) storage buckets,
        address token,
        QiaoEndpoint.Direction direction,
        uint128 capacity,
        uint128 refillPerSecond
    ) external {
        if (token == address(0)) revert QiaoEndpoint.ZeroTokenAddress();
        if (capacity == 0 && refillPerSecond != 0) revert QiaoEndpoint.InvalidRateLimit();
        buckets[token][direction] = QiaoEndpoint.Bucket(capacity, refillPerSecond, capacity, uint64(block.timestamp));
        emit QiaoEndpoint.RateLimitSet(token, direction, capacity, refillPerSecond);
    }

    /// @notice The checks and effects of {QiaoEndpoint-releaseQueued} before the delivery: the
    ///         transfer is queued with exactly these fields, and the Inbound bucket of its token
    ///         has room (charged); the transfer leaves the queue. The endpoint then delivers it.
    /// @dev Reverts with {QiaoEndpoint-NotQueued} or {QiaoEndpoint-RateLimited}.
    function release(
        mapping(uint256 => mapping(uint64 => bytes32)) storage queued,
        mapping(address => mapping(QiaoEndpoint.Direction => QiaoEndpoint.Bucket)) storage buckets,
        QiaoEndpoint.Transfer calldata t
    ) external {
        bytes32 leaf = BatchCodec.transferLeaf(t);
        if (queued[t.srcChainId][t.nonce] != leaf) revert QiaoEndpoint.NotQueued(t.srcChainId, t.nonce);
        QiaoEndpoint.Bucket storage inbound = buckets[t.dstToken][QiaoEndpoint.Direction.Inbound];
        if (!take(inbound, t.amount)) {
            revert QiaoEndpoint.RateLimited(t.dstToken, QiaoEndpoint.Direction.Inbound, available(inbound), t.amount);
        }
        delete queued[t.srcChainId][t.nonce];
    }

    /// @dev Takes `amount` from the bucket if it holds enough (always true without a limit).
    function take(QiaoEndpoint.Bucket storage s, uint256 amount) internal returns (bool) {
        QiaoEndpoint.Bucket memory b = s;
        if (b.capacity == 0) return true;
        uint256 level = refilled(b);
        if (level < amount) return false;
        setLevel(s, level - amount);
        return true;
    }

    /// @dev Gives `amount` back to the bucket (a failed delivery), never above capacity.
    function give(QiaoEndpoint.Bucket storage s, uint256 amount) internal {
        QiaoEndpoint.Bucket memory b = s;
        if (b.capacity == 0) return;
        uint256 level = refilled(b) + amount;
        if (level > b.capacity) level = b.capacity;
        setLevel(s, level);
    }

    /// @dev How much can pass now (type(uint256).max without a limit).
    function available(QiaoEndpoint.Bucket storage s) internal view returns (uint256) {
        QiaoEndpoint.Bucket memory b = s;
        if (b.capacity == 0) return type(uint256).max;
        return refilled(b);
    }

    /// @dev Writes level and time in one SSTORE (they share a slot). `level` <= capacity < 2^128.
    ///      The time never moves back: on a chain whose block time stepped back (a devnet reorg, a
    ///      misbehaving consortium validator) the bucket keeps its later time, so no second is
    ///      refilled twice.
    function setLevel(QiaoEndpoint.Bucket storage s, uint256 level) internal {
        assembly ("memory-safe") {
            // slot of {level, updatedAt} is the struct's second slot: level in the low 128 bits,
            // updatedAt (uint64) above it.
            let slot := add(s.slot, 1)
            let previous := and(shr(128, sload(slot)), 0xffffffffffffffff)
            let at := timestamp()
            if lt(at, previous) { at := previous }
            sstore(slot, or(level, shl(128, at)))
        }
    }

    /// @dev The bucket's level now: refilled for the seconds since its last charge (none if the
    ///      block time is earlier than that charge, rather than an arithmetic panic that would stop
    ///      every transfer of the token until the clock caught up).
    function refilled(QiaoEndpoint.Bucket memory b) internal view returns (uint256) {
        uint256 elapsed = block.timestamp > b.updatedAt ? block.timestamp - b.updatedAt : 0;
        uint256 level = uint256(b.level) + elapsed * uint256(b.refillPerSecond);
        return level > b.capacity ? b.capacity : level;
    }
}
