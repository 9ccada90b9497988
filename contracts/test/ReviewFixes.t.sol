// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Vm} from "./lib/Vm.sol";
import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";

/// @dev Bundles executePending + a forged executeBatch in ONE transaction (the review's drainer).
contract Drainer {
    function go(QiaoEndpoint e, uint64 n, uint64 epoch, QiaoEndpoint.PackedBatch calldata b, bytes calldata sig)
        external
    {
        e.executePending(n);
        e.executeBatch(epoch, b, sig);
    }
}

/// @notice The endpoint attack review C (reproductions turned into tests that the attacks FAIL):
///         a thief holding the group key spams RESUMEs the guardian must cancel one by one; a
///         transfer above the inbound capacity stalls its token's queue forever; the stolen key
///         keeps signing batches and refunds for a day after the recovery rotation.
contract ReviewFixesTest is SignedActions {
    address internal thief = address(0xBAD);

    /// @dev PendingStatus.Cancelled; FailureReason.ExceedsCapacity (appended last: 5).
    uint8 internal constant CANCELLED = 3;
    uint8 internal constant EXCEEDS_CAPACITY = 5;

    /// @dev Schedules a RESUME of the group key on the gateway, sent by `caller`.
    function _resume(address caller) internal returns (uint64) {
        uint64 deadline = resumeDeadline();
        bytes memory sig = signResume(GROUP_SK, gateway, CHAIN_E, gateway.currentKeyEpoch(), deadline);
        vm.prank(caller);
        return gateway.resume(EPOCH, deadline, sig);
    }

    /// @dev The guardian's bulk cancel (by selector, so this file compiles against an endpoint
    ///      without it and the attack is seen to succeed there).
    function _cancelAll(address caller) internal returns (bool ok, bytes memory ret) {
        vm.prank(caller);
        (ok, ret) = address(gateway).call(abi.encodeWithSignature("cancelAllPending()"));
    }

    /// @dev The reasons of the TransferFailed events among `logs` for (srcChainId, nonce); 255 if none.
    function _failureReason(Vm.Log[] memory logs, uint256 srcChainId, uint64 nonce) internal view returns (uint256) {
        bytes32 topic = keccak256("TransferFailed(uint256,uint64,uint8)");
        for (uint256 i; i < logs.length; ++i) {
            Vm.Log memory l = logs[i];
            if (
                l.emitter == address(gateway) && l.topics[0] == topic && uint256(l.topics[1]) == srcChainId
                    && uint256(l.topics[2]) == nonce
            ) return abi.decode(l.data, (uint256));
        }
        return 255;
    }

    // ------------------------------------------------------------------------------------------
    // 1. Bulk cancel
    // ------------------------------------------------------------------------------------------

    /// Review C (a): the thief schedules 20 RESUMEs while paused; one call of the guardian
    /// cancels all of them, so the RESUME it would have missed cannot unpause + forge a mint.
    function test_thiefSpamsResumes_oneMissedCancel_drainsAtomically() public {
        vm.chainId(CHAIN_E);
        vm.prank(guardian);
        gateway.pause();
        uint64[] memory ns = new uint64[](20);
        for (uint256 i; i < 20; ++i) {
            ns[i] = _resume(thief);
        }
        // and a ROTATE to a key of the thief's
        bytes memory thiefKey = blsPublicKey(99);
        bytes memory rotSig =
            signAction(GROUP_SK, gateway, CHAIN_E, gateway.ROTATE_TYPEHASH(), EPOCH, abi.encode(keccak256(thiefKey)));
        vm.prank(thief);
        uint64 rot = gateway.rotateKey(EPOCH, thiefKey, rotSig);

        (bool ok,) = _cancelAll(guardian);
        vm.assertTrue(ok, "the guardian has no bulk cancel");
        for (uint256 i; i < 20; ++i) {
            vm.assertEq(uint8(gateway.pendingAction(ns[i]).status), CANCELLED, "a RESUME still pending");
        }
        vm.assertEq(uint8(gateway.pendingAction(rot).status), CANCELLED, "the ROTATE still pending");

        vm.warp(block.timestamp + ACTION_DELAY);
        QiaoEndpoint.Transfer memory f =
            QiaoEndpoint.Transfer(CHAIN_C, CHAIN_E, 777, address(asset), address(wrapped), thief, bob, 1_000 ether);
        QiaoEndpoint.Transfer[] memory fs = one(f);
        bytes memory sig = signForGateway(fs);
        Drainer d = new Drainer();
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, ns[7]));
        d.go(gateway, ns[7], EPOCH, pack(fs), sig);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, rot));
        gateway.executePending(rot);
        // nor can the guardian cancel one again (it is not pending)
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, ns[3]));
        gateway.cancelPending(ns[3]);
        vm.assertEq(wrapped.balanceOf(bob), 0, "forged mint");
        vm.assertTrue(gateway.paused());
        vm.assertEq(gateway.currentKeyEpoch(), EPOCH);

        // the committee's RESUME signed after the cancel (a later action nonce) still works
        uint64 honest = _resume(address(this));
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(honest);
        vm.assertFalse(gateway.paused());
    }

    /// The bulk cancel: guardian only, paused or not, emits its event, keeps later actions.
    function test_cancelAllPending_guardianOnly_notPausedToo_laterActionsUnaffected() public {
        vm.chainId(CHAIN_E);
        bytes memory key2 = blsPublicKey(OTHER_SK);
        bytes memory rotSig =
            signAction(GROUP_SK, gateway, CHAIN_E, gateway.ROTATE_TYPEHASH(), EPOCH, abi.encode(keccak256(key2)));
        uint64 rot = gateway.rotateKey(EPOCH, key2, rotSig);
        (bool ok, bytes memory ret) = _cancelAll(thief);
        vm.assertFalse(ok, "anyone cancels");
        vm.assertEq(ret, abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, thief));
        vm.assertEq(uint8(gateway.pendingAction(rot).status), 1);

        vm.recordLogs();
        (ok,) = _cancelAll(guardian); // not paused
        vm.assertTrue(ok, "no bulk cancel while not paused");
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(logs.length, 1);
        vm.assertEq(logs[0].topics[0], keccak256("ActionsCancelled(uint64)"));
        vm.assertEq(abi.decode(logs[0].data, (uint64)), rot + 1);
        vm.assertEq(uint8(gateway.pendingAction(rot).status), CANCELLED);

        // a ROTATE scheduled afterwards is not touched, and executes
        rotSig = signAction(GROUP_SK, gateway, CHAIN_E, gateway.ROTATE_TYPEHASH(), EPOCH, abi.encode(keccak256(key2)));
        uint64 rot2 = gateway.rotateKey(EPOCH, key2, rotSig);
        vm.assertEq(uint8(gateway.pendingAction(rot2).status), 1);
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(rot2);
        vm.assertEq(gateway.currentKeyEpoch(), 2);
    }

    // ------------------------------------------------------------------------------------------
    // 2. A transfer above the inbound capacity
    // ------------------------------------------------------------------------------------------

    /// Review C (b): a transfer larger than the bucket's capacity used to queue and block every
    /// later transfer of the token for good; it is now failed (ExceedsCapacity, refundable) and
    /// the transfers after it pass.
    function test_oversizedHead_stallsTheWholeTokenQueue() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 100 ether, 1 ether);
        QiaoEndpoint.Transfer memory big = lockOnC(alice, carol, 150 ether);
        vm.recordLogs();
        executeOnE(one(big), signForGateway(one(big)));
        vm.assertEq(
            uint8(gateway.transferStatus(CHAIN_C, big.nonce)),
            uint8(QiaoEndpoint.TransferStatus.Failed),
            "the oversized transfer is not failed"
        );
        vm.assertEq(_failureReason(vm.getRecordedLogs(), CHAIN_C, big.nonce), EXCEEDS_CAPACITY);
        (, uint256 length) = gateway.queueHead(address(wrapped));
        vm.assertEq(length, 0);
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 100 ether);

        // the next transfer of the token passes at once
        QiaoEndpoint.Transfer memory small = lockOnC(alice, bob, 1 ether);
        executeOnE(one(small), signForGateway(one(small)));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, small.nonce)), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.assertEq(wrapped.balanceOf(bob), 1 ether);

        // and the oversized one is refunded on C
        uint256 before = asset.balanceOf(alice);
        bytes memory refundSig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, big);
        vm.chainId(CHAIN_C);
        vault.refund(EPOCH, big, refundSig);
        vm.assertEq(asset.balanceOf(alice), before + 150 ether);
        vm.assertEq(asset.balanceOf(address(vault)), wrapped.totalSupply());
    }

    /// The same in a batch of several tokens' transfers and by executeTransfer: only the
    /// oversized one fails; the others are delivered or queued as before.
    function test_oversizedTransfer_inABatch_failsAloneTheOthersGoOn() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 10 ether, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](4);
        ts[0] = lockOnC(alice, bob, 6 ether); // delivered
        ts[1] = lockOnC(alice, carol, 11 ether); // above the capacity: failed
        ts[2] = lockOnC(alice, carol, 5 ether); // over the 4 left: queued
        ts[3] = lockOnC(alice, bob, 10 ether); // exactly the capacity: queued behind
        vm.recordLogs();
        executeOnE(ts, signForGateway(ts));
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 1)), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(_failureReason(logs, CHAIN_C, 2), EXCEEDS_CAPACITY);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 3)), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 4)), uint8(QiaoEndpoint.TransferStatus.Queued));
        (bytes32 head, uint256 length) = gateway.queueHead(address(wrapped));
        vm.assertEq(head, refLeaf(ts[2]));
        vm.assertEq(length, 2);

        // executeTransfer of an oversized one (alone, with its proof): failed too
        QiaoEndpoint.Transfer memory big = lockOnC(alice, carol, 20 ether);
        bytes memory sig = signForGateway(one(big));
        vm.chainId(CHAIN_E);
        vm.recordLogs();
        gateway.executeTransfer(EPOCH, big, big.nonce, big.nonce, new bytes32[](0), sig);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, big.nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(_failureReason(vm.getRecordedLogs(), CHAIN_C, big.nonce), EXCEEDS_CAPACITY);
        (, length) = gateway.queueHead(address(wrapped));
        vm.assertEq(length, 2);

        vm.warp(block.timestamp + 1);
        gateway.releaseQueued(ts[2]);
        vm.warp(block.timestamp + 10);
        gateway.releaseQueued(ts[3]);
        vm.assertEq(wrapped.totalSupply(), 21 ether);
    }

    /// A queued head that no longer fits after the owner lowers the capacity: anyone's
    /// releaseQueued fails it (ExceedsCapacity, refundable) and pops it; the next one follows.
    function test_queuedHeadAboveALoweredCapacity_isFailedAndPopped_notStalling() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 10 ether, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        ts[0] = lockOnC(alice, bob, 8 ether); // delivered: 2 left
        ts[1] = lockOnC(alice, carol, 9 ether); // queued
        ts[2] = lockOnC(alice, bob, 2 ether); // queued behind
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 5 ether, 1 ether);
        vm.warp(block.timestamp + 30 days);

        vm.recordLogs();
        vm.prank(address(0x5EED));
        gateway.releaseQueued(ts[1]);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(_failureReason(vm.getRecordedLogs(), CHAIN_C, 2), EXCEEDS_CAPACITY);
        vm.assertEq(wrapped.balanceOf(carol), 0);
        // nothing was charged for it
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 5 ether);
        (bytes32 head, uint256 length) = gateway.queueHead(address(wrapped));
        vm.assertEq(head, refLeaf(ts[2]));
        vm.assertEq(length, 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, 2));
        gateway.releaseQueued(ts[1]);
        gateway.releaseQueued(ts[2]);
        vm.assertEq(wrapped.balanceOf(bob), 10 ether);

        // refundable on C
        bytes memory refundSig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, ts[1]);
        vm.chainId(CHAIN_C);
        vault.refund(EPOCH, ts[1], refundSig);
        vm.assertTrue(vault.isRefunded(CHAIN_E, 2));
    }

    /// Capacity 0 still means no limit: any amount passes, nothing fails for capacity.
    function test_capacityZero_isNoLimit_aLargeTransferPasses() public {
        QiaoEndpoint.Transfer memory t = lockOnC(alice, bob, 500_000 ether);
        executeOnE(one(t), signForGateway(one(t)));
        vm.assertEq(wrapped.balanceOf(bob), 500_000 ether);
    }

    // ------------------------------------------------------------------------------------------
    // 3. The recovery rotation ends the stolen key at once
    // ------------------------------------------------------------------------------------------

    /// Review C: after the guardian's pause and the recovery ROTATE, the stolen epoch-1 key used to
    /// sign valid batches and refunds for a day (KEY_GRACE_PERIOD). A ROTATE executed while
    /// paused now ends the old key at once.
    function test_recoveryRotationWhilePaused_stolenKeyDiesAtOnce() public {
        QiaoEndpoint.Transfer memory forged =
            QiaoEndpoint.Transfer(CHAIN_C, CHAIN_E, 777, address(asset), address(wrapped), thief, bob, 1_000 ether);
        bytes memory forgedSig = signFor(GROUP_SK, address(gateway), CHAIN_E, EPOCH, one(forged));
        vm.chainId(CHAIN_E);
        vm.prank(guardian);
        gateway.pause();
        bytes memory newKey = blsPublicKey(OTHER_SK);
        bytes memory rotSig =
            signAction(GROUP_SK, gateway, CHAIN_E, gateway.ROTATE_TYPEHASH(), EPOCH, abi.encode(keccak256(newKey)));
        uint64 rot = gateway.rotateKey(EPOCH, newKey, rotSig);
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(rot);
        vm.assertEq(gateway.currentKeyEpoch(), 2);
        vm.assertLt(gateway.previousKeyValidUntil(), block.timestamp, "the stolen key has a grace period");
        vm.assertFalse(gateway.verifySignature(EPOCH, bytes32(uint256(1)), forgedSig));

        // the new key resumes
        uint64 deadline = resumeDeadline();
        uint64 res = gateway.resume(2, deadline, signResume(OTHER_SK, gateway, CHAIN_E, 2, deadline));
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(res);
        vm.assertFalse(gateway.paused());

        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.KeyEpochExpired.selector, EPOCH));
        gateway.executeBatch(EPOCH, pack(one(forged)), forgedSig);
        vm.assertEq(wrapped.balanceOf(bob), 0, "forged mint under the stolen key");

        // and no refund under the stolen key either (a real burn on E)
        allowBoth(thief);
        vm.prank(address(gateway));
        wrapped.mint(thief, 5 ether);
        QiaoEndpoint.Transfer memory b = burnOnE(thief, thief, 5 ether);
        bytes memory stolenRefund = signRefund(GROUP_SK, gateway, CHAIN_E, EPOCH, b);
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.KeyEpochExpired.selector, EPOCH));
        gateway.refund(EPOCH, b, stolenRefund);
    }

    /// A rotation while not paused (a planned one) keeps the grace period for batches in flight.
    function test_plannedRotationNotPaused_keepsTheGracePeriod() public {
        vm.warp(1000);
        rotateGateway(OTHER_SK);
        vm.assertEq(gateway.previousKeyValidUntil(), 1000 + ACTION_DELAY + GRACE);
    }
}
