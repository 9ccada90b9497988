// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {BatchCodec} from "./BatchCodec.sol";

/// @title RateLimiter
/// @notice Token buckets per local token and direction (Outbound: lock / burn; Inbound: unlock,
///         mint, refund). A bucket holds up to `capacity` units and refills at `refillPerSecond`;
///         capacity 0 means no limit. And the release queue of each token: a signed transfer the
///         Inbound bucket cannot take now waits, first in, first out, behind anything of the same
///         token already waiting ({release}); later traffic never uses the refill ahead of it. A
///         transfer larger than the capacity never waits: it could never pass, and would hold up
///         every transfer of the token behind it; the endpoint records it as failed
///         (FailureReason.ExceedsCapacity, refundable on its source).
/// @dev Charging and giving back ({take}, {give}) are internal: they run on every lock, burn and
///      batch and stay inlined, as do {enqueue} and {queueEmpty}. Setting a limit
///      ({setRateLimit}) and releasing a queued transfer ({release}) are external functions: they
///      run by DELEGATECALL on the endpoint's storage (the mappings are the endpoint's) and
///      their code is not part of the endpoint's.
library RateLimiter {
    /// @notice Sets the token bucket of `token` in `direction`. A new limit (where there was
    ///         none) starts full; changing an existing one keeps what the bucket holds: its level is
    ///         refilled at the old rate up to now, then capped at the new capacity
    ///         (`min(level, capacity)`), and refills at the new rate from now. A rate change never
    ///         refills a drained bucket, and a larger capacity fills at the rate, not at once.
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
        QiaoEndpoint.Bucket memory old = buckets[token][direction];
        uint256 level = capacity;
        if (old.capacity != 0) {
            level = refilled(old);
            if (level > capacity) level = capacity;
        }
        // The time never moves back (see {setLevel}).
        uint64 at = old.updatedAt > block.timestamp ? old.updatedAt : uint64(block.timestamp);
        // forge-lint: disable-next-line(unsafe-typecast) -- level <= capacity < 2^128
        buckets[token][direction] = QiaoEndpoint.Bucket(capacity, refillPerSecond, uint128(level), at);
        emit QiaoEndpoint.RateLimitSet(token, direction, capacity, refillPerSecond);
    }

    /// @notice The checks and effects of {QiaoEndpoint-releaseQueued} before the delivery: the
    ///         transfer is queued with exactly these fields, it is the head of its token's release
    ///         queue (first in, first out), and the Inbound bucket has room (charged); it leaves
    ///         the queue, and `deliver` is true: the endpoint then delivers it. A head whose amount
    ///         is above the bucket's capacity (lowered since it was queued) can never pass: it
    ///         leaves the queue uncharged and is recorded as failed here (`deliver` false; emits
    ///         {QiaoEndpoint-TransferFailed} with FailureReason.ExceedsCapacity, refundable on its
    ///         source), so it does not hold up the transfers behind it.
    ///      A transfer held for its challenge window (`heldUntil` set; outside the FIFO queue)
    ///      is released once its window is over ({QiaoEndpoint-ChallengeWindowOpen} before): it
    ///      stops being held and is admitted as if it arrived now: delivered (`deliver` true) if
    ///      nothing of its token is queued and the bucket has room (charged), else put at the tail
    ///      of the queue ({QiaoEndpoint-TransferQueued}), or failed (ExceedsCapacity) if it could
    ///      never pass.
    /// @dev Reverts with {QiaoEndpoint-RouteIsCursed} while the route from the transfer's source
    ///      is cursed, {QiaoEndpoint-NotQueued}, {QiaoEndpoint-NotQueueHead} or
    ///      {QiaoEndpoint-RateLimited}. A queued transfer's dstToken is the local token it was
    ///      queued under (its pair was checked when it was queued).
    function release(
        mapping(uint256 => QiaoEndpoint.Curse) storage curses,
        mapping(uint256 => mapping(uint256 => uint256)) storage failed,
        mapping(uint256 => mapping(uint64 => bytes32)) storage queued,
        mapping(uint256 => mapping(uint64 => uint64)) storage heldUntil,
        mapping(address => QiaoEndpoint.Queue) storage queues,
        mapping(address => mapping(uint256 => bytes32)) storage queueLeaves,
        mapping(address => mapping(QiaoEndpoint.Direction => QiaoEndpoint.Bucket)) storage buckets,
        QiaoEndpoint.Transfer calldata t
    ) external returns (bool deliver) {
        if (curses[t.srcChainId].cursed) revert QiaoEndpoint.RouteIsCursed(t.srcChainId);
        bytes32 leaf = BatchCodec.transferLeaf(t);
        if (queued[t.srcChainId][t.nonce] != leaf) revert QiaoEndpoint.NotQueued(t.srcChainId, t.nonce);
        if (heldUntil[t.srcChainId][t.nonce] != 0) return _releaseHeld(failed, queued, heldUntil, queues, queueLeaves, buckets, t, leaf);
        address token = t.dstToken;
        QiaoEndpoint.Queue storage q = queues[token];
        uint64 head = q.head;
        bytes32 headLeaf = queueLeaves[token][head];
        if (headLeaf != leaf) revert QiaoEndpoint.NotQueueHead(t.srcChainId, t.nonce, headLeaf);
        QiaoEndpoint.Bucket storage inbound = buckets[token][QiaoEndpoint.Direction.Inbound];
        deliver = take(inbound, t.amount);
        if (!deliver && !exceedsCapacity(inbound, t.amount)) {
            revert QiaoEndpoint.RateLimited(token, QiaoEndpoint.Direction.Inbound, available(inbound), t.amount);
        }
        delete queueLeaves[token][head];
        q.head = head + 1;
        delete queued[t.srcChainId][t.nonce];
        if (!deliver) {
            failed[t.srcChainId][t.nonce >> 8] |= uint256(1) << (t.nonce & 0xff);
            emit QiaoEndpoint.TransferFailed(t.srcChainId, t.nonce, QiaoEndpoint.FailureReason.ExceedsCapacity);
        }
    }

    /// @dev {release} of a held transfer (`leaf` is its leaf, held until `heldUntil`).
    function _releaseHeld(
        mapping(uint256 => mapping(uint256 => uint256)) storage failed,
        mapping(uint256 => mapping(uint64 => bytes32)) storage queued,
        mapping(uint256 => mapping(uint64 => uint64)) storage heldUntil,
        mapping(address => QiaoEndpoint.Queue) storage queues,
        mapping(address => mapping(uint256 => bytes32)) storage queueLeaves,
        mapping(address => mapping(QiaoEndpoint.Direction => QiaoEndpoint.Bucket)) storage buckets,
        QiaoEndpoint.Transfer calldata t,
        bytes32 leaf
    ) private returns (bool deliver) {
        uint256 src = t.srcChainId;
        uint64 nonce = t.nonce;
        uint64 releaseAfter = heldUntil[src][nonce];
        // forge-lint: disable-next-line(block-timestamp) -- a window of seconds to days
        if (block.timestamp < releaseAfter) revert QiaoEndpoint.ChallengeWindowOpen(src, nonce, releaseAfter);
        delete heldUntil[src][nonce];
        address token = t.dstToken;
        QiaoEndpoint.Bucket storage inbound = buckets[token][QiaoEndpoint.Direction.Inbound];
        // As a transfer that arrives now: first in, first out behind the token's queue.
        if (queueEmpty(queues[token]) && take(inbound, t.amount)) {
            delete queued[src][nonce];
            return true;
        }
        if (exceedsCapacity(inbound, t.amount)) {
            delete queued[src][nonce];
            failed[src][nonce >> 8] |= uint256(1) << (nonce & 0xff);
            emit QiaoEndpoint.TransferFailed(src, nonce, QiaoEndpoint.FailureReason.ExceedsCapacity);
            return false;
        }
        enqueue(queues, queueLeaves, token, leaf); // its leaf stays in `queued`
        emit QiaoEndpoint.TransferQueued(src, nonce, leaf, t.amount);
        return false;
    }

    /// @notice Holds a transfer that reaches its token's challenge threshold for `period`
    ///         seconds: its leaf is recorded in `queued` (status Queued) with its release time,
    ///         outside the token's FIFO queue; nothing is charged. Emits {QiaoEndpoint-TransferHeld}.
    function hold(
        mapping(uint256 => mapping(uint64 => bytes32)) storage queued,
        mapping(uint256 => mapping(uint64 => uint64)) storage heldUntil,
        uint256 srcChainId,
        uint64 nonce,
        bytes32 leaf,
        uint256 amount,
        uint64 period
    ) external {
        uint64 releaseAfter = uint64(block.timestamp) + period;
        queued[srcChainId][nonce] = leaf;
        heldUntil[srcChainId][nonce] = releaseAfter;
        emit QiaoEndpoint.TransferHeld(srcChainId, nonce, leaf, amount, releaseAfter);
    }

    /// @dev Puts `leaf` at the tail of `token`'s release queue.
    function enqueue(
        mapping(address => QiaoEndpoint.Queue) storage queues,
        mapping(address => mapping(uint256 => bytes32)) storage queueLeaves,
        address token,
        bytes32 leaf
    ) internal {
        QiaoEndpoint.Queue storage q = queues[token];
        uint64 tail = q.tail;
        queueLeaves[token][tail] = leaf;
        q.tail = tail + 1;
    }

    /// @dev Whether nothing of `token` waits in its release queue.
    function queueEmpty(QiaoEndpoint.Queue storage q) internal view returns (bool) {
        QiaoEndpoint.Queue memory m = q;
        return m.head == m.tail;
    }

    /// @dev Whether `amount` is larger than the bucket's capacity, so that it can never pass
    ///      (never without a limit: capacity 0).
    function exceedsCapacity(QiaoEndpoint.Bucket storage s, uint256 amount) internal view returns (bool) {
        uint256 capacity = s.capacity;
        return capacity != 0 && amount > capacity;
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
