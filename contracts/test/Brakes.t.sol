// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";

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
        bytes memory sig = signAction(sk, e, chainId, e.RESUME_TYPEHASH(), e.currentKeyEpoch(), "");
        vm.prank(caller);
        (ok,) = address(e).call(abi.encodeWithSignature("resume(uint64,bytes)", e.currentKeyEpoch(), sig));
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
        bytes memory leaked = signAction(GROUP_SK, gateway, CHAIN_E, gateway.RESUME_TYPEHASH(), EPOCH, "");
        uint64 upTo = gateway.actionNonce() + 1;
        vm.prank(guardian);
        (bool ok,) = address(gateway).call(abi.encodeWithSignature("invalidateActions(uint64)", upTo));
        vm.assertTrue(ok, "the guardian cannot invalidate signed-but-unsubmitted actions while paused");
        vm.assertEq(gateway.actionNonce(), upTo);
        vm.prank(attacker);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, leaked);
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
