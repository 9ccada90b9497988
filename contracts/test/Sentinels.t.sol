// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {WrappedToken} from "../src/WrappedToken.sol";
import {SentinelModule} from "../src/endpoint/SentinelModule.sol";

/// @notice Issue 17: sentinels, a second line of defence against a colluding committee. A
///         registered sentinel can curse a route (k of m votes stop every entry point of it) and
///         veto a transfer held for its challenge window; nothing else. Only the committee's
///         signed UNCURSE, after the action delay and unless the guardian cancels it, lifts a
///         curse. A vetoed transfer is failed (Vetoed) and refunded on its source.
/// @dev The attacker model of each test: the committee's key signs anything (the tests hold
///      GROUP_SK), so what stops a forged transfer is the sentinels' curse and veto.
contract SentinelsTest is SignedActions {
    address internal s1 = address(0x5E1);
    address internal s2 = address(0x5E2);
    address internal s3 = address(0x5E3);
    address internal attacker = address(0xBAD);
    uint64 internal constant CHALLENGE = 30 minutes;
    uint256 internal constant THRESHOLD = 100 ether;
    /// @dev A third chain, with its own pair on the gateway: another route.
    uint256 internal constant CHAIN_X = 777;
    address internal constant X_TOKEN = address(0x7777);
    WrappedToken internal wrappedX;

    function setUp() public override {
        super.setUp();
        vm.chainId(CHAIN_E);
        wrappedX = new WrappedToken("Wrapped X", "wX", address(gateway), registryE, owner);
        vm.startPrank(owner);
        gateway.registerToken(CHAIN_X, address(wrappedX), X_TOKEN);
        for (uint256 i; i < 3; ++i) {
            address s = [s1, s2, s3][i];
            _s(gateway).setSentinel(s, true);
            _s(vault).setSentinel(s, true);
        }
        _s(gateway).setChallenge(address(wrapped), THRESHOLD);
        _s(gateway).setChallengePeriod(CHALLENGE);
        vm.stopPrank();
        vm.warp(1_000_000);
    }

    // ------------------------------------------------------------------ helpers

    /// @dev The endpoint's sentinel functions (its fallback runs them in its SentinelModule).
    function _s(QiaoEndpoint e) internal pure returns (SentinelModule) {
        return SentinelModule(address(e));
    }

    function _curse(QiaoEndpoint e, address sentinel, uint256 remote) internal {
        vm.prank(sentinel);
        _s(e).curse(remote);
    }

    function _uncurseSig(QiaoEndpoint e, uint256 chainId, uint256 remote, uint64 count)
        internal
        view
        returns (bytes memory)
    {
        return signAction(GROUP_SK, e, chainId, e.UNCURSE_TYPEHASH(), EPOCH, abi.encode(remote, count));
    }

    /// @dev Schedules and (after the delay) executes a signed UNCURSE of the gateway's route to C.
    function _uncurseGatewayNow() internal {
        vm.chainId(CHAIN_E);
        uint64 count = _s(gateway).curseCount(CHAIN_C);
        uint64 n = _s(gateway).uncurse(EPOCH, CHAIN_C, count, _uncurseSig(gateway, CHAIN_E, CHAIN_C, count));
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(n);
    }

    /// @dev Locks `amount` on C for bob and executes it on E (held when amount >= THRESHOLD).
    function _sendToE(uint256 amount) internal returns (QiaoEndpoint.Transfer memory t) {
        t = lockOnC(alice, bob, amount);
        executeOnE(one(t), signForGateway(one(t)));
    }

    /// @dev A transfer from CHAIN_X to bob on E, signed by the committee (no source here to lock on).
    function _fromX(uint64 nonce, uint256 amount) internal pure returns (QiaoEndpoint.Transfer memory t) {
        t = QiaoEndpoint.Transfer(CHAIN_X, CHAIN_E, nonce, X_TOKEN, address(0), address(0xF00), address(0xB0B), amount);
    }

    function _xTransfer(uint64 nonce, uint256 amount) internal view returns (QiaoEndpoint.Transfer memory t) {
        t = _fromX(nonce, amount);
        t.dstToken = address(wrappedX);
    }

    function _copy(QiaoEndpoint.Transfer memory t) internal pure returns (QiaoEndpoint.Transfer memory c) {
        c = QiaoEndpoint.Transfer(
            t.srcChainId, t.dstChainId, t.nonce, t.srcToken, t.dstToken, t.sender, t.recipient, t.amount
        );
    }

    // ------------------------------------------------------------------ who may curse and veto

    function test_onlyARegisteredSentinel_canCurse_andADeregisteredOneCannot() public {
        vm.chainId(CHAIN_E);
        address[3] memory others = [attacker, owner, guardian];
        for (uint256 i; i < others.length; ++i) {
            vm.prank(others[i]);
            vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotSentinel.selector, others[i]));
            _s(gateway).curse(CHAIN_C);
        }
        vm.prank(owner);
        _s(gateway).setSentinel(s2, false);
        vm.assertFalse(_s(gateway).isSentinel(s2));
        vm.prank(s2);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotSentinel.selector, s2));
        _s(gateway).curse(CHAIN_C);
        vm.assertFalse(_s(gateway).isCursed(CHAIN_C));
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.CurseVoted(CHAIN_C, s1);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.RouteCursed(CHAIN_C, 1);
        _curse(gateway, s1, CHAIN_C);
        vm.assertTrue(_s(gateway).isCursed(CHAIN_C));
        vm.assertEq(_s(gateway).curseCount(CHAIN_C), 1);
    }

    function test_onlyARegisteredSentinel_canVeto_andADeregisteredOneCannot() public {
        QiaoEndpoint.Transfer memory t = _sendToE(THRESHOLD);
        vm.chainId(CHAIN_E);
        address[3] memory others = [attacker, owner, guardian];
        for (uint256 i; i < others.length; ++i) {
            vm.prank(others[i]);
            vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotSentinel.selector, others[i]));
            _s(gateway).veto(t);
        }
        vm.prank(owner);
        _s(gateway).setSentinel(s3, false);
        vm.prank(s3);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotSentinel.selector, s3));
        _s(gateway).veto(t);
        vm.assertEq(_s(gateway).heldUntil(CHAIN_C, t.nonce), uint64(block.timestamp) + CHALLENGE);
        vm.prank(s1);
        _s(gateway).veto(t);
        vm.assertEq(_s(gateway).heldUntil(CHAIN_C, t.nonce), 0);
    }

    function test_aSentinelCanDoNothingElse() public {
        vm.chainId(CHAIN_E);
        vm.startPrank(s1);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, s1));
        _s(gateway).setSentinel(attacker, true);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, s1));
        gateway.pause();
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, s1));
        gateway.cancelAllPending();
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, s1));
        _s(gateway).setChallenge(address(wrapped), 0);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ the owner's settings

    function test_setters_onlyOwner_rejectZeroValues_emit() public {
        vm.chainId(CHAIN_E);
        vm.startPrank(attacker);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, attacker));
        _s(gateway).setSentinel(attacker, true);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, attacker));
        _s(gateway).setCurseQuorum(2);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, attacker));
        _s(gateway).setChallenge(address(wrapped), 1);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, attacker));
        _s(gateway).setChallengePeriod(1);
        vm.stopPrank();

        vm.startPrank(guardian);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, guardian));
        _s(gateway).setSentinel(guardian, true);
        vm.stopPrank();

        vm.startPrank(owner);
        vm.expectRevert(QiaoEndpoint.ZeroAddress.selector);
        _s(gateway).setSentinel(address(0), true);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidCurseQuorum.selector, 0));
        _s(gateway).setCurseQuorum(0);
        vm.expectRevert(QiaoEndpoint.ZeroTokenAddress.selector);
        _s(gateway).setChallenge(address(0), 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidChallengePeriod.selector, 0));
        _s(gateway).setChallengePeriod(0);
        uint64 tooLong = _s(gateway).MAX_CHALLENGE_PERIOD() + 1;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidChallengePeriod.selector, tooLong));
        _s(gateway).setChallengePeriod(tooLong);

        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.SentinelSet(carol, true);
        _s(gateway).setSentinel(carol, true);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.CurseQuorumSet(3);
        _s(gateway).setCurseQuorum(3);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.ChallengeThresholdSet(address(wrapped), 5 ether);
        _s(gateway).setChallenge(address(wrapped), 5 ether);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.ChallengePeriodSet(7 hours);
        _s(gateway).setChallengePeriod(7 hours);
        vm.stopPrank();
        vm.assertTrue(_s(gateway).isSentinel(carol));
        vm.assertEq(_s(gateway).curseQuorum(), 3);
        vm.assertEq(_s(gateway).challengeThreshold(address(wrapped)), 5 ether);
        vm.assertEq(_s(gateway).challengePeriod(), 7 hours);
    }

    function test_defaults_quorumOne_periodIsTheActionDelay_noThreshold() public {
        vm.chainId(CHAIN_E);
        QiaoEndpoint fresh = newGateway(groupPk);
        vm.assertEq(_s(fresh).curseQuorum(), 1);
        vm.assertEq(_s(fresh).challengePeriod(), ACTION_DELAY);
        vm.assertEq(_s(fresh).challengeThreshold(address(wrapped)), 0);
        vm.assertFalse(_s(fresh).isSentinel(s1));
    }

    // ------------------------------------------------------------------ k of m

    function test_curse_kOfM_oneVoteEach_votesDoNotOutliveTheCurse() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        _s(gateway).setCurseQuorum(2);
        _curse(gateway, s1, CHAIN_C);
        vm.assertFalse(_s(gateway).isCursed(CHAIN_C), "one vote of two cursed");
        vm.prank(s1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.AlreadyVoted.selector, CHAIN_C, s1));
        _s(gateway).curse(CHAIN_C);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.RouteCursed(CHAIN_C, 1);
        _curse(gateway, s2, CHAIN_C);
        vm.assertTrue(_s(gateway).isCursed(CHAIN_C));
        vm.prank(s3);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.RouteIsCursed.selector, CHAIN_C));
        _s(gateway).curse(CHAIN_C);
        // the route to X is another route
        vm.assertFalse(_s(gateway).isCursed(CHAIN_X));
        _uncurseGatewayNow();
        vm.assertFalse(_s(gateway).isCursed(CHAIN_C));
        // the next curse needs two fresh votes: s1's earlier vote is spent
        _curse(gateway, s1, CHAIN_C);
        vm.assertFalse(_s(gateway).isCursed(CHAIN_C), "a vote of the lifted curse carried over");
        _curse(gateway, s3, CHAIN_C);
        vm.assertTrue(_s(gateway).isCursed(CHAIN_C));
        vm.assertEq(_s(gateway).curseCount(CHAIN_C), 2);
    }

    function test_curse_rejectsZeroOrOwnChain() public {
        vm.chainId(CHAIN_E);
        vm.startPrank(s1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidRemoteChain.selector, 0));
        _s(gateway).curse(0);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidRemoteChain.selector, CHAIN_E));
        _s(gateway).curse(CHAIN_E);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ a curse stops the route

    /// @dev Every entry point of the cursed route reverts with RouteIsCursed (lock/burn toward it,
    ///      executeBatch, executeTransfer and releaseQueued from it, refund of a transfer toward
    ///      it), and nothing of another route does.
    function test_curse_stopsEveryEntryPointOfTheRoute_andNotAnotherRoute() public {
        // before the curse: bob holds wrapped; a burn E -> C fails on C (recipient not allowed),
        // so it is refundable on E; a transfer C -> E waits in the release queue
        QiaoEndpoint.Transfer memory delivered = _sendToE(10 ether);
        address dave = address(0xDA7E);
        vm.chainId(CHAIN_E);
        registryE.isAllowed(dave); // (dave is on no allow-list)
        QiaoEndpoint.Transfer memory burnt = burnOnE(bob, dave, 4 ether);
        executeOnC(one(burnt), signForVault(one(burnt)));
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 5 ether, 0);
        QiaoEndpoint.Transfer memory queued = _sendToE(5 ether);
        QiaoEndpoint.Transfer memory waiting = _sendToE(3 ether); // behind nothing but the empty bucket
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, waiting.nonce)), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 0, 0);
        QiaoEndpoint.Transfer memory next = lockOnC(alice, bob, 1 ether);
        bytes memory nextSig = signForGateway(one(next));

        vm.chainId(CHAIN_E);
        _curse(gateway, s1, CHAIN_C);
        bytes memory cursed = abi.encodeWithSelector(QiaoEndpoint.RouteIsCursed.selector, CHAIN_C);

        vm.prank(bob);
        vm.expectRevert(cursed);
        gateway.burn(address(wrapped), CHAIN_C, alice, 1 ether);
        vm.expectRevert(cursed);
        gateway.executeBatch(EPOCH, pack(one(next)), nextSig);
        vm.expectRevert(cursed);
        gateway.executeTransfer(EPOCH, next, next.nonce, next.nonce, new bytes32[](0), nextSig);
        vm.expectRevert(cursed);
        gateway.releaseQueued(waiting);
        bytes memory refundSig = signRefund(GROUP_SK, gateway, CHAIN_E, EPOCH, burnt);
        vm.expectRevert(cursed);
        gateway.refund(EPOCH, burnt, refundSig);
        vm.assertEq(queued.amount, 5 ether);

        // another route of the same endpoint moves: a batch from X mints, a burn toward X works
        QiaoEndpoint.Transfer memory x = _xTransfer(1, 2 ether);
        gateway.executeBatch(EPOCH, pack(one(x)), signFor(GROUP_SK, address(gateway), CHAIN_E, EPOCH, one(x)));
        vm.assertEq(wrappedX.balanceOf(bob), 2 ether);
        vm.prank(bob);
        gateway.burn(address(wrappedX), CHAIN_X, alice, 1 ether);
        // and the vault (whose own route to E is not cursed) goes on
        lockOnC(alice, bob, 1 ether);

        // lifted by the signed UNCURSE: everything of the route works again
        _uncurseGatewayNow();
        gateway.executeBatch(EPOCH, pack(one(next)), nextSig);
        gateway.releaseQueued(waiting);
        gateway.refund(EPOCH, burnt, refundSig);
        vm.prank(bob);
        gateway.burn(address(wrapped), CHAIN_C, alice, 1 ether);
        vm.assertEq(delivered.amount, 10 ether);
    }

    function test_curse_onTheVault_stopsLockTowardTheRoute() public {
        vm.chainId(CHAIN_C);
        _curse(vault, s2, CHAIN_E);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.RouteIsCursed.selector, CHAIN_E));
        vault.lock(address(asset), CHAIN_E, bob, 1 ether);
    }

    // ------------------------------------------------------------------ the challenge window

    function test_hold_largeTransferIsHeld_notDelivered_andOutOfTheFifo() public {
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = lockOnC(alice, bob, THRESHOLD);
        ts[1] = lockOnC(alice, carol, 1 ether);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        bytes32 leaf0 = refLeaf(ts[0]);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferHeld(CHAIN_C, 1, leaf0, THRESHOLD, uint64(block.timestamp) + CHALLENGE);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.balanceOf(bob), 0, "a held transfer was delivered");
        vm.assertEq(wrapped.balanceOf(carol), 1 ether, "a held transfer held up the next one");
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 1)), uint8(QiaoEndpoint.TransferStatus.Queued));
        (bytes32 head, uint256 length) = gateway.queueHead(address(wrapped));
        vm.assertEq(head, bytes32(0));
        vm.assertEq(length, 0);
    }

    function test_hold_aBatchWhoseSumReachesTheThresholdButNoTransferDoes_isDelivered() public {
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = lockOnC(alice, bob, 60 ether);
        ts[1] = lockOnC(alice, carol, 60 ether);
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(wrapped.totalSupply(), 120 ether);
        vm.assertEq(_s(gateway).heldUntil(CHAIN_C, 1), 0);
    }

    function test_hold_executeTransferHoldsToo() public {
        QiaoEndpoint.Transfer memory t = lockOnC(alice, bob, 2 * THRESHOLD);
        bytes memory sig = signForGateway(one(t));
        vm.chainId(CHAIN_E);
        gateway.executeTransfer(EPOCH, t, t.nonce, t.nonce, new bytes32[](0), sig);
        vm.assertEq(wrapped.balanceOf(bob), 0);
        vm.assertEq(_s(gateway).heldUntil(CHAIN_C, t.nonce), uint64(block.timestamp) + CHALLENGE);
    }

    function test_release_onlyAfterTheWindow_once_byAnyone() public {
        QiaoEndpoint.Transfer memory t = _sendToE(THRESHOLD);
        vm.chainId(CHAIN_E);
        uint64 releaseAfter = uint64(block.timestamp) + CHALLENGE;
        vm.warp(releaseAfter - 1);
        vm.expectRevert(
            abi.encodeWithSelector(QiaoEndpoint.ChallengeWindowOpen.selector, CHAIN_C, t.nonce, releaseAfter)
        );
        gateway.releaseQueued(t);
        QiaoEndpoint.Transfer memory fake = _copy(t);
        fake.recipient = attacker;
        vm.warp(releaseAfter);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, t.nonce));
        gateway.releaseQueued(fake);
        vm.prank(attacker);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferExecuted(CHAIN_C, t.nonce, bob, THRESHOLD);
        gateway.releaseQueued(t);
        vm.assertEq(wrapped.balanceOf(bob), THRESHOLD);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, t.nonce)), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, t.nonce));
        gateway.releaseQueued(t);
        vm.prank(s1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotHeld.selector, CHAIN_C, t.nonce));
        _s(gateway).veto(t);
        vm.assertEq(wrapped.totalSupply(), THRESHOLD);
    }

    function test_release_afterTheWindow_theRateLimitStillApplies_firstInFirstOut() public {
        QiaoEndpoint.Transfer memory t = _sendToE(THRESHOLD);
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 150 ether, 0);
        QiaoEndpoint.Transfer memory small = _sendToE(60 ether); // leaves 90: t no longer fits
        vm.assertEq(small.amount, 60 ether);
        vm.chainId(CHAIN_E);
        vm.warp(block.timestamp + CHALLENGE);
        gateway.releaseQueued(t); // admitted now: the bucket lacks room, so it joins the FIFO queue
        vm.assertEq(wrapped.balanceOf(bob), 60 ether);
        vm.assertEq(_s(gateway).heldUntil(CHAIN_C, t.nonce), 0);
        (bytes32 head, uint256 length) = gateway.queueHead(address(wrapped));
        vm.assertEq(head, refLeaf(t));
        vm.assertEq(length, 1);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 0, 0);
        gateway.releaseQueued(t);
        vm.assertEq(wrapped.balanceOf(bob), 160 ether);
    }

    function test_veto_onlyInsideTheWindow_onlyOfAHeldTransfer() public {
        QiaoEndpoint.Transfer memory small = _sendToE(1 ether);
        QiaoEndpoint.Transfer memory t = _sendToE(THRESHOLD);
        vm.chainId(CHAIN_E);
        uint64 releaseAfter = uint64(block.timestamp) + CHALLENGE;
        vm.startPrank(s1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotHeld.selector, CHAIN_C, small.nonce));
        _s(gateway).veto(small);
        QiaoEndpoint.Transfer memory fake = _copy(t);
        fake.amount = THRESHOLD + 1;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotHeld.selector, CHAIN_C, t.nonce));
        _s(gateway).veto(fake);
        vm.warp(releaseAfter);
        vm.expectRevert(
            abi.encodeWithSelector(QiaoEndpoint.ChallengeWindowClosed.selector, CHAIN_C, t.nonce, releaseAfter)
        );
        _s(gateway).veto(t);
        vm.warp(releaseAfter - 1);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, t.nonce, QiaoEndpoint.FailureReason.Vetoed);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferVetoed(CHAIN_C, t.nonce, s1);
        _s(gateway).veto(t);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotHeld.selector, CHAIN_C, t.nonce));
        _s(gateway).veto(t);
        vm.stopPrank();
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, t.nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.warp(releaseAfter + 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, t.nonce));
        gateway.releaseQueued(t);
        vm.assertEq(wrapped.balanceOf(bob), 1 ether, "a vetoed transfer was delivered");
    }

    function test_veto_worksWhilePausedOrCursed() public {
        QiaoEndpoint.Transfer memory a = _sendToE(THRESHOLD);
        QiaoEndpoint.Transfer memory b = _sendToE(THRESHOLD);
        vm.chainId(CHAIN_E);
        _curse(gateway, s1, CHAIN_C);
        vm.prank(s2);
        _s(gateway).veto(a);
        vm.prank(guardian);
        gateway.pause();
        vm.prank(s2);
        _s(gateway).veto(b);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, b.nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
    }

    /// @dev The window does not close on a cursed route (review R1): a forged transfer held when
    ///      its route was cursed stays vetoable past its window for as long as the curse lasts,
    ///      so lifting the curse never hands it to whoever calls releaseQueued first.
    function test_veto_aCursedRoutesHeldTransfer_afterItsWindow_neverReleased() public {
        QiaoEndpoint.Transfer memory forged = _sendToE(2 * THRESHOLD);
        vm.chainId(CHAIN_E);
        uint64 releaseAfter = _s(gateway).heldUntil(CHAIN_C, forged.nonce);
        _curse(gateway, s1, CHAIN_C);
        vm.warp(releaseAfter + 1 days); // the curse outlasts the window
        vm.prank(s2);
        _s(gateway).veto(forged);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, forged.nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
        _uncurseGatewayNow();
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, forged.nonce));
        gateway.releaseQueued(forged);
        vm.assertEq(wrapped.balanceOf(bob), 0, "a vetoed transfer was delivered");
        // once the curse is lifted, a held transfer's window is closed again for a veto
        QiaoEndpoint.Transfer memory later = _sendToE(THRESHOLD);
        uint64 laterAfter = _s(gateway).heldUntil(CHAIN_C, later.nonce);
        vm.warp(laterAfter);
        vm.prank(s1);
        vm.expectRevert(
            abi.encodeWithSelector(QiaoEndpoint.ChallengeWindowClosed.selector, CHAIN_C, later.nonce, laterAfter)
        );
        _s(gateway).veto(later);
    }

    /// @dev Review R4: when the owner lowers the quorum to the votes already cast (a sentinel is
    ///      down), a voter's repeated call curses the route instead of reverting AlreadyVoted.
    function test_curse_aLoweredQuorum_isAppliedByAVoterCallingAgain() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        _s(gateway).setCurseQuorum(3);
        _curse(gateway, s1, CHAIN_C);
        _curse(gateway, s2, CHAIN_C);
        vm.assertFalse(_s(gateway).isCursed(CHAIN_C));
        vm.prank(s1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.AlreadyVoted.selector, CHAIN_C, s1));
        _s(gateway).curse(CHAIN_C); // 2 of 3: a second call is still refused
        vm.prank(owner);
        _s(gateway).setCurseQuorum(2);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.RouteCursed(CHAIN_C, 1);
        vm.prank(s1);
        _s(gateway).curse(CHAIN_C);
        vm.assertTrue(_s(gateway).isCursed(CHAIN_C));
        vm.assertEq(_s(gateway).curseCount(CHAIN_C), 1);
    }

    /// @dev A false veto loses no money: the vetoed transfer is Failed(Vetoed) on E, and the
    ///      committee's ordinary refund pays it back to its sender on C, once.
    function test_vetoedTransfer_isRefundedOnItsSource() public {
        uint256 before = asset.balanceOf(alice);
        QiaoEndpoint.Transfer memory t = _sendToE(THRESHOLD);
        vm.assertEq(asset.balanceOf(alice), before - THRESHOLD);
        vm.chainId(CHAIN_E);
        vm.prank(s3);
        _s(gateway).veto(t);
        bytes memory sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, t);
        vm.chainId(CHAIN_C);
        vault.refund(EPOCH, t, sig);
        vm.assertEq(asset.balanceOf(alice), before);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.AlreadyRefunded.selector, CHAIN_E, t.nonce));
        vault.refund(EPOCH, t, sig);
        vm.assertEq(wrapped.totalSupply(), 0);
    }

    // ------------------------------------------------------------------ lifting a curse

    function test_uncurse_onlyBySignedActionAfterTheDelay_guardianCanCancel() public {
        vm.chainId(CHAIN_E);
        bytes memory sig0 = _uncurseSig(gateway, CHAIN_E, CHAIN_C, 0);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.RouteNotCursed.selector, CHAIN_C));
        _s(gateway).uncurse(EPOCH, CHAIN_C, 0, sig0);
        _curse(gateway, s1, CHAIN_C);
        bytes memory sig2 = _uncurseSig(gateway, CHAIN_E, CHAIN_C, 2);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.CurseCountMismatch.selector, CHAIN_C, 1, 2));
        _s(gateway).uncurse(EPOCH, CHAIN_C, 2, sig2);
        // signed by another key, or for another route: not the committee's UNCURSE of this curse
        bytes memory forged =
            signAction(OTHER_SK, gateway, CHAIN_E, gateway.UNCURSE_TYPEHASH(), EPOCH, abi.encode(CHAIN_C, uint64(1)));
        vm.assertTrue(forged.length == 128);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        _s(gateway).uncurse(EPOCH, CHAIN_C, 1, forged);
        bytes memory otherRoute = _uncurseSig(gateway, CHAIN_E, CHAIN_X, 1);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        _s(gateway).uncurse(EPOCH, CHAIN_C, 1, otherRoute);
        // a sentinel cannot lift it either
        vm.prank(s1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.RouteIsCursed.selector, CHAIN_C));
        _s(gateway).curse(CHAIN_C);

        vm.assertEq(_s(gateway).uncurseRoute(gateway.actionNonce()), 0, "a route before any UNCURSE");
        uint64 n = _s(gateway).uncurse(EPOCH, CHAIN_C, 1, _uncurseSig(gateway, CHAIN_E, CHAIN_C, 1));
        QiaoEndpoint.PendingAction memory p = gateway.pendingAction(n);
        vm.assertEq(p.typehash, gateway.UNCURSE_TYPEHASH());
        vm.assertEq(p.pauseCount, 1);
        vm.assertEq(_s(gateway).uncurseRoute(n), CHAIN_C, "the route the UNCURSE lifts");
        vm.assertEq(_s(vault).uncurseRoute(n), 0, "another endpoint's storage");
        vm.assertEq(p.executableAt, uint64(block.timestamp) + ACTION_DELAY);
        vm.warp(block.timestamp + ACTION_DELAY - 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.ActionNotReady.selector, n, uint64(block.timestamp) + 1));
        gateway.executePending(n);
        vm.assertTrue(_s(gateway).isCursed(CHAIN_C));
        // the guardian cancels it
        vm.prank(attacker);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, attacker));
        gateway.cancelPending(n);
        vm.prank(guardian);
        gateway.cancelPending(n);
        vm.warp(block.timestamp + 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, n));
        gateway.executePending(n);
        vm.assertTrue(_s(gateway).isCursed(CHAIN_C));
        // ... or all at once
        uint64 n2 = _s(gateway).uncurse(EPOCH, CHAIN_C, 1, _uncurseSig(gateway, CHAIN_E, CHAIN_C, 1));
        vm.prank(guardian);
        gateway.cancelAllPending();
        vm.warp(block.timestamp + ACTION_DELAY);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, n2));
        gateway.executePending(n2);
        // the committee signs again; after the delay anyone executes it, once
        uint64 n3 = _s(gateway).uncurse(EPOCH, CHAIN_C, 1, _uncurseSig(gateway, CHAIN_E, CHAIN_C, 1));
        vm.warp(block.timestamp + ACTION_DELAY);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.RouteUncursed(CHAIN_C, 1);
        vm.prank(attacker);
        gateway.executePending(n3);
        vm.assertFalse(_s(gateway).isCursed(CHAIN_C));
        vm.assertEq(_s(gateway).curseCount(CHAIN_C), 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NoPendingAction.selector, n3));
        gateway.executePending(n3);
    }

    /// @dev Two UNCURSEs of curse 1 scheduled; the first lifts it; the route is cursed again
    ///      (curse 2): the second, signed for curse 1, is stale and does not lift curse 2; an
    ///      UNCURSE signed for curse 1 cannot even be submitted for curse 2.
    function test_uncurse_staleUncurseOfAnEarlierCurse_fails() public {
        vm.chainId(CHAIN_E);
        _curse(gateway, s1, CHAIN_C);
        bytes memory late = _uncurseSig(gateway, CHAIN_E, CHAIN_C, 1); // for action nonce 0
        uint64 a = _s(gateway).uncurse(EPOCH, CHAIN_C, 1, late);
        uint64 b = _s(gateway).uncurse(EPOCH, CHAIN_C, 1, _uncurseSig(gateway, CHAIN_E, CHAIN_C, 1));
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(a);
        _curse(gateway, s2, CHAIN_C);
        vm.assertEq(_s(gateway).curseCount(CHAIN_C), 2);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PendingActionStale.selector, b));
        gateway.executePending(b);
        vm.assertTrue(_s(gateway).isCursed(CHAIN_C));
        bytes memory forOne = _uncurseSig(gateway, CHAIN_E, CHAIN_C, 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.CurseCountMismatch.selector, CHAIN_C, 2, 1));
        _s(gateway).uncurse(EPOCH, CHAIN_C, 1, forOne);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        _s(gateway).uncurse(EPOCH, CHAIN_C, 2, forOne);
    }

    function test_uncurse_doesNotUnpause_andResumeDoesNotUncurse() public {
        vm.chainId(CHAIN_E);
        _curse(gateway, s1, CHAIN_C);
        vm.prank(guardian);
        gateway.pause();
        resumeNow(gateway, CHAIN_E);
        vm.assertFalse(gateway.paused());
        vm.assertTrue(_s(gateway).isCursed(CHAIN_C), "a RESUME lifted a curse");
        vm.prank(guardian);
        gateway.pause();
        _uncurseGatewayNow();
        vm.assertFalse(_s(gateway).isCursed(CHAIN_C));
        vm.assertTrue(gateway.paused(), "an UNCURSE lifted a pause");
    }

    // ------------------------------------------------------------------ the fallback

    /// @dev The fallback forwards only to the module: a selector neither has reverts without
    ///      data, ether is refused, and the owner's functions are the endpoint's own.
    function test_fallback_unknownSelectorReverts_noEther_ownershipStillCannotBeRenounced() public {
        vm.chainId(CHAIN_E);
        (bool ok, bytes memory ret) = address(gateway).call(abi.encodeWithSignature("mintTo(address,uint256)", bob, 1));
        vm.assertFalse(ok);
        vm.assertEq(ret.length, 0);
        vm.deal(address(this), 1 ether);
        (ok,) = address(gateway).call{value: 1 ether}("");
        vm.assertFalse(ok);
        (ok,) = address(gateway).call{value: 1}(abi.encodeWithSignature("isCursed(uint256)", CHAIN_C));
        vm.assertFalse(ok, "the fallback took ether");
        vm.prank(owner);
        vm.expectRevert(QiaoEndpoint.OwnershipCannotBeRenounced.selector);
        gateway.renounceOwnership();
        vm.assertEq(gateway.owner(), owner);
    }

    // ------------------------------------------------------------------ gas (docs/GAS.md)

    /// @dev Gas of the held-transfer path as forge measures it (calls, not transactions: no
    ///      21,000 base nor calldata): the batch that holds one transfer, and its release.
    function test_gas_heldTransferPath() public {
        QiaoEndpoint.Transfer memory t = lockOnC(alice, bob, THRESHOLD);
        QiaoEndpoint.PackedBatch memory b = pack(one(t));
        bytes memory sig = signForGateway(one(t));
        vm.chainId(CHAIN_E);
        uint256 g = gasleft();
        gateway.executeBatch(EPOCH, b, sig);
        uint256 hold = g - gasleft();
        vm.warp(block.timestamp + CHALLENGE);
        g = gasleft();
        gateway.releaseQueued(t);
        uint256 release = g - gasleft();
        vm.assertEq(wrapped.balanceOf(bob), THRESHOLD);
        emit log_named_uint("executeBatch holding one transfer", hold);
        emit log_named_uint("releaseQueued of a held transfer", release);
    }
}
