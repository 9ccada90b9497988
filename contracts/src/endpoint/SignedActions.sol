// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BLS} from "../BLS.sol";
import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {Protocol} from "./Protocol.sol";
import {KeyEpochs} from "./KeyEpochs.sol";
import {KycRegistry} from "../KycRegistry.sol";

/// @title SignedActions
/// @notice Committee-signed actions (PAUSE, RESUME, ROTATE, FREEZE, ALLOW): each is signed for the
///         next action nonce under the current key epoch, and consumes that nonce when accepted.
///         PAUSE, FREEZE and ALLOW act at once; RESUME and ROTATE are only scheduled, and take effect through
///         {executePending} after the endpoint's action delay, during which the guardian can
///         {cancelPending} them, one or all at once ({cancelAllPending}); while paused, the
///         guardian can also skip action nonces
///         ({invalidateActions}) so that signatures not submitted yet are void.
/// @dev External functions: they run by DELEGATECALL on the endpoint's storage (`keys` is the
///      endpoint's {KeyEpochs-Keys}), so their code (and their copy of the BLS verification) is
///      not part of the endpoint's runtime code. What an action does to the pause flag is done
///      by the endpoint (OpenZeppelin's Pausable keeps it private).
library SignedActions {
    using KeyEpochs for KeyEpochs.Keys;

    /// @notice Checks a committee signature of the action `typehash` with `params` for the next
    ///         action nonce under the current key epoch, then consumes the nonce.
    /// @dev Reverts with {QiaoEndpoint-NotCurrentKeyEpoch} or a signature error. Emits
    ///      {QiaoEndpoint-SignedActionApplied}.
    /// @return used The action nonce consumed.
    function consume(
        KeyEpochs.Keys storage keys,
        bytes32 typehash,
        uint64 keyEpoch,
        bytes memory params,
        bytes calldata signature
    ) public returns (uint64 used) {
        if (keyEpoch != keys.current) revert QiaoEndpoint.NotCurrentKeyEpoch(keyEpoch);
        keys.checkSignature(keyEpoch, message(keys, typehash, keyEpoch, params), signature, false);
        used = keys.actionNonce++;
        emit QiaoEndpoint.SignedActionApplied(typehash, used, keyEpoch);
    }

    /// @notice Applies a FREEZE or an ALLOW of `account` carried from another chain (the gateway):
    ///         checks the committee signature of `typehash` with abi.encode(account, flag) for the
    ///         next action nonce, consumes it, then sets the registry's bridge freeze (FREEZE) or
    ///         allow-list flag (ALLOW) as the endpoint, which holds the registry's FREEZER_ROLE.
    /// @dev Reverts with {QiaoEndpoint-ZeroAddress} on a zero account, then as {consume}.
    function carry(
        KeyEpochs.Keys storage keys,
        KycRegistry registry,
        bytes32 typehash,
        uint64 keyEpoch,
        address account,
        bool flag,
        bytes calldata signature
    ) external {
        if (account == address(0)) revert QiaoEndpoint.ZeroAddress();
        consume(keys, typehash, keyEpoch, abi.encode(account, flag), signature);
        if (typehash == Protocol.FREEZE_TYPEHASH) registry.setFrozen(account, flag);
        else registry.setAllowed(account, flag);
    }

    /// @notice Schedules a RESUME signed for the next action nonce, for the endpoint's current
    ///         pause (its pause count) and until `deadline`: it lifts the pause only through
    ///         {executePending}, `delay` seconds later, unless the guardian cancels it first.
    /// @dev The endpoint checks that it is paused. The signed params are
    ///      abi.encode(keys.pauseCount, deadline): a RESUME signed during an earlier pause, or for
    ///      another deadline, does not verify ({QiaoEndpoint-InvalidSignature}). Reverts with
    ///      {QiaoEndpoint-ActionExpired} after `deadline` (before the signature is checked), then as
    ///      {consume}. Emits {QiaoEndpoint-SignedActionApplied} and {QiaoEndpoint-ActionScheduled}.
    /// @return nonce The action nonce the resume is pending under.
    function resume(
        KeyEpochs.Keys storage keys,
        mapping(uint64 => QiaoEndpoint.PendingAction) storage pending,
        uint64 keyEpoch,
        uint64 deadline,
        bytes calldata signature,
        uint64 delay
    ) external returns (uint64 nonce) {
        // forge-lint: disable-next-line(block-timestamp) -- a deadline of minutes to days
        if (block.timestamp > deadline) revert QiaoEndpoint.ActionExpired(deadline);
        nonce = consume(keys, Protocol.RESUME_TYPEHASH, keyEpoch, abi.encode(keys.pauseCount, deadline), signature);
        _schedule(keys, pending, Protocol.RESUME_TYPEHASH, nonce, keyEpoch, address(0), bytes32(0), delay);
    }

    /// @notice Schedules the installation of `newGroupKey` as key epoch current + 1, on a ROTATE
    ///         signed by the current key: it takes effect only through {executePending}, `delay`
    ///         seconds later, unless the guardian cancels it first.
    /// @dev Validates the key (on curve, in subgroup, not identity; a {BLS} error otherwise),
    ///      refuses the current key ({QiaoEndpoint-KeyUnchanged}), consumes the action nonce and
    ///      stores the new key's data contract with the pending action. Emits
    ///      {QiaoEndpoint-SignedActionApplied} and {QiaoEndpoint-ActionScheduled}.
    /// @return nonce The action nonce the rotation is pending under.
    function rotateKey(
        KeyEpochs.Keys storage keys,
        mapping(uint64 => QiaoEndpoint.PendingAction) storage pending,
        uint64 keyEpoch,
        bytes calldata newGroupKey,
        bytes calldata signature,
        uint64 delay
    ) external returns (uint64 nonce) {
        BLS.validatePublicKey(newGroupKey);
        bytes32 newHash = keccak256(newGroupKey);
        if (newHash == keccak256(keys.loadKey(keys.current))) revert QiaoEndpoint.KeyUnchanged();
        nonce = consume(keys, Protocol.ROTATE_TYPEHASH, keyEpoch, abi.encode(newHash), signature);
        address keyData = KeyEpochs.storeKey(newGroupKey);
        _schedule(keys, pending, Protocol.ROTATE_TYPEHASH, nonce, keyEpoch, keyData, newHash, delay);
    }

    /// @notice Applies the scheduled RESUME, ROTATE or UNCURSE of `nonce` once its delay has passed.
    /// @dev Reverts with {QiaoEndpoint-NoPendingAction} (never scheduled, executed already, or
    ///      cancelled, alone or by {cancelAllPending}), {QiaoEndpoint-ActionNotReady} before `executableAt`,
    ///      {QiaoEndpoint-PendingActionStale} if its key epoch is no longer the current one or
    ///      (RESUME) the endpoint is not `paused` in the pause it was scheduled in, or (UNCURSE)
    ///      the route ({SentinelModule-uncurse}: `uncurseRoutes`) is not in the curse it was
    ///      signed for. An UNCURSE lifts the route's curse (emits {QiaoEndpoint-RouteUncursed}). A ROTATE
    ///      installs the key here (emits {QiaoEndpoint-GroupKeySet}): the previous key stays
    ///      valid for batches and refunds for KEY_GRACE_PERIOD, or not at all when the endpoint
    ///      is `paused` (a recovery from a stolen key: the stolen key ends at once). For a RESUME
    ///      the endpoint unpauses. Emits {QiaoEndpoint-ActionExecuted} first.
    /// @return isResume True for a RESUME (the endpoint must unpause).
    function executePending(
        KeyEpochs.Keys storage keys,
        mapping(uint64 => QiaoEndpoint.PendingAction) storage pending,
        mapping(uint64 => uint256) storage uncurseRoutes,
        mapping(uint256 => QiaoEndpoint.Curse) storage curses,
        uint64 nonce,
        bool paused
    ) external returns (bool isResume) {
        QiaoEndpoint.PendingAction storage p = pending[nonce];
        QiaoEndpoint.PendingAction memory a = p;
        if (a.status != QiaoEndpoint.PendingStatus.Pending || nonce < keys.cancelledBelow) {
            revert QiaoEndpoint.NoPendingAction(nonce);
        }
        // forge-lint: disable-next-line(block-timestamp) -- a delay of seconds to days
        if (block.timestamp < a.executableAt) revert QiaoEndpoint.ActionNotReady(nonce, a.executableAt);
        isResume = a.typehash == Protocol.RESUME_TYPEHASH;
        if (a.keyEpoch != keys.current || (isResume && (!paused || a.pauseCount != keys.pauseCount))) {
            revert QiaoEndpoint.PendingActionStale(nonce);
        }
        if (a.typehash == Protocol.UNCURSE_TYPEHASH) {
            // `pauseCount` holds the curse number the UNCURSE was signed for
            uint256 remoteChainId = uncurseRoutes[nonce];
            QiaoEndpoint.Curse storage c = curses[remoteChainId];
            if (!c.cursed || c.count != a.pauseCount) revert QiaoEndpoint.PendingActionStale(nonce);
            p.status = QiaoEndpoint.PendingStatus.Executed;
            c.cursed = false;
            emit QiaoEndpoint.ActionExecuted(a.typehash, nonce);
            emit QiaoEndpoint.RouteUncursed(remoteChainId, a.pauseCount);
            return false;
        }
        p.status = QiaoEndpoint.PendingStatus.Executed;
        emit QiaoEndpoint.ActionExecuted(a.typehash, nonce);
        if (!isResume) {
            uint64 next = a.keyEpoch + 1;
            keys.keyData[next] = a.keyData;
            keys.current = next;
            // Paused: the rotation replaces a key that is not trusted any more; no grace, the
            // previous key's last valid second is the one before this.
            keys.previousValidUntil =
                paused ? uint64(block.timestamp) - 1 : uint64(block.timestamp) + Protocol.KEY_GRACE_PERIOD;
            emit QiaoEndpoint.GroupKeySet(next, keys.loadKey(next));
        }
    }

    /// @notice Cancels the scheduled action of `nonce` (the endpoint checks the guardian).
    /// @dev Reverts with {QiaoEndpoint-NoPendingAction} unless it is pending. Emits
    ///      {QiaoEndpoint-ActionCancelled}.
    function cancelPending(
        KeyEpochs.Keys storage keys,
        mapping(uint64 => QiaoEndpoint.PendingAction) storage pending,
        uint64 nonce
    ) external {
        QiaoEndpoint.PendingAction storage p = pending[nonce];
        if (p.status != QiaoEndpoint.PendingStatus.Pending || nonce < keys.cancelledBelow) {
            revert QiaoEndpoint.NoPendingAction(nonce);
        }
        p.status = QiaoEndpoint.PendingStatus.Cancelled;
        emit QiaoEndpoint.ActionCancelled(p.typehash, nonce);
    }

    /// @notice Cancels every scheduled action at once (the endpoint checks the guardian): each
    ///         action nonce below the current one, pending or not, can no longer be executed;
    ///         actions scheduled afterwards (from the current action nonce on) are not affected.
    /// @dev One SSTORE whatever the number of pending actions: the cutoff `cancelledBelow`, read
    ///      by {executePending}, {cancelPending} and {pendingAction}. Never reverts (calling it
    ///      again with nothing new pending only repeats the event). Emits {QiaoEndpoint-ActionsCancelled}.
    function cancelAllPending(KeyEpochs.Keys storage keys) external {
        uint64 below = keys.actionNonce;
        keys.cancelledBelow = below;
        emit QiaoEndpoint.ActionsCancelled(below);
    }

    /// @notice The scheduled action of `nonce` as stored, with status Cancelled if it was pending
    ///         when the guardian cancelled every pending action ({cancelAllPending}).
    function pendingAction(
        KeyEpochs.Keys storage keys,
        mapping(uint64 => QiaoEndpoint.PendingAction) storage pending,
        uint64 nonce
    ) external view returns (QiaoEndpoint.PendingAction memory a) {
        a = pending[nonce];
        if (a.status == QiaoEndpoint.PendingStatus.Pending && nonce < keys.cancelledBelow) {
            a.status = QiaoEndpoint.PendingStatus.Cancelled;
        }
    }

    /// @notice Moves the action nonce forward to `upTo` (the endpoint checks the guardian and the
    ///         pause): action signatures for the nonces skipped can never be used.
    /// @dev Reverts with {QiaoEndpoint-InvalidActionNonce} unless
    ///      actionNonce < upTo <= actionNonce + MAX_ACTION_NONCE_SKIP. Emits {QiaoEndpoint-ActionsInvalidated}.
    function invalidateActions(KeyEpochs.Keys storage keys, uint64 upTo) external {
        uint64 current = keys.actionNonce;
        if (upTo <= current || upTo - current > Protocol.MAX_ACTION_NONCE_SKIP) {
            revert QiaoEndpoint.InvalidActionNonce(current, upTo);
        }
        keys.actionNonce = upTo;
        emit QiaoEndpoint.ActionsInvalidated(current, upTo);
    }

    /// @notice The message of the next signed action of type `typehash` with its type-specific
    ///         fields ABI-encoded in `params` (docs/PROTOCOL.md).
    function message(KeyEpochs.Keys storage keys, bytes32 typehash, uint64 keyEpoch, bytes memory params)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            bytes.concat(
                abi.encode(typehash, Protocol.VERSION, block.chainid, address(this), keyEpoch, keys.actionNonce), params
            )
        );
    }

    /// @dev Records a RESUME or ROTATE signed for `nonce` as pending for `delay` seconds.
    function _schedule(
        KeyEpochs.Keys storage keys,
        mapping(uint64 => QiaoEndpoint.PendingAction) storage pending,
        bytes32 typehash,
        uint64 nonce,
        uint64 keyEpoch,
        address keyData,
        bytes32 newKeyHash,
        uint64 delay
    ) private {
        uint64 executableAt = uint64(block.timestamp) + delay;
        pending[nonce] = QiaoEndpoint.PendingAction(
            typehash, keyEpoch, executableAt, keys.pauseCount, QiaoEndpoint.PendingStatus.Pending, keyData
        );
        emit QiaoEndpoint.ActionScheduled(typehash, nonce, keyEpoch, executableAt, newKeyHash);
    }
}
