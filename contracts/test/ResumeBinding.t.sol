// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";

/// @notice Security review, the RESUME message: it names only (chain, endpoint, key epoch, action
///         nonce), so partials the members gave for one proposal are valid for any resume at the
///         same nonce. A member signs a RESUME only after its own operator approved that proposal,
///         until it expires; if the message does not say which pause it lifts nor until when it
///         may be submitted, expiry and rejection are local bookkeeping, and a byzantine member
///         on the broker combines the honest members' old partials with its own.
/// @dev The committee signs RESUME(pauseCount, deadline) for the endpoint's current pause
///      (docs/PROTOCOL.md). Each attack was seen to succeed against the endpoint before the fix
///      (commit "Attack test: ...", where the message had no params and resume no deadline).
contract ResumeBindingAttackTest is SignedActions {
    address internal attacker = address(0xBAD);
    /// @dev A second polynomial coefficient: member i's share of GROUP_SK is GROUP_SK + COEF * i
    ///      (t = 2), so partials of members 1 and 2 combine as 2 * p1 - p2.
    uint256 internal constant COEF = 0x51ab1e;

    // ------------------------------------------------------------------ helpers

    /// @dev The RESUME message for the endpoint's next action nonce, as an honest member computes
    ///      it while the endpoint is in its current pause, for a proposal that expires at `deadline`.
    function _resumeMessage(QiaoEndpoint e, uint64 deadline) internal view returns (bytes32) {
        return
            refActionMessage(
                e.RESUME_TYPEHASH(), CHAIN_E, address(e), EPOCH, e.actionNonce(), resumeParams(e, deadline)
            );
    }

    /// @dev Member `i`'s partial (its share GROUP_SK + COEF * i) on that RESUME.
    function _partial(uint256 i, QiaoEndpoint e, uint64 deadline) internal view returns (bytes memory) {
        return blsSign(addmod(GROUP_SK, COEF * i, CURVE_ORDER), _resumeMessage(e, deadline));
    }

    /// @dev Lagrange at 0 over members {1, 2}: 2 * p1 - p2.
    function _combine(bytes memory p1, bytes memory p2) internal view returns (bytes memory) {
        return g1Add(g1Mul(p1, 2), g1Mul(p2, CURVE_ORDER - 1));
    }

    // ------------------------------------------------------------------ the attacks

    /// @dev Reachable by the honest pipeline: in pause #1 two proposals are approved; R0 takes
    ///      nonce 0, R1 lost that race and is signed again for nonce 1 (the endpoint is still
    ///      paused while R0 waits out its delay). R0 lifts pause #1; R1 is never submitted. The
    ///      guardian pauses again: its pause consumes no action nonce, so nonce 1 is still the
    ///      next one, and R1 (signed for pause #1) would lift pause #2, which no operator approved.
    function test_resumeSignedInAnEarlierPause_doesNotLiftALaterOne() public {
        vm.chainId(CHAIN_E);
        vm.warp(1_000_000);
        uint64 deadline = uint64(block.timestamp) + 7 days;
        vm.prank(guardian);
        gateway.pause();
        uint64 r0Nonce = gateway.resume(EPOCH, deadline, signResume(GROUP_SK, gateway, CHAIN_E, EPOCH, deadline));
        bytes memory r1 = signResume(GROUP_SK, gateway, CHAIN_E, EPOCH, deadline); // nonce 1, pause #1
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(r0Nonce);
        vm.assertFalse(gateway.paused());
        vm.warp(block.timestamp + 1 hours);
        vm.prank(guardian);
        gateway.pause(); // pause #2
        vm.assertEq(gateway.actionNonce(), 1, "the guardian's pause consumed an action nonce");
        vm.assertEq(gateway.pauseCount(), 2);
        vm.prank(attacker);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadline, r1);
        vm.assertEq(gateway.actionNonce(), 1);
        vm.assertEq(uint8(gateway.pendingAction(1).status), uint8(QiaoEndpoint.PendingStatus.None));
        vm.assertTrue(gateway.paused(), "a RESUME signed in pause #1 lifted pause #2");
        // the RESUME the committee signs for pause #2 is accepted
        uint64 now2 = gateway.resume(EPOCH, deadline, signResume(GROUP_SK, gateway, CHAIN_E, EPOCH, deadline));
        vm.assertEq(now2, 1);
        vm.assertEq(gateway.pendingAction(now2).pauseCount, 2);
    }

    /// @dev The operators approved a RESUME that expires at `deadline`; nobody submitted it in
    ///      time (the proposal expired). After its deadline it is worthless, and the nonce stays.
    function test_resumeSubmittedAfterItsDeadline_isRefused() public {
        vm.chainId(CHAIN_E);
        vm.warp(1_000_000);
        vm.prank(guardian);
        gateway.pause();
        uint64 deadline = uint64(block.timestamp) + 1 hours;
        bytes memory sig = signResume(GROUP_SK, gateway, CHAIN_E, EPOCH, deadline);
        vm.warp(uint256(deadline) + 1);
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.ActionExpired.selector, deadline));
        gateway.resume(EPOCH, deadline, sig);
        vm.assertEq(gateway.actionNonce(), 0, "the expired RESUME consumed the action nonce");
        // nor with a later deadline than the one signed
        vm.prank(attacker);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadline + 1 days, sig);
        vm.assertEq(gateway.actionNonce(), 0);
        vm.assertTrue(gateway.paused());
    }

    /// @dev t = 2: member 1's operator approved proposal A (and it expired, or was rejected by
    ///      the others); member 2 is byzantine and signs its own proposal B, which no operator
    ///      approved. Anyone on the broker combines member 1's partial for A with member 2's for
    ///      B: that is not a valid RESUME, for B nor for A.
    function test_partialsForDifferentProposals_doNotCombine() public {
        vm.chainId(CHAIN_E);
        vm.warp(1_000_000);
        vm.prank(guardian);
        gateway.pause();
        uint64 deadlineA = uint64(block.timestamp) + 1 hours;
        uint64 deadlineB = uint64(block.timestamp) + 2 hours;
        // the combination is right: two partials on one message are the committee's signature
        bytes memory sameA = _combine(_partial(1, gateway, deadlineA), _partial(2, gateway, deadlineA));
        vm.assertTrue(gateway.verifySignature(EPOCH, _resumeMessage(gateway, deadlineA), sameA), "bad Lagrange");
        bytes memory mixed = _combine(_partial(1, gateway, deadlineA), _partial(2, gateway, deadlineB));
        vm.prank(attacker);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadlineB, mixed);
        vm.prank(attacker);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadlineA, mixed);
        vm.assertEq(gateway.actionNonce(), 0);
        vm.assertTrue(gateway.paused());
        // A itself, combined from A's partials, is accepted until A's deadline
        vm.assertEq(gateway.resume(EPOCH, deadlineA, sameA), 0);
    }

    // ------------------------------------------------------------------ the message and its edges

    function test_resumeTypehash_andMessage_matchTheReference() public {
        vm.chainId(CHAIN_E);
        vm.assertEq(
            gateway.RESUME_TYPEHASH(),
            keccak256(
                "QiaoResume(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,uint64 pauseCount,uint64 deadline)"
            )
        );
        vm.prank(guardian);
        gateway.pause();
        bytes memory params = abi.encode(uint64(1), uint64(1234));
        vm.assertEq(resumeParams(gateway, 1234), params);
        vm.assertEq(
            gateway.actionMessage(gateway.RESUME_TYPEHASH(), EPOCH, params),
            refActionMessage(gateway.RESUME_TYPEHASH(), CHAIN_E, address(gateway), EPOCH, 0, params)
        );
    }

    function test_pauseCount_countsEveryPause_guardianAndSigned() public {
        vm.chainId(CHAIN_E);
        vm.assertEq(gateway.pauseCount(), 0);
        vm.assertEq(vault.pauseCount(), 0);
        vm.prank(guardian);
        gateway.pause();
        vm.assertEq(gateway.pauseCount(), 1);
        resumeNow(gateway, CHAIN_E);
        vm.assertEq(gateway.pauseCount(), 1, "a resume is not a pause");
        gateway.pauseWithSignature(EPOCH, signAction(GROUP_SK, gateway, CHAIN_E, gateway.PAUSE_TYPEHASH(), EPOCH, ""));
        vm.assertEq(gateway.pauseCount(), 2);
        vm.assertEq(vault.pauseCount(), 0, "each endpoint counts its own");
    }

    function test_resume_acceptedUpToItsDeadline_inclusive() public {
        vm.chainId(CHAIN_E);
        vm.warp(1_000_000);
        vm.prank(guardian);
        gateway.pause();
        uint64 deadline = uint64(block.timestamp) + 10 minutes;
        bytes memory sig = signResume(GROUP_SK, gateway, CHAIN_E, EPOCH, deadline);
        vm.warp(deadline);
        uint64 n = gateway.resume(EPOCH, deadline, sig);
        // the deadline bounds the submission, not the execution after the delay
        vm.warp(uint256(deadline) + ACTION_DELAY);
        gateway.executePending(n);
        vm.assertFalse(gateway.paused());
    }

    /// @dev The refusals in order: not paused first, then the deadline (before any signature
    ///      work), then the key epoch, then the signature.
    function test_resume_refusals_inOrder() public {
        vm.chainId(CHAIN_E);
        vm.warp(1_000_000);
        uint64 past = uint64(block.timestamp) - 1;
        bytes memory junk = new bytes(128);
        vm.expectRevert(Pausable.ExpectedPause.selector);
        gateway.resume(EPOCH, past, junk);
        vm.prank(guardian);
        gateway.pause();
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.ActionExpired.selector, past));
        gateway.resume(EPOCH, past, junk);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.ActionExpired.selector, 0));
        gateway.resume(EPOCH, 0, junk);
        uint64 deadline = resumeDeadline();
        bytes memory epoch2 = signResume(GROUP_SK, gateway, CHAIN_E, 2, deadline);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotCurrentKeyEpoch.selector, 2));
        gateway.resume(2, deadline, epoch2);
        vm.expectRevert(QiaoEndpoint.IdentitySignature.selector);
        gateway.resume(EPOCH, deadline, junk);
        // signed for the pause count of another pause (the next one)
        bytes memory nextPause = signAction(
            GROUP_SK, gateway, CHAIN_E, gateway.RESUME_TYPEHASH(), EPOCH, abi.encode(gateway.pauseCount() + 1, deadline)
        );
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadline, nextPause);
        // signed without params (the RESUME before this change)
        bytes memory bare = signAction(GROUP_SK, gateway, CHAIN_E, gateway.RESUME_TYPEHASH(), EPOCH, "");
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadline, bare);
        vm.assertEq(gateway.actionNonce(), 0);
        vm.assertTrue(gateway.paused());
    }
}
