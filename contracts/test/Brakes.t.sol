// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {SignedActions} from "./Features.t.sol";
import {BLS} from "../src/BLS.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {QiaoGateway} from "../src/QiaoGateway.sol";
import {QiaoVault} from "../src/QiaoVault.sol";

/// @notice Issue 13, points 3 to 5: attacks by a holder of the committee's group key on the
///         guardian's brake, by later traffic on the release queue, by an owner's rate change on
///         a drained bucket, and gas griefing of relayers. Calls to functions the fix adds are
///         low-level, so that each test also compiles (and fails) against the code before it.
contract BrakesAttackTest is SignedActions {
    address internal attacker = address(0xBAD);

    // ------------------------------------------------------------------ helpers (low level)

    function _delay(QiaoEndpoint e) internal view returns (uint256) {
        (bool ok, bytes memory ret) = address(e).staticcall(abi.encodeWithSignature("actionDelay()"));
        vm.assertTrue(ok && ret.length == 32, "the endpoint has no actionDelay()");
        return abi.decode(ret, (uint256));
    }

    function _cancel(QiaoEndpoint e, uint64 actionNonce) internal returns (bool ok) {
        vm.prank(guardian);
        (ok,) = address(e).call(abi.encodeWithSignature("cancelPending(uint64)", actionNonce));
    }

    function _executePending(QiaoEndpoint e, uint64 actionNonce, address caller) internal returns (bool ok) {
        vm.prank(caller);
        (ok,) = address(e).call(abi.encodeWithSignature("executePending(uint64)", actionNonce));
    }

    function _resume(QiaoEndpoint e, uint256 chainId, uint256 sk, address caller) internal returns (bool ok) {
        uint64 deadline = resumeDeadline();
        bytes memory sig = signResume(sk, e, chainId, e.currentKeyEpoch(), deadline);
        vm.prank(caller);
        (ok,) =
            address(e).call(abi.encodeWithSignature("resume(uint64,uint64,bytes)", e.currentKeyEpoch(), deadline, sig));
    }

    function _rotate(QiaoEndpoint e, uint256 chainId, uint256 signerSk, bytes memory newKey, address caller)
        internal
        returns (bool ok)
    {
        uint64 epoch = e.currentKeyEpoch();
        bytes memory sig = signAction(signerSk, e, chainId, e.ROTATE_TYPEHASH(), epoch, abi.encode(keccak256(newKey)));
        vm.prank(caller);
        (ok,) = address(e).call(abi.encodeWithSignature("rotateKey(uint64,bytes,bytes)", epoch, newKey, sig));
    }

    // ------------------------------------------------------------------ point 3: the brake

    /// @dev A thief of the group key signs a RESUME and submits it while the guardian's pause holds.
    function test_stolenKeyResumeDuringGuardianPause_isDelayedAndCancellable() public {
        vm.chainId(CHAIN_E);
        vm.prank(guardian);
        gateway.pause();
        uint64 nonce = gateway.actionNonce();
        bool scheduled = _resume(gateway, CHAIN_E, GROUP_SK, attacker);
        vm.assertTrue(gateway.paused(), "a stolen-key RESUME lifted the guardian's pause at once");
        vm.assertTrue(scheduled, "a signed RESUME is scheduled, not refused");
        uint256 delay = _delay(gateway);
        // not before the delay
        vm.assertFalse(_executePending(gateway, nonce, attacker), "executed before the delay");
        // the guardian cancels it during the delay; after the delay it can never run
        vm.warp(block.timestamp + delay / 2);
        vm.assertTrue(_cancel(gateway, nonce), "the guardian cannot cancel the pending RESUME");
        vm.warp(block.timestamp + delay);
        vm.assertFalse(_executePending(gateway, nonce, attacker), "a cancelled RESUME ran");
        vm.assertTrue(gateway.paused(), "the brake was released");
    }

    /// @dev A thief of the group key rotates to a key only it holds: the honest committee (and the
    ///      owner) could never act again.
    function test_stolenKeyRotation_cannotLockOutCommittee() public {
        vm.chainId(CHAIN_E);
        bytes memory attackerKey = blsPublicKey(OTHER_SK);
        uint64 attackNonce = gateway.actionNonce();
        _rotate(gateway, CHAIN_E, GROUP_SK, attackerKey, attacker);
        vm.assertEq(gateway.currentKeyEpoch(), 1, "a stolen-key ROTATE installed the attacker's key at once");
        // the guardian pauses and cancels the pending rotation within the delay
        vm.prank(guardian);
        gateway.pause();
        vm.assertTrue(_cancel(gateway, attackNonce), "the guardian cannot cancel the pending ROTATE");
        vm.warp(block.timestamp + _delay(gateway) + 1);
        vm.assertFalse(_executePending(gateway, attackNonce, attacker), "a cancelled ROTATE ran");
        vm.assertEq(gateway.currentKeyEpoch(), 1);
        // the honest committee rotates to a key the attacker does not hold (a fresh DKG)
        bytes memory honestKey = blsPublicKey(7);
        uint64 honestNonce = gateway.actionNonce();
        vm.assertTrue(_rotate(gateway, CHAIN_E, GROUP_SK, honestKey, address(this)), "honest ROTATE refused");
        vm.warp(block.timestamp + _delay(gateway));
        vm.assertTrue(_executePending(gateway, honestNonce, address(this)), "honest ROTATE not executable");
        vm.assertEq(gateway.currentKeyEpoch(), 2);
        vm.assertEq(gateway.groupKey(2), honestKey);
        // the stolen key can no longer schedule anything
        vm.assertFalse(_resume(gateway, CHAIN_E, GROUP_SK, attacker), "the old key still signs actions");
    }

    /// @dev A RESUME the committee signed (for a pause it then decided to keep) leaked before it
    ///      was submitted; the guardian pauses and must be able to void it.
    function test_leakedResumeSignature_canBeInvalidatedWhilePaused() public {
        vm.chainId(CHAIN_E);
        vm.prank(guardian);
        gateway.pause();
        uint64 deadline = resumeDeadline();
        bytes memory leaked = signResume(GROUP_SK, gateway, CHAIN_E, EPOCH, deadline);
        uint64 upTo = gateway.actionNonce() + 1;
        vm.prank(guardian);
        (bool ok,) = address(gateway).call(abi.encodeWithSignature("invalidateActions(uint64)", upTo));
        vm.assertTrue(ok, "the guardian cannot invalidate signed-but-unsubmitted actions while paused");
        vm.assertEq(gateway.actionNonce(), upTo);
        vm.prank(attacker);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadline, leaked);
        vm.assertTrue(gateway.paused());
    }

    // ------------------------------------------------------------------ point 4: rate limits

    /// @dev A 100-unit transfer queued by the inbound limit must not be overtaken by later traffic
    ///      that takes every refill: here 50-unit transfers every 50 seconds, 300 units in all,
    ///      through three capacities of refill.
    function test_queuedTransferReleasedBeforeLaterTraffic() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 100 ether, 1 ether);
        QiaoEndpoint.Transfer[] memory first = new QiaoEndpoint.Transfer[](2);
        first[0] = lockOnC(alice, bob, 100 ether); // drains the bucket
        first[1] = lockOnC(alice, carol, 100 ether); // queued
        executeOnE(first, signForGateway(first));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Queued));
        QiaoEndpoint.Transfer[] memory later = new QiaoEndpoint.Transfer[](6);
        for (uint256 i; i < 6; ++i) {
            vm.warp(block.timestamp + 50);
            later[i] = lockOnC(alice, bob, 50 ether);
            executeOnE(one(later[i]), signForGateway(one(later[i])));
            vm.assertEq(
                uint8(gateway.transferStatus(CHAIN_C, later[i].nonce)),
                uint8(QiaoEndpoint.TransferStatus.Queued),
                "later traffic passed a queued transfer"
            );
            if (i == 1) {
                // 100 seconds of refill: the head goes first, anyone may release it
                vm.prank(attacker);
                gateway.releaseQueued(first[1]);
                vm.assertEq(wrapped.balanceOf(carol), 100 ether);
            }
        }
        // the rest leave in order: a later one cannot jump the head
        vm.warp(block.timestamp + 1000);
        vm.expectRevert();
        gateway.releaseQueued(later[1]);
        for (uint256 i; i < 6; ++i) {
            gateway.releaseQueued(later[i]);
            vm.warp(block.timestamp + 50);
        }
        vm.assertEq(wrapped.balanceOf(bob), 400 ether);
    }

    /// @dev The owner changes only the refill rate of a drained bucket: that must not hand out a
    ///      full capacity (today the bucket is reset to full).
    function test_setRateLimitRateOnly_doesNotRefillDrainedBucket() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 100 ether, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 100 ether));
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 0);
        vm.warp(block.timestamp + 10);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 100 ether, 2 ether);
        vm.assertEq(
            gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound),
            10 ether,
            "a rate change refilled a drained bucket"
        );
        vm.warp(block.timestamp + 5); // now at the new rate
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 20 ether);
        // a smaller capacity caps the level; a larger one does not fill it
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 15 ether, 2 ether);
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 15 ether);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 500 ether, 2 ether);
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 15 ether);
    }

    // ------------------------------------------------------------------ point 5: gas griefing

    /// @dev Two relayers race to submit the same batch; the one that loses must pay little.
    function test_losingRelayerPaysLittle_whenBatchAlreadyExecuted() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(10);
        bytes memory sig = signForGateway(ts);
        executeOnE(ts, sig);
        bytes memory call = abi.encodeCall(QiaoEndpoint.executeBatch, (EPOCH, pack(ts), sig));
        uint256 before = gasleft();
        (bool ok, bytes memory ret) = address(gateway).call(call);
        uint256 used = before - gasleft();
        emit log_named_uint("losing executeBatch gas (10 transfers)", used);
        vm.assertFalse(ok);
        vm.assertEq(ret, abi.encodeWithSelector(QiaoEndpoint.BatchAlreadyExecuted.selector, CHAIN_C, 1, 10));
        vm.assertLt(used, 30_000, "the losing relayer paid for the pairing check");
        // the same for one transfer executed with its proof
        bytes32[] memory proof = refProof(leavesOf(ts), 3);
        before = gasleft();
        (ok, ret) =
            address(gateway).call(abi.encodeCall(QiaoEndpoint.executeTransfer, (EPOCH, ts[3], 1, 10, proof, sig)));
        used = before - gasleft();
        emit log_named_uint("losing executeTransfer gas", used);
        vm.assertFalse(ok);
        vm.assertEq(ret, abi.encodeWithSelector(QiaoEndpoint.AlreadyExecuted.selector, CHAIN_C, 4));
        vm.assertLt(used, 30_000, "the losing relayer paid for the pairing check");
    }

    /// @dev A signature that is 128 bytes, not the identity, but not a point on the curve: the
    ///      pairing precompile fails, which must not consume the whole gas limit of the call.
    function test_invalidPointDoesNotBurnWholeGasLimit() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory bad = signForGateway(ts);
        bad[127] = bytes1(uint8(bad[127]) ^ 1); // y + 1 (or - 1): off the curve
        vm.chainId(CHAIN_E);
        bytes memory call = abi.encodeCall(QiaoEndpoint.executeBatch, (EPOCH, pack(ts), bad));
        uint256 before = gasleft();
        (bool ok, bytes memory ret) = address(gateway).call{gas: 3_000_000}(call);
        uint256 used = before - gasleft();
        emit log_named_uint("executeBatch gas with an invalid point (3M limit)", used);
        vm.assertFalse(ok);
        vm.assertEq(ret, abi.encodeWithSelector(QiaoEndpoint.InvalidSignature.selector));
        vm.assertLt(used, 300_000, "an invalid point burnt the gas limit");
    }
}

