// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";

/// @notice Security review, the RESUME message: it names only (chain, endpoint, key epoch, action
///         nonce), so partials the members gave for one proposal are valid for any resume at the
///         same nonce. A member signs a RESUME only after its own operator approved that proposal,
///         until it expires; if the message does not say which pause it lifts nor until when it
///         may be submitted, expiry and rejection are local bookkeeping, and a byzantine member
///         on the broker combines the honest members' old partials with its own.
/// @dev Written so that it compiles against the endpoint before the fix: the committee signs the
///      RESUME the endpoint under test defines (before: no params; after: its pause count and a
///      deadline), and the calls go by selector. Each test asserts what must hold, so each fails
///      against the endpoint before the fix.
contract ResumeBindingAttackTest is SignedActions {
    address internal attacker = address(0xBAD);
    /// @dev A second polynomial coefficient: member i's share of GROUP_SK is GROUP_SK + COEF * i
    ///      (t = 2), so partials of members 1 and 2 combine as 2 * p1 - p2.
    uint256 internal constant COEF = 0x51ab1e;

    // ------------------------------------------------------------------ helpers (low level)

    /// @dev Whether the endpoint binds a RESUME to a pause and a deadline, and its pause count.
    function _pauseCount(QiaoEndpoint e) internal view returns (bool bound, uint64 count) {
        (bool ok, bytes memory ret) = address(e).staticcall(abi.encodeWithSignature("pauseCount()"));
        if (ok && ret.length == 32) return (true, abi.decode(ret, (uint64)));
        return (false, 0);
    }

    /// @dev The RESUME message for the endpoint's next action nonce, as an honest member computes
    ///      it while the endpoint is in its current pause, for a proposal that expires at `deadline`.
    function _resumeMessage(QiaoEndpoint e, uint64 deadline) internal view returns (bytes32) {
        (bool bound, uint64 count) = _pauseCount(e);
        bytes memory params = bound ? abi.encode(count, deadline) : bytes("");
        return refActionMessage(e.RESUME_TYPEHASH(), CHAIN_E, address(e), EPOCH, e.actionNonce(), params);
    }

    /// @dev The whole committee's signature (t partials combined) of that RESUME.
    function _signResume(QiaoEndpoint e, uint64 deadline) internal view returns (bytes memory) {
        return blsSign(GROUP_SK, _resumeMessage(e, deadline));
    }

    /// @dev Member `i`'s partial (its share GROUP_SK + COEF * i) on that RESUME.
    function _partial(uint256 i, QiaoEndpoint e, uint64 deadline) internal view returns (bytes memory) {
        return blsSign(addmod(GROUP_SK, COEF * i, CURVE_ORDER), _resumeMessage(e, deadline));
    }

    /// @dev Lagrange at 0 over members {1, 2}: 2 * p1 - p2.
    function _combine(bytes memory p1, bytes memory p2) internal view returns (bytes memory) {
        return g1Add(g1Mul(p1, 2), g1Mul(p2, CURVE_ORDER - 1));
    }

    /// @dev Submits a RESUME signature from `caller`, with the deadline it was signed for where
    ///      the endpoint takes one.
    function _submit(QiaoEndpoint e, uint64 deadline, bytes memory sig, address caller) internal returns (bool ok) {
        (bool bound,) = _pauseCount(e);
        vm.prank(caller);
        if (bound) {
            (ok,) = address(e).call(abi.encodeWithSignature("resume(uint64,uint64,bytes)", EPOCH, deadline, sig));
        } else {
            (ok,) = address(e).call(abi.encodeWithSignature("resume(uint64,bytes)", EPOCH, sig));
        }
    }

    function _executePending(QiaoEndpoint e, uint64 actionNonce) internal returns (bool ok) {
        (ok,) = address(e).call(abi.encodeWithSignature("executePending(uint64)", actionNonce));
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
        bytes memory r0 = _signResume(gateway, deadline);
        vm.assertTrue(_submit(gateway, deadline, r0, address(this)), "the approved RESUME R0 was refused");
        bytes memory r1 = _signResume(gateway, deadline); // for nonce 1, in pause #1
        vm.warp(block.timestamp + ACTION_DELAY);
        vm.assertTrue(_executePending(gateway, 0), "R0 did not lift pause #1");
        vm.assertFalse(gateway.paused());
        vm.warp(block.timestamp + 1 hours);
        vm.prank(guardian);
        gateway.pause(); // pause #2
        vm.assertEq(gateway.actionNonce(), 1, "the guardian's pause consumed an action nonce");
        vm.assertFalse(
            _submit(gateway, deadline, r1, attacker), "a RESUME signed in pause #1 was scheduled in pause #2"
        );
        vm.warp(block.timestamp + ACTION_DELAY);
        _executePending(gateway, 1);
        vm.assertTrue(gateway.paused(), "a RESUME signed in pause #1 lifted pause #2");
    }

    /// @dev The operators approved a RESUME that expires at `deadline`; nobody submitted it in
    ///      time (the proposal expired). After its deadline it must be worthless.
    function test_resumeSubmittedAfterItsDeadline_isRefused() public {
        vm.chainId(CHAIN_E);
        vm.warp(1_000_000);
        vm.prank(guardian);
        gateway.pause();
        uint64 deadline = uint64(block.timestamp) + 1 hours;
        bytes memory sig = _signResume(gateway, deadline);
        vm.warp(uint256(deadline) + 1);
        vm.assertFalse(_submit(gateway, deadline, sig, attacker), "a RESUME was scheduled after its deadline");
        vm.assertEq(gateway.actionNonce(), 0, "the expired RESUME consumed the action nonce");
    }

    /// @dev t = 2: member 1's operator approved proposal A (and it expired, or was rejected by
    ///      the others); member 2 is byzantine and signs its own proposal B, which no operator
    ///      approved. Anyone on the broker combines member 1's partial for A with member 2's for
    ///      B: that must not be a valid RESUME, for B nor for A.
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
        vm.assertFalse(_submit(gateway, deadlineB, mixed, attacker), "A's partial and B's made a RESUME for B");
        vm.assertFalse(_submit(gateway, deadlineA, mixed, attacker), "A's partial and B's made a RESUME for A");
        vm.assertEq(gateway.actionNonce(), 0);
        vm.assertTrue(gateway.paused());
    }
}
