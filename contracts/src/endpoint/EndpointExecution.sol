// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {Protocol} from "./Protocol.sol";
import {BatchCodec} from "./BatchCodec.sol";
import {EndpointStorage} from "./EndpointStorage.sol";
import {KeyEpochs} from "./KeyEpochs.sol";
import {RateLimiter} from "./RateLimiter.sol";

/// @title EndpointExecution
/// @notice The destination side of an endpoint: verifying a committee-signed batch (or one
///         transfer of it with a Merkle proof) and executing it: each transfer consumed once, then
///         delivered, queued by the inbound rate limit, or recorded as failed.
/// @dev The hot path of the bridge (docs/GAS.md): all internal, inlined in the endpoint. An
///      abstract contract rather than a library because delivery is the subclass's hook
///      ({_tryDeliver}, {_deliverBatch}: vault unlock, gateway mint). The entry points
///      ({QiaoEndpoint-executeBatch}, {QiaoEndpoint-executeTransfer}, {QiaoEndpoint-releaseQueued})
///      are in {QiaoEndpoint}.
abstract contract EndpointExecution is EndpointStorage {
    using KeyEpochs for KeyEpochs.Keys;
    using RateLimiter for QiaoEndpoint.Bucket;
    using RateLimiter for QiaoEndpoint.Queue;

    /// @dev Delivers a verified transfer if it can (vault: unlock; gateway: mint) and returns
    ///      FailureReason.None, or delivers nothing and returns why. `token` is a registered
    ///      local token; recipient and amount are valid.
    function _tryDeliver(address token, address recipient, uint256 amount)
        internal
        virtual
        returns (QiaoEndpoint.FailureReason);

    /// @dev Delivers verified transfers of one registered local `token` (the inbound charge is
    ///      paid): `amounts[j]` to `to[j]` where it can. Returns a bitmap with bit (j % 256) of
    ///      word (j / 256) set for each transfer it did not deliver (exactly ceil(m / 256) words,
    ///      no bit at or past m); `refused`, empty or of the same length, marks those of them the
    ///      token itself refused (reason DeliveryRefused); `reason` is why the others failed.
    ///      Recipients and amounts are valid, m >= 1.
    function _deliverBatch(address token, address[] memory to, uint256[] memory amounts)
        internal
        virtual
        returns (uint256[] memory failed, uint256[] memory refused, QiaoEndpoint.FailureReason reason);

    /// @dev Whether deliveries of registered local `token` must wait now (gateway: its asset is
    ///      suspended by the issuer). A new transfer of it is then queued in its token's release
    ///      queue ({TransferQueued}), charging nothing, instead of being delivered, so the other
    ///      transfers of its batch go on; {QiaoEndpoint-releaseQueued} delivers it once the wait
    ///      is over (until then the delivery reverts, with no effect). False by default (vault).
    function _deliveryWaits(address) internal view virtual returns (bool) {
        return false;
    }

    /// @dev Everything {executeBatch} checks before any effect: the batch's shape and values, the
    ///      signature. Returns the root, the last nonce, the sum of the amounts, and `unpaired`: bit
    ///      k set when the batch's pair k is not registered here (its transfers are recorded as failed).
    function _verifyBatch(uint64 keyEpoch, QiaoEndpoint.PackedBatch calldata batch, bytes calldata signature)
        internal
        view
        returns (bytes32 root, uint64 lastNonce, uint256 sum, uint256 unpaired)
    {
        (root, lastNonce, sum) = BatchCodec.packedRoot(batch);
        uint256 srcChainId = batch.srcChainId;
        _keys.checkSignature(
            keyEpoch, BatchCodec.batchMessage(srcChainId, keyEpoch, batch.firstNonce, lastNonce, root), signature, true
        );
        QiaoEndpoint.TokenPair[] calldata pairs = batch.pairs;
        for (uint256 k; k < pairs.length; ++k) {
            if (!_isPair(srcChainId, pairs[k].srcToken, pairs[k].dstToken)) unpaired |= uint256(1) << k;
        }
    }

    /// @dev The effects of a verified batch (`unpaired`: see {_verifyBatch}).
    function _executeVerified(QiaoEndpoint.PackedBatch calldata batch, uint64 lastNonce, uint256 sum, uint256 unpaired)
        internal
    {
        uint256 srcChainId = batch.srcChainId;
        uint64 firstNonce = batch.firstNonce;
        // Pass 1 (effects only): set the consumed bits of the whole range (one SSTORE per bitmap
        // word) and find what is new. No external call happens before every bit is set.
        (uint256[] memory before, bool anyConsumed) = _consumeRange(srcChainId, firstNonce, lastNonce);
        (uint256 total, uint256 fresh) = _freshTotal(before, anyConsumed, batch, sum);
        if (total == 0) revert QiaoEndpoint.BatchAlreadyExecuted(srcChainId, firstNonce, lastNonce);

        // Pass 2: charge the inbound bucket once for the whole batch when it has one token, nothing
        // of that token is queued (first in, first out), none of its transfers reaches the
        // token's challenge threshold (the whole batch's sum is below it), its deliveries need not
        // wait ({_deliveryWaits}) and it fits, and deliver
        // all of it with one call (one mint call into the token); otherwise transfer by transfer
        // (holding what reaches the threshold, queueing what does not fit, failing what has no
        // registered pair).
        address token = batch.pairs[0].dstToken;
        uint256 threshold = _challengeThreshold[token];
        if (
            batch.pairs.length == 1 && unpaired == 0 && (threshold == 0 || sum < threshold)
                && _queues[token].queueEmpty() && !_deliveryWaits(token)
                && _buckets[token][QiaoEndpoint.Direction.Inbound].take(total)
        ) {
            _deliverCharged(srcChainId, token, batch, before, anyConsumed, fresh);
        } else {
            _processEach(srcChainId, batch, before, anyConsumed, unpaired);
        }
    }

    /// @dev Pass 1 of executeBatch: sets the consumed bits of nonces `firstNonce..lastNonce`, one
    ///      SSTORE per bitmap word that changes. Returns the words as they were before (word
    ///      `k` is word `(firstNonce >> 8) + k` of the bitmap) and whether any nonce of the range
    ///      was consumed already.
    function _consumeRange(uint256 srcChainId, uint64 firstNonce, uint64 lastNonce)
        internal
        returns (uint256[] memory before, bool anyConsumed)
    {
        mapping(uint256 => uint256) storage bitmap = _executed[srcChainId];
        uint256 w0 = firstNonce >> 8;
        uint256 w1 = lastNonce >> 8;
        before = new uint256[](w1 - w0 + 1);
        for (uint256 w = w0; w <= w1; ++w) {
            uint256 lo = w == w0 ? firstNonce & 0xff : 0;
            uint256 hi = w == w1 ? lastNonce & 0xff : 0xff;
            // bits lo..hi of the word (hi - lo + 1 of them, at most 256)
            uint256 mask = (type(uint256).max >> (0xff - (hi - lo))) << lo;
            uint256 bits = bitmap[w];
            before[w - w0] = bits;
            if (bits & mask != 0) anyConsumed = true;
            if (bits | mask != bits) bitmap[w] = bits | mask;
        }
    }

    /// @dev Whether transfer `i` of a batch from `firstNonce` was new, from {_consumeRange}'s words.
    function _wasFresh(uint256[] memory before, uint64 firstNonce, uint256 i) internal pure returns (bool) {
        uint256 nonce = uint256(firstNonce) + i;
        return (before[(nonce >> 8) - (firstNonce >> 8)] >> (nonce & 0xff)) & 1 == 0;
    }

    /// @dev The sum of the amounts of the new transfers of `batch` and how many there are
    ///      (`sum`: the sum of all its amounts, the answer when none was consumed before).
    function _freshTotal(
        uint256[] memory before,
        bool anyConsumed,
        QiaoEndpoint.PackedBatch calldata batch,
        uint256 sum
    ) internal pure returns (uint256 total, uint256 fresh) {
        QiaoEndpoint.PackedTransfer[] calldata ts = batch.transfers;
        if (!anyConsumed) return (sum, ts.length);
        uint64 firstNonce = batch.firstNonce;
        for (uint256 i; i < ts.length; ++i) {
            if (_wasFresh(before, firstNonce, i)) {
                total += ts[i].amount;
                ++fresh;
            }
        }
    }

    /// @dev Pass 2 when the inbound bucket was charged for all `fresh` new transfers of a
    ///      one-token batch: one {_deliverBatch} call, then an event per transfer; what could not
    ///      be delivered is recorded as failed and its charge given back (in one sum).
    function _deliverCharged(
        uint256 srcChainId,
        address token,
        QiaoEndpoint.PackedBatch calldata batch,
        uint256[] memory before,
        bool anyConsumed,
        uint256 fresh
    ) internal {
        (address[] memory to, uint256[] memory amounts, uint64[] memory nonces) =
            _collectFresh(batch, before, anyConsumed, fresh);
        (uint256[] memory failed, uint256[] memory refused, QiaoEndpoint.FailureReason reason) =
            _deliverBatch(token, to, amounts);
        // The hook's contract ({_deliverBatch}); {_report} reads the bitmaps without bounds checks.
        assert(failed.length == (fresh + 255) >> 8);
        assert(refused.length == 0 || refused.length == failed.length);
        uint256 giveBack = _report(srcChainId, to, amounts, nonces, failed, refused, reason);
        if (giveBack != 0) _buckets[token][QiaoEndpoint.Direction.Inbound].give(giveBack);
    }

    /// @dev The recipients, amounts and nonces of the `fresh` new transfers of `batch` (its values
    ///      were checked by {_packedRoot}; `fresh` was counted by {_freshTotal} with the same rule).
    function _collectFresh(
        QiaoEndpoint.PackedBatch calldata batch,
        uint256[] memory before,
        bool anyConsumed,
        uint256 fresh
    ) internal pure returns (address[] memory to, uint256[] memory amounts, uint64[] memory nonces) {
        QiaoEndpoint.PackedTransfer[] calldata ts = batch.transfers;
        uint256 n = ts.length;
        uint256 firstNonce = batch.firstNonce;
        to = new address[](fresh);
        amounts = new uint256[](fresh);
        nonces = new uint64[](fresh);
        uint256 j;
        assembly ("memory-safe") {
            let t := ts.offset // transfer i at t + 0x60 * i: sender, recipient, amount
            let w0 := shr(8, firstNonce)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let nonce := add(firstNonce, i)
                // Skip a transfer consumed before this batch: its bit is set in the word as it
                // was, before[(nonce >> 8) - w0] (within the array: nonce is in the batch's range).
                if anyConsumed {
                    let was := mload(add(before, shl(5, add(sub(shr(8, nonce), w0), 1))))
                    if and(shr(and(nonce, 0xff), was), 1) { continue }
                }
                // Never more than `fresh` (see above); if it were, stop before writing past the
                // arrays and fail the assert below.
                if eq(j, fresh) {
                    j := add(fresh, 1)
                    break
                }
                j := add(j, 1) // element j - 1, at offset 0x20 * j past each array's length word
                let at := shl(5, j)
                let ti := add(t, mul(i, 0x60))
                mstore(add(to, at), calldataload(add(ti, 0x20)))
                mstore(add(amounts, at), calldataload(add(ti, 0x40)))
                mstore(add(nonces, at), nonce)
            }
        }
        assert(j == fresh);
    }

    /// @dev One event per new transfer, in nonce order: {TransferExecuted} for a delivered one,
    ///      {TransferFailed} for one `failed` marks (then recorded as failed), with reason
    ///      DeliveryRefused if `refused` marks it too, else `reason`; returns the sum of the failed
    ///      amounts. The arrays have one element per transfer, `failed` its ceil(m / 256) words and
    ///      `refused` as many or none ({_deliverCharged} checks it), so the reads stay inside them.
    function _report(
        uint256 srcChainId,
        address[] memory to,
        uint256[] memory amounts,
        uint64[] memory nonces,
        uint256[] memory failed,
        uint256[] memory refused,
        QiaoEndpoint.FailureReason reason
    ) internal returns (uint256 giveBack) {
        bytes32 executedTopic = QiaoEndpoint.TransferExecuted.selector;
        bytes32 failedTopic = QiaoEndpoint.TransferFailed.selector;
        assembly ("memory-safe") {
            let data := mload(0x40) // event data past the free memory pointer, not allocated
            for { let j := 0 } lt(j, mload(to)) { j := add(j, 1) } {
                let at := shl(5, add(j, 1))
                let nonce := mload(add(nonces, at))
                switch and(shr(and(j, 0xff), mload(add(failed, shl(5, add(shr(8, j), 1))))), 1)
                case 0 {
                    // TransferExecuted(srcChainId, nonce, recipient, amount)
                    mstore(data, mload(add(to, at)))
                    mstore(add(data, 0x20), mload(add(amounts, at)))
                    log3(data, 0x40, executedTopic, srcChainId, nonce)
                }
                default {
                    // TransferFailed(srcChainId, nonce, reason), DeliveryRefused (3) where `refused` says so
                    let why := reason
                    if mload(refused) {
                        if and(shr(and(j, 0xff), mload(add(refused, shl(5, add(shr(8, j), 1))))), 1) { why := 3 }
                    }
                    mstore(data, why)
                    log3(data, 0x20, failedTopic, srcChainId, nonce)
                    // No overflow: each amount is below 2^128, fewer than 2^64 of them.
                    giveBack := add(giveBack, mload(add(amounts, at)))
                }
            }
        }
        // Amounts are not zero: nothing to give back means nothing failed.
        if (giveBack == 0) return 0;
        for (uint256 j; j < to.length; ++j) {
            if ((failed[j >> 8] >> (j & 0xff)) & 1 == 1) _markFailed(srcChainId, nonces[j]);
        }
    }

    /// @dev Pass 2 otherwise: each new transfer is failed if its pair is not registered
    ///      (`unpaired`), else charges its own bucket, then is delivered, failed or queued, in nonce order.
    function _processEach(
        uint256 srcChainId,
        QiaoEndpoint.PackedBatch calldata batch,
        uint256[] memory before,
        bool anyConsumed,
        uint256 unpaired
    ) internal {
        QiaoEndpoint.PackedTransfer[] calldata ts = batch.transfers;
        uint64 firstNonce = batch.firstNonce;
        for (uint256 i; i < ts.length; ++i) {
            if (anyConsumed && !_wasFresh(before, firstNonce, i)) continue;
            uint256 k = uint8(batch.pairOf[i]);
            // forge-lint: disable-next-line(unsafe-typecast) -- firstNonce + i <= lastNonce < 2^64
            uint64 nonce = uint64(firstNonce + i);
            if ((unpaired >> k) & 1 == 1) {
                _fail(srcChainId, nonce, QiaoEndpoint.FailureReason.UnregisteredTokenPair);
                continue;
            }
            QiaoEndpoint.TokenPair calldata pair = batch.pairs[k];
            QiaoEndpoint.PackedTransfer calldata t = ts[i];
            bytes32 leaf = keccak256(
                abi.encode(
                    Protocol.TRANSFER_TYPEHASH,
                    srcChainId,
                    block.chainid,
                    nonce,
                    pair.srcToken,
                    pair.dstToken,
                    t.sender,
                    t.recipient,
                    t.amount
                )
            );
            _process(srcChainId, nonce, pair.dstToken, t.recipient, t.amount, leaf);
        }
    }

    /// @dev Hold, queue, deliver or fail a transfer just consumed (`leaf` is its leaf). At or
    ///      above its token's challenge threshold it is held for the challenge period: its leaf is
    ///      recorded in {_queued} (status Queued) with a release time, outside the token's FIFO
    ///      queue, and nothing is charged; {QiaoEndpoint-releaseQueued} admits it after the
    ///      window ({RateLimiter-release}), unless a sentinel vetoes it first. Below it, while
    ///      the token's deliveries wait ({_deliveryWaits}: its asset is suspended) it is queued,
    ///      charging nothing, and released after the wait like any queued transfer.
    function _process(uint256 srcChainId, uint64 nonce, address token, address recipient, uint256 amount, bytes32 leaf)
        internal
    {
        uint256 threshold = _challengeThreshold[token];
        if (threshold != 0 && amount >= threshold) {
            RateLimiter.hold(_queued, _heldUntil, srcChainId, nonce, leaf, amount, _challengePeriod);
            return;
        }
        // Otherwise it is queued behind any transfer of the token already queued, while the
        // token's deliveries wait (before the bucket: nothing is charged), or when the bucket
        // lacks room; failed (ExceedsCapacity) instead if its amount is above the bucket's
        // capacity: it could never pass, and would hold up every transfer of the token behind it.
        QiaoEndpoint.Bucket storage inbound = _buckets[token][QiaoEndpoint.Direction.Inbound];
        // First in, first out: behind anything already queued for the token, or over the limit.
        if (!_queues[token].queueEmpty() || _deliveryWaits(token) || !inbound.take(amount)) {
            if (inbound.exceedsCapacity(amount)) {
                _fail(srcChainId, nonce, QiaoEndpoint.FailureReason.ExceedsCapacity);
                return;
            }
            RateLimiter.enqueue(_queues, _queueLeaves, token, leaf);
            _queued[srcChainId][nonce] = leaf;
            emit QiaoEndpoint.TransferQueued(srcChainId, nonce, leaf, amount);
            return;
        }
        _deliverOrFail(srcChainId, nonce, token, recipient, amount);
    }

    /// @dev Delivers (the inbound bucket was charged) or records a failure and gives the charge back.
    function _deliverOrFail(uint256 srcChainId, uint64 nonce, address token, address recipient, uint256 amount)
        internal
    {
        QiaoEndpoint.FailureReason reason = _tryDeliver(token, recipient, amount);
        if (reason == QiaoEndpoint.FailureReason.None) {
            emit QiaoEndpoint.TransferExecuted(srcChainId, nonce, recipient, amount);
            return;
        }
        _buckets[token][QiaoEndpoint.Direction.Inbound].give(amount);
        _fail(srcChainId, nonce, reason);
    }

    /// @dev Records a consumed transfer as failed (terminal here, refundable on its source).
    function _fail(uint256 srcChainId, uint64 nonce, QiaoEndpoint.FailureReason reason) internal {
        _markFailed(srcChainId, nonce);
        emit QiaoEndpoint.TransferFailed(srcChainId, nonce, reason);
    }

    function _markFailed(uint256 srcChainId, uint64 nonce) internal {
        _failed[srcChainId][nonce >> 8] |= uint256(1) << (nonce & 0xff);
    }

    /// @dev Sets the consumed bit; false if it was already set.
    function _consume(uint256 srcChainId, uint64 nonce) internal returns (bool) {
        uint256 word = nonce >> 8;
        uint256 bit = uint256(1) << (nonce & 0xff);
        uint256 bits = _executed[srcChainId][word];
        if (bits & bit != 0) return false;
        _executed[srcChainId][word] = bits | bit;
        return true;
    }

    function _bit(mapping(uint256 => uint256) storage bitmap, uint64 nonce) internal view returns (bool) {
        return (bitmap[nonce >> 8] >> (nonce & 0xff)) & 1 == 1;
    }

    /// @dev Reverts on a zero recipient or a zero or too large amount.
    function _checkValues(uint256 srcChainId, uint64 nonce, address recipient, uint256 amount) internal pure {
        if (recipient == address(0)) revert QiaoEndpoint.TransferZeroRecipient(srcChainId, nonce);
        if (amount == 0) revert QiaoEndpoint.TransferZeroAmount(srcChainId, nonce);
        if (amount > Protocol.MAX_AMOUNT) revert QiaoEndpoint.TransferAmountTooLarge(srcChainId, nonce);
    }

    /// @dev Whether (srcToken on srcChainId, dstToken here) is a registered pair.
    function _isPair(uint256 srcChainId, address srcToken, address dstToken) internal view returns (bool) {
        return dstToken != address(0) && _localTokens[srcChainId][srcToken] == dstToken;
    }

    /// @dev Reverts with {QiaoEndpoint-BatchAlreadyExecuted} if every nonce of the batch's range
    ///      was consumed, reading only the range and the bitmap: a relayer that lost the race to
    ///      another pays neither the leaves nor the pairing check. A batch whose range is
    ///      malformed (empty, for another chain, nonce 0, past 2^64 - 1) is left to
    ///      {BatchCodec-packedRoot}'s errors. A new batch stops at its first nonce (one storage
    ///      read, warm for {_consumeRange} after).
    function _revertIfBatchConsumed(QiaoEndpoint.PackedBatch calldata batch) internal view {
        uint256 n = batch.transfers.length;
        uint256 firstNonce = batch.firstNonce;
        if (n == 0 || firstNonce == 0 || batch.dstChainId != block.chainid) return;
        uint256 lastNonce = firstNonce + n - 1;
        if (lastNonce > type(uint64).max) return;
        mapping(uint256 => uint256) storage bitmap = _executed[batch.srcChainId];
        for (uint256 nonce = firstNonce; nonce <= lastNonce; ++nonce) {
            // forge-lint: disable-next-line(unsafe-typecast) -- nonce <= lastNonce < 2^64
            if (!_bit(bitmap, uint64(nonce))) return;
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- both below 2^64 (checked above)
        revert QiaoEndpoint.BatchAlreadyExecuted(batch.srcChainId, uint64(firstNonce), uint64(lastNonce));
    }
}