/// @notice The scheduled RESUME and ROTATE, the guardian's cancel and invalidation, the release
///         queue and the rate-limit changes: who may, when, twice, after a cancel, another epoch.
contract BrakesTest is SignedActions {
    address internal stranger = address(0x5EED);

    function _pauseE() internal {
        vm.chainId(CHAIN_E);
        vm.prank(guardian);
        gateway.pause();
    }

    function _scheduleResume() internal returns (uint64) {
        vm.chainId(CHAIN_E);
        uint64 epoch = gateway.currentKeyEpoch();
        uint64 deadline = resumeDeadline();
        return gateway.resume(epoch, deadline, signResume(GROUP_SK, gateway, CHAIN_E, epoch, deadline));
    }

    function _scheduleRotate(bytes memory newKey) internal returns (uint64) {
        vm.chainId(CHAIN_E);
        bytes memory sig =
            signAction(GROUP_SK, gateway, CHAIN_E, gateway.ROTATE_TYPEHASH(), EPOCH, abi.encode(keccak256(newKey)));
        return gateway.rotateKey(EPOCH, newKey, sig);
    }

    // ------------------------------------------------------------------ deployment

    function test_actionDelay_isSetAtDeployment_withinBounds() public {
        vm.assertEq(gateway.actionDelay(), ACTION_DELAY);
        vm.assertEq(vault.actionDelay(), ACTION_DELAY);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidActionDelay.selector, 0));
        new QiaoGateway(owner, guardian, groupPk, registryE, 0);
        uint64 tooLong = 30 days + 1;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidActionDelay.selector, tooLong));
        new QiaoVault(owner, guardian, groupPk, registryC, tooLong);
        vm.assertEq(new QiaoVault(owner, guardian, groupPk, registryC, 30 days).actionDelay(), 30 days);
    }

    // ------------------------------------------------------------------ resume

    function test_resume_isScheduled_visible_andRunsAfterTheDelayOnly() public {
        _pauseE();
        vm.warp(5000);
        uint64 at = 5000 + ACTION_DELAY;
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.ActionScheduled(gateway.RESUME_TYPEHASH(), 0, EPOCH, at, bytes32(0));
        uint64 n = _scheduleResume();
        vm.assertEq(n, 0);
        vm.assertEq(gateway.actionNonce(), 1);
        QiaoEndpoint.PendingAction memory p = gateway.pendingAction(n);
        vm.assertEq(p.typehash, gateway.RESUME_TYPEHASH());
        vm.assertEq(p.keyEpoch, EPOCH);
        vm.assertEq(p.executableAt, at);
        vm.assertEq(uint8(p.status), uint8(QiaoEndpoint.PendingStatus.Pending));
        vm.assertTrue(gateway.paused());
        vm.warp(at - 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.ActionNotReady.selector, n, at));
        gateway.executePending(n);
        vm.warp(at);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.ActionExecuted(gateway.RESUME_TYPEHASH(), n);
        vm.prank(stranger); // anyone
        gateway.executePending(n);
        vm.assertFalse(gateway.paused());
        vm.assertEq(uint8(gateway.pendingAction(n).status), uint8(QiaoEndpoint.PendingStatus.Executed));
        // twice: nothing pending any more
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, n));
        gateway.executePending(n);
        // a nonce never scheduled
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, 7));
        gateway.executePending(7);
    }

    function test_resume_refusedWhenNotPaused() public {
        vm.chainId(CHAIN_E);
        uint64 deadline = resumeDeadline();
        bytes memory sig = signResume(GROUP_SK, gateway, CHAIN_E, EPOCH, deadline);
        vm.expectRevert(Pausable.ExpectedPause.selector);
        gateway.resume(EPOCH, deadline, sig);
        vm.assertEq(gateway.actionNonce(), 0);
    }

    function test_pendingResume_liftsOnlyThePauseItWasScheduledIn() public {
        _pauseE();
        uint64 first = _scheduleResume();
        uint64 second = _scheduleResume();
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(first);
        vm.assertFalse(gateway.paused());
        // the second is for the same pause, which ended
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PendingActionStale.selector, second));
        gateway.executePending(second);
        // nor can it lift a later pause
        vm.prank(guardian);
        gateway.pause();
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PendingActionStale.selector, second));
        gateway.executePending(second);
        vm.assertTrue(gateway.paused());
        // a committee PAUSE stays immediate, and counts as a new pause too
        resumeNow(gateway, CHAIN_E);
        gateway.pauseWithSignature(EPOCH, signAction(GROUP_SK, gateway, CHAIN_E, gateway.PAUSE_TYPEHASH(), EPOCH, ""));
        vm.assertTrue(gateway.paused());
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PendingActionStale.selector, second));
        gateway.executePending(second);
    }

    // ------------------------------------------------------------------ cancel

    function test_cancelPending_onlyGuardian_onlyWhilePending() public {
        _pauseE();
        uint64 n = _scheduleResume();
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, owner));
        gateway.cancelPending(n);
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, stranger));
        gateway.cancelPending(n);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, n + 1));
        gateway.cancelPending(n + 1);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.ActionCancelled(gateway.RESUME_TYPEHASH(), n);
        vm.prank(guardian);
        gateway.cancelPending(n);
        vm.assertEq(uint8(gateway.pendingAction(n).status), uint8(QiaoEndpoint.PendingStatus.Cancelled));
        // twice
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, n));
        gateway.cancelPending(n);
        // after the delay, a cancelled action never runs
        vm.warp(block.timestamp + ACTION_DELAY);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, n));
        gateway.executePending(n);
        // an executed one cannot be cancelled
        uint64 m = _scheduleResume();
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(m);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, m));
        gateway.cancelPending(m);
    }

    // ------------------------------------------------------------------ rotation

    function test_rotate_isScheduled_keyInstalledOnlyAtExecution() public {
        bytes memory newKey = blsPublicKey(OTHER_SK);
        vm.warp(10_000);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.ActionScheduled(gateway.ROTATE_TYPEHASH(), 0, EPOCH, 10_000 + ACTION_DELAY, keccak256(newKey));
        uint64 n = _scheduleRotate(newKey);
        vm.assertEq(gateway.currentKeyEpoch(), 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnknownKeyEpoch.selector, 2));
        gateway.groupKey(2);
        QiaoEndpoint.PendingAction memory p = gateway.pendingAction(n);
        vm.assertEq(p.typehash, gateway.ROTATE_TYPEHASH());
        vm.assertTrue(p.keyData != address(0));
        // the new key cannot sign anything yet
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig2 = signFor(OTHER_SK, address(gateway), CHAIN_E, 2, ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnknownKeyEpoch.selector, 2));
        gateway.executeBatch(2, pack(ts), sig2);
        vm.warp(10_000 + ACTION_DELAY);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.GroupKeySet(2, newKey);
        gateway.executePending(n);
        vm.assertEq(gateway.currentKeyEpoch(), 2);
        vm.assertEq(gateway.previousKeyValidUntil(), 10_000 + ACTION_DELAY + GRACE);
        gateway.executeBatch(2, pack(ts), sig2);
        vm.assertEq(wrapped.balanceOf(bob), 1 ether);
    }

    function test_twoPendingActions_theFirstRotationMakesTheOtherStale() public {
        uint64 a = _scheduleRotate(blsPublicKey(OTHER_SK));
        uint64 b = _scheduleRotate(blsPublicKey(7)); // a second one while one is pending: allowed
        vm.assertEq(b, a + 1);
        _pauseE();
        uint64 r = _scheduleResume();
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(b);
        vm.assertEq(gateway.groupKey(2), blsPublicKey(7));
        // both the other rotation and the resume were signed under epoch 1
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PendingActionStale.selector, a));
        gateway.executePending(a);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PendingActionStale.selector, r));
        gateway.executePending(r);
        vm.assertEq(gateway.currentKeyEpoch(), 2);
        vm.assertTrue(gateway.paused());
        // the guardian can still clear the stale ones from the view
        vm.prank(guardian);
        gateway.cancelPending(a);
    }

    // ------------------------------------------------------------------ invalidation

    function test_invalidateActions_rejections_andTheCommitteeSignsAgain() public {
        vm.chainId(CHAIN_E);
        vm.prank(guardian);
        vm.expectRevert(Pausable.ExpectedPause.selector);
        gateway.invalidateActions(5);
        _pauseE();
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, owner));
        gateway.invalidateActions(5);
        vm.startPrank(guardian);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidActionNonce.selector, 0, 0));
        gateway.invalidateActions(0);
        uint64 tooFar = 1_000_001;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidActionNonce.selector, 0, tooFar));
        gateway.invalidateActions(tooFar);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.ActionsInvalidated(0, 5);
        gateway.invalidateActions(5);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidActionNonce.selector, 5, 5));
        gateway.invalidateActions(5);
        vm.stopPrank();
        vm.assertEq(gateway.actionNonce(), 5);
        // a signature for the new nonce works
        uint64 n = _scheduleResume();
        vm.assertEq(n, 5);
        // a scheduled action is not touched by an invalidation (cancel it for that)
        vm.prank(guardian);
        gateway.invalidateActions(9);
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(n);
        vm.assertFalse(gateway.paused());
    }

    // ------------------------------------------------------------------ release queue

    /// A transfer larger than the capacity could never pass: it is failed (ExceedsCapacity), not
    /// queued, and does not hold up the next one (review C; it used to wait for the owner).
    function test_queue_transferLargerThanCapacity_isFailed_theNextOnePasses() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 10 ether, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = lockOnC(alice, carol, 50 ether); // larger than the capacity
        ts[1] = lockOnC(alice, bob, 1 ether);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, 1, QiaoEndpoint.FailureReason.ExceedsCapacity);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferExecuted(CHAIN_C, 2, bob, 1 ether);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 1)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, 1));
        gateway.releaseQueued(ts[0]);
        vm.assertEq(wrapped.totalSupply(), 1 ether);
        // a larger capacity fills at the rate, not at once: a transfer within it waits its turn
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 100 ether, 1 ether);
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 9 ether);
        QiaoEndpoint.Transfer memory t = lockOnC(alice, carol, 50 ether);
        executeOnE(one(t), signForGateway(one(t)));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, t.nonce)), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.warp(block.timestamp + 40);
        vm.expectRevert(
            abi.encodeWithSelector(
                QiaoEndpoint.RateLimited.selector, address(wrapped), QiaoEndpoint.Direction.Inbound, 49 ether, 50 ether
            )
        );
        gateway.releaseQueued(t);
        vm.warp(block.timestamp + 1);
        gateway.releaseQueued(t);
        vm.assertEq(wrapped.totalSupply(), 51 ether);
    }

    function test_queue_failedHeadLeavesTheQueue_andRemovingTheLimitDrainsIt() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 2 ether, 1);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](4);
        ts[0] = lockOnC(alice, bob, 2 ether); // delivered
        ts[1] = lockOnC(alice, carol, 2 ether); // queued, then carol is frozen
        ts[2] = lockOnC(alice, bob, 1 ether); // queued behind
        ts[3] = lockOnC(alice, bob, 1 ether); // queued behind
        executeOnE(ts, signForGateway(ts));
        vm.prank(owner);
        registryE.setFrozen(carol, true);
        // no limit any more: the queue is released in order at once
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 0, 0);
        gateway.releaseQueued(ts[1]);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
        gateway.releaseQueued(ts[2]);
        gateway.releaseQueued(ts[3]);
        (bytes32 head, uint256 length) = gateway.queueHead(address(wrapped));
        vm.assertEq(head, bytes32(0));
        vm.assertEq(length, 0);
        vm.assertEq(wrapped.balanceOf(bob), 4 ether);
        // with the queue empty, a batch is delivered at once again
        QiaoEndpoint.Transfer[] memory more = one(lockOnC(alice, bob, 1 ether));
        executeOnE(more, signForGateway(more));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 5)), uint8(QiaoEndpoint.TransferStatus.Delivered));
    }

    function test_setRateLimit_newLimitStartsFull_removedLimitIsGone() public {
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Outbound, 10 ether, 1 ether);
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Outbound), 10 ether);
        lockOnC(alice, bob, 10 ether);
        vm.prank(owner);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Outbound, 0, 0);
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Outbound), type(uint256).max);
        // set again after removal: a new limit, full
        vm.prank(owner);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Outbound, 5 ether, 1 ether);
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Outbound), 5 ether);
    }

    // ------------------------------------------------------------------ verification gas

    function test_verify_withTooLittleGas_isNotReportedAsAnInvalidSignature() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        bytes memory call = abi.encodeCall(QiaoEndpoint.executeBatch, (EPOCH, pack(ts), sig));
        (bool ok, bytes memory ret) = address(gateway).call{gas: 150_000}(call);
        vm.assertFalse(ok);
        vm.assertEq(bytes4(ret), BLS.BLSInsufficientGas.selector);
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 1));
        // with enough gas the same call goes through
        (ok,) = address(gateway).call{gas: 400_000}(call);
        vm.assertTrue(ok);
        vm.assertEq(wrapped.balanceOf(bob), 1 ether);
    }

    function test_alreadyExecutedCheckedBeforeTheSignature_anyForgedSignatureGetsTheSameAnswer() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(3);
        executeOnE(ts, signForGateway(ts));
        bytes memory forged = signFor(OTHER_SK, address(gateway), CHAIN_E, EPOCH, ts);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.BatchAlreadyExecuted.selector, CHAIN_C, 1, 3));
        gateway.executeBatch(EPOCH, pack(ts), forged);
        // a batch with one new transfer is still verified in full
        QiaoEndpoint.Transfer[] memory four = new QiaoEndpoint.Transfer[](4);
        for (uint256 i; i < 3; ++i) {
            four[i] = ts[i];
        }
        four[3] = lockOnC(alice, bob, 9 ether);
        bytes memory forged4 = signFor(OTHER_SK, address(gateway), CHAIN_E, EPOCH, four);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(four), forged4);
        executeOnE(four, signForGateway(four));
        vm.assertEq(wrapped.balanceOf(bob), 15 ether);
    }
}
