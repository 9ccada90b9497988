// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {BridgeFixture} from "./lib/BridgeFixture.sol";
import {BLS} from "../src/BLS.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {IssuerModule} from "../src/endpoint/IssuerModule.sol";
import {QiaoGateway} from "../src/QiaoGateway.sol";
import {QiaoVault} from "../src/QiaoVault.sol";
import {WrappedToken} from "../src/WrappedToken.sol";
import {KycRegistry} from "../src/KycRegistry.sol";
import {TestAsset} from "../src/TestAsset.sol";

/// @dev Signing helpers for the signed actions and refunds, with a reference encoding.
abstract contract SignedActions is BridgeFixture {
    uint64 internal constant GRACE = 1 days;

    /// @dev keccak256(abi.encode(typehash, "QIAO-V1", chainId, endpoint, keyEpoch, actionNonce) || params)
    function refActionMessage(
        bytes32 typehash,
        uint256 chainId,
        address endpoint,
        uint64 keyEpoch,
        uint64 actionNonce,
        bytes memory params
    ) internal pure returns (bytes32) {
        return keccak256(
            bytes.concat(
                typehash,
                bytes32(uint256(6 * 32)),
                bytes32(chainId),
                bytes32(uint256(uint160(endpoint))),
                bytes32(uint256(keyEpoch)),
                bytes32(uint256(actionNonce)),
                bytes32(uint256(7)),
                bytes32("QIAO-V1"),
                params
            )
        );
    }

    function refRefundMessage(uint256 chainId, address endpoint, uint64 keyEpoch, QiaoEndpoint.Transfer memory t)
        internal
        pure
        returns (bytes32)
    {
        bytes32 typehash =
            keccak256("QiaoRefund(string version,uint256 chainId,address endpoint,uint64 keyEpoch,bytes32 transferLeaf)");
        return keccak256(
            bytes.concat(
                typehash,
                bytes32(uint256(6 * 32)),
                bytes32(chainId),
                bytes32(uint256(uint160(endpoint))),
                bytes32(uint256(keyEpoch)),
                refLeaf(t),
                bytes32(uint256(7)),
                bytes32("QIAO-V1")
            )
        );
    }

    function signAction(uint256 sk, QiaoEndpoint e, uint256 chainId, bytes32 typehash, uint64 epoch, bytes memory params)
        internal
        view
        returns (bytes memory)
    {
        return blsSign(sk, refActionMessage(typehash, chainId, address(e), epoch, e.actionNonce(), params));
    }

    /// @dev How long after now the RESUMEs of the tests may be submitted (their signed deadline).
    uint64 internal constant RESUME_WINDOW = 1 days;

    /// @dev A deadline RESUME_WINDOW from now.
    function resumeDeadline() internal view returns (uint64) {
        return uint64(block.timestamp) + RESUME_WINDOW;
    }

    /// @dev abi.encode(pauseCount, deadline): the params of a RESUME for `e`'s current pause.
    function resumeParams(QiaoEndpoint e, uint64 deadline) internal view returns (bytes memory) {
        return abi.encode(e.pauseCount(), deadline);
    }

    /// @dev A RESUME of `e` signed by `sk` under `epoch` for its next action nonce and current
    ///      pause, to be submitted by `deadline`.
    function signResume(uint256 sk, QiaoEndpoint e, uint256 chainId, uint64 epoch, uint64 deadline)
        internal
        view
        returns (bytes memory)
    {
        return signAction(sk, e, chainId, e.RESUME_TYPEHASH(), epoch, resumeParams(e, deadline));
    }

    function signRefund(uint256 sk, QiaoEndpoint e, uint256 chainId, uint64 epoch, QiaoEndpoint.Transfer memory t)
        internal
        view
        returns (bytes memory)
    {
        return blsSign(sk, refRefundMessage(chainId, address(e), epoch, t));
    }

    /// @dev Sibling hashes of leaf `index` (docs/PROTOCOL.md: levels where the node is carried up are skipped).
    function refProof(bytes32[] memory level, uint256 index) internal pure returns (bytes32[] memory proof) {
        bytes32[] memory buf = new bytes32[](64);
        uint256 used;
        while (level.length > 1) {
            uint256 sibling = index ^ 1;
            if (sibling < level.length) buf[used++] = level[sibling];
            bytes32[] memory next = new bytes32[]((level.length + 1) / 2);
            for (uint256 i; i + 1 < level.length; i += 2) {
                next[i / 2] = keccak256(bytes.concat(level[i], level[i + 1]));
            }
            if (level.length % 2 == 1) next[next.length - 1] = level[level.length - 1];
            level = next;
            index /= 2;
        }
        proof = new bytes32[](used);
        for (uint256 i; i < used; ++i) {
            proof[i] = buf[i];
        }
    }

    function leavesOf(QiaoEndpoint.Transfer[] memory ts) internal pure returns (bytes32[] memory leaves) {
        leaves = new bytes32[](ts.length);
        for (uint256 i; i < ts.length; ++i) {
            leaves[i] = refLeaf(ts[i]);
        }
    }

    /// @dev Rotates the gateway's key to `newSk`'s: schedules the signed ROTATE, waits the
    ///      delay, executes it.
    function rotateGateway(uint256 newSk) internal {
        bytes memory newKey = blsPublicKey(newSk);
        vm.chainId(CHAIN_E);
        uint64 epoch = gateway.currentKeyEpoch();
        uint256 signer = epoch == 1 ? GROUP_SK : (epoch == 2 ? OTHER_SK : 7);
        bytes memory sig =
            signAction(signer, gateway, CHAIN_E, gateway.ROTATE_TYPEHASH(), epoch, abi.encode(keccak256(newKey)));
        uint64 actionNonce = gateway.rotateKey(epoch, newKey, sig);
        vm.warp(block.timestamp + gateway.actionDelay());
        gateway.executePending(actionNonce);
    }

    /// @dev Resumes `e` (on chain `chainId`) with the group key: schedules the signed RESUME,
    ///      waits the delay, executes it.
    function resumeNow(QiaoEndpoint e, uint256 chainId) internal {
        vm.chainId(chainId);
        uint64 deadline = resumeDeadline();
        uint64 actionNonce = e.resume(EPOCH, deadline, signResume(GROUP_SK, e, chainId, EPOCH, deadline));
        vm.warp(block.timestamp + e.actionDelay());
        e.executePending(actionNonce);
    }
}

/// @notice Pause, resume, key rotation, rate limits and queue, failures and refunds, freezes,
///         single-transfer execution, and their rejections.
contract FeaturesTest is SignedActions {
    // ---------------------------------------------------------------- pause and resume

    function test_pause_guardianPausesAtOnce_andEverythingStops() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.prank(guardian);
        gateway.pause();
        vm.assertTrue(gateway.paused());
        vm.expectRevert(Pausable.EnforcedPause.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        gateway.executeTransfer(EPOCH, ts[0], 1, 1, new bytes32[](0), sig);
        vm.prank(bob);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        gateway.burn(address(wrapped), CHAIN_C, alice, 1);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        gateway.releaseQueued(ts[0]);
        vm.chainId(CHAIN_C);
        vm.prank(guardian);
        vault.pause();
        vm.prank(alice);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.lock(address(asset), CHAIN_E, bob, 1 ether);
        vm.expectRevert(Pausable.EnforcedPause.selector);
        vault.refund(EPOCH, ts[0], sig);
        vm.assertEq(wrapped.totalSupply(), 0);
    }

    function test_pause_onlyGuardian_andNobodyUnpausesWithoutSignature() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, owner));
        gateway.pause();
        vm.prank(guardian);
        gateway.pause();
        // resume needs a signature: a forged one is refused, whoever sends it
        uint64 deadline = resumeDeadline();
        bytes memory forged = signResume(OTHER_SK, gateway, CHAIN_E, EPOCH, deadline);
        vm.prank(guardian);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadline, forged);
        vm.assertTrue(gateway.paused());
    }

    function test_resume_withCommitteeSignature_andNotTwice() public {
        vm.chainId(CHAIN_E);
        vm.prank(guardian);
        gateway.pause();
        uint64 deadline = resumeDeadline();
        bytes memory sig = signResume(GROUP_SK, gateway, CHAIN_E, EPOCH, deadline);
        uint64 actionNonce = gateway.resume(EPOCH, deadline, sig);
        vm.assertTrue(gateway.paused());
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(actionNonce);
        vm.assertFalse(gateway.paused());
        vm.assertEq(gateway.actionNonce(), 1);
        vm.prank(guardian);
        gateway.pause();
        // the same signature again: the action nonce (and the pause) moved on
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, deadline, sig);
        vm.assertTrue(gateway.paused());
    }

    function test_pauseWithSignature_andReplayAcrossTypeChainContractEpoch() public {
        vm.chainId(CHAIN_E);
        bytes32 pauseType = gateway.PAUSE_TYPEHASH();
        // a PAUSE signature is not a RESUME signature (message type)
        vm.prank(guardian);
        gateway.pause();
        bytes memory pauseSig = signAction(GROUP_SK, gateway, CHAIN_E, pauseType, EPOCH, "");
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.resume(EPOCH, resumeDeadline(), pauseSig);
        resumeNow(gateway, CHAIN_E);
        // signed for another chain id, another contract, another epoch: refused
        bytes memory otherChain = signAction(GROUP_SK, gateway, CHAIN_C, pauseType, EPOCH, "");
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.pauseWithSignature(EPOCH, otherChain);
        bytes memory otherContract =
            blsSign(GROUP_SK, refActionMessage(pauseType, CHAIN_E, address(vault), EPOCH, gateway.actionNonce(), ""));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.pauseWithSignature(EPOCH, otherContract);
        bytes memory epoch2 = signAction(GROUP_SK, gateway, CHAIN_E, pauseType, 2, "");
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotCurrentKeyEpoch.selector, 2));
        gateway.pauseWithSignature(2, epoch2);
        // a batch signature is never an action signature
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory batchSig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.pauseWithSignature(EPOCH, batchSig);
        // the right one works
        vm.chainId(CHAIN_E);
        gateway.pauseWithSignature(EPOCH, signAction(GROUP_SK, gateway, CHAIN_E, pauseType, EPOCH, ""));
        vm.assertTrue(gateway.paused());
    }

    function test_actionMessage_matchesReference() public {
        vm.chainId(CHAIN_E);
        bytes memory params = abi.encode(carol, true);
        vm.assertEq(
            gateway.actionMessage(gateway.FREEZE_TYPEHASH(), EPOCH, params),
            refActionMessage(gateway.FREEZE_TYPEHASH(), CHAIN_E, address(gateway), EPOCH, 0, params)
        );
        vm.assertEq(
            gateway.FREEZE_TYPEHASH(),
            keccak256(
                "QiaoFreeze(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,address account,bool frozen)"
            )
        );
    }

    function test_setGuardian_onlyOwner_notZero() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vault.setGuardian(alice);
        vm.prank(owner);
        vm.expectRevert(QiaoEndpoint.ZeroAddress.selector);
        vault.setGuardian(address(0));
        vm.prank(owner);
        vault.setGuardian(carol);
        vm.assertEq(vault.guardian(), carol);
    }

    function test_deploy_rejectsZeroGuardianOrCodelessRegistry() public {
        vm.expectRevert(QiaoEndpoint.ZeroAddress.selector);
        new QiaoVault(owner, address(0), groupPk, registryC, ACTION_DELAY);
        vm.expectRevert(QiaoEndpoint.ZeroAddress.selector);
        new QiaoGateway(owner, guardian, groupPk, KycRegistry(address(0x1234)), ACTION_DELAY);
    }

    // ---------------------------------------------------------------- key rotation

    function test_rotate_newKeyWorks_previousOnlyDuringGrace() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(3);
        QiaoEndpoint.Transfer[] memory a = one(ts[0]);
        QiaoEndpoint.Transfer[] memory b = one(ts[1]);
        QiaoEndpoint.Transfer[] memory c = one(ts[2]);
        bytes memory sigA1 = signFor(GROUP_SK, address(gateway), CHAIN_E, 1, a);
        bytes memory sigC1 = signFor(GROUP_SK, address(gateway), CHAIN_E, 1, c);
        vm.warp(1000);
        rotateGateway(OTHER_SK); // executed at 1000 + ACTION_DELAY
        vm.assertEq(gateway.currentKeyEpoch(), 2);
        vm.assertEq(gateway.groupKey(2), blsPublicKey(OTHER_SK));
        uint256 rotatedAt = 1000 + ACTION_DELAY;
        vm.assertEq(gateway.previousKeyValidUntil(), rotatedAt + GRACE);
        // a batch in flight under epoch 1 still executes during the grace period
        gateway.executeBatch(1, pack(a), sigA1);
        // the new key signs epoch 2
        bytes memory sigB2 = signFor(OTHER_SK, address(gateway), CHAIN_E, 2, b);
        vm.chainId(CHAIN_E);
        gateway.executeBatch(2, pack(b), sigB2);
        // after the grace period epoch 1 is refused
        vm.warp(rotatedAt + GRACE + 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.KeyEpochExpired.selector, 1));
        gateway.executeBatch(1, pack(c), sigC1);
        // the old key cannot sign for epoch 2
        bytes memory oldFor2 = signFor(GROUP_SK, address(gateway), CHAIN_E, 2, c);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(2, pack(c), oldFor2);
        vm.assertEq(wrapped.totalSupply(), 3 ether);
    }

    function test_rotate_twice_expiresTheOldestAtOnce() public {
        QiaoEndpoint.Transfer[] memory a = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig1 = signFor(GROUP_SK, address(gateway), CHAIN_E, 1, a);
        rotateGateway(OTHER_SK);
        rotateGateway(7);
        vm.assertEq(gateway.currentKeyEpoch(), 3);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.KeyEpochExpired.selector, 1));
        gateway.executeBatch(1, pack(a), sig1);
        bytes memory sig2 = signFor(OTHER_SK, address(gateway), CHAIN_E, 2, a);
        vm.chainId(CHAIN_E);
        gateway.executeBatch(2, pack(a), sig2);
    }

    function test_rotate_rejections() public {
        vm.chainId(CHAIN_E);
        bytes memory newKey = blsPublicKey(OTHER_SK);
        bytes32 rotateType = gateway.ROTATE_TYPEHASH();
        // signed by another key
        bytes memory forged = signAction(OTHER_SK, gateway, CHAIN_E, rotateType, EPOCH, abi.encode(keccak256(newKey)));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.rotateKey(EPOCH, newKey, forged);
        // signed for a different new key
        bytes memory sigOther =
            signAction(GROUP_SK, gateway, CHAIN_E, rotateType, EPOCH, abi.encode(keccak256(blsPublicKey(7))));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.rotateKey(EPOCH, newKey, sigOther);
        // invalid new keys: identity, wrong length, not in the subgroup, not on the curve, the same key
        vm.expectRevert(BLS.BLSIdentityPublicKey.selector);
        gateway.rotateKey(EPOCH, new bytes(256), forged);
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidPublicKeyLength.selector, 128));
        gateway.rotateKey(EPOCH, G1_GENERATOR, forged);
        vm.expectRevert(BLS.BLSInvalidPublicKey.selector);
        gateway.rotateKey(EPOCH, G2_NOT_IN_SUBGROUP, forged);
        bytes memory offCurve = blsPublicKey(OTHER_SK);
        offCurve[255] = bytes1(uint8(offCurve[255]) ^ 1);
        vm.expectRevert(BLS.BLSInvalidPublicKey.selector);
        gateway.rotateKey(EPOCH, offCurve, forged);
        vm.expectRevert(QiaoEndpoint.KeyUnchanged.selector);
        gateway.rotateKey(EPOCH, groupPk, forged);
        // a stale epoch
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotCurrentKeyEpoch.selector, 0));
        gateway.rotateKey(0, newKey, forged);
        // replay of a used rotation: while pending, the nonce moved on; once executed, the key is current
        bytes memory good = signAction(GROUP_SK, gateway, CHAIN_E, rotateType, EPOCH, abi.encode(keccak256(newKey)));
        uint64 actionNonce = gateway.rotateKey(EPOCH, newKey, good);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.rotateKey(EPOCH, newKey, good);
        vm.warp(block.timestamp + ACTION_DELAY);
        gateway.executePending(actionNonce);
        vm.expectRevert(QiaoEndpoint.KeyUnchanged.selector);
        gateway.rotateKey(EPOCH, newKey, good);
        bytes memory third = blsPublicKey(7);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotCurrentKeyEpoch.selector, 1));
        gateway.rotateKey(EPOCH, third, good);
        vm.assertEq(gateway.currentKeyEpoch(), 2);
    }

    // ---------------------------------------------------------------- failures and refunds

    function test_failed_recipientNotAllowed_batchGoesOn_thenRefundOnce() public {
        address dave = address(0xDA7E); // not on E's allow-list
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        ts[0] = lockOnC(alice, bob, 1 ether);
        ts[1] = lockOnC(alice, dave, 2 ether);
        ts[2] = lockOnC(alice, carol, 3 ether);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, 2, QiaoEndpoint.FailureReason.RecipientNotAllowed);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.totalSupply(), 4 ether);
        vm.assertTrue(gateway.isExecuted(CHAIN_C, 2));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 1)), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 9)), uint8(QiaoEndpoint.TransferStatus.None));

        // refund on C: committee-signed, once
        uint256 before = asset.balanceOf(alice);
        bytes memory refundSig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, ts[1]);
        vm.chainId(CHAIN_C);
        vm.assertEq(vault.refundMessage(EPOCH, ts[1]), refRefundMessage(CHAIN_C, address(vault), EPOCH, ts[1]));
        vault.refund(EPOCH, ts[1], refundSig);
        vm.assertEq(asset.balanceOf(alice), before + 2 ether);
        vm.assertTrue(vault.isRefunded(CHAIN_E, 2));
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.AlreadyRefunded.selector, CHAIN_E, 2));
        vault.refund(EPOCH, ts[1], refundSig);
        // S3 still holds: 4 minted, 4 locked
        vm.assertEq(asset.balanceOf(address(vault)), wrapped.totalSupply());
    }

    function test_failed_tokenFrozen_andRefundOfBurnMintsBack() public {
        _mint(bob, 5 ether);
        // E -> C burn whose recipient is not allowed on C: fails on C, refunded on E
        address dave = address(0xDA7E);
        QiaoEndpoint.Transfer[] memory back = one(burnOnE(bob, dave, 2 ether));
        bytes memory sig = signForVault(back);
        vm.chainId(CHAIN_C);
        vault.executeBatch(EPOCH, pack(back), sig);
        vm.assertEq(uint8(vault.transferStatus(CHAIN_E, 1)), uint8(QiaoEndpoint.TransferStatus.Failed));
        bytes memory refundSig = signRefund(GROUP_SK, gateway, CHAIN_E, EPOCH, back[0]);
        vm.chainId(CHAIN_E);
        gateway.refund(EPOCH, back[0], refundSig);
        vm.assertEq(wrapped.balanceOf(bob), 5 ether);

        // the whole token frozen: a mint is recorded as failed
        vm.prank(owner);
        wrapped.setFrozen(true);
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig2 = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, 2, QiaoEndpoint.FailureReason.TokenFrozen);
        gateway.executeBatch(EPOCH, pack(ts), sig2);
        vm.assertEq(wrapped.totalSupply(), 5 ether);
    }

    function test_refund_rejections() public {
        QiaoEndpoint.Transfer memory t = lockOnC(alice, address(0xDA7E), 1 ether);
        vm.chainId(CHAIN_C);
        // a signature by another key, for another contract, for another chain, or a batch signature
        bytes memory forged = signRefund(OTHER_SK, vault, CHAIN_C, EPOCH, t);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        vault.refund(EPOCH, t, forged);
        bytes memory forGateway = blsSign(GROUP_SK, refRefundMessage(CHAIN_C, address(gateway), EPOCH, t));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        vault.refund(EPOCH, t, forGateway);
        bytes memory otherChain = blsSign(GROUP_SK, refRefundMessage(CHAIN_E, address(vault), EPOCH, t));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        vault.refund(EPOCH, t, otherChain);
        bytes memory batchSig = signFor(GROUP_SK, address(vault), CHAIN_C, EPOCH, one(t));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        vault.refund(EPOCH, t, batchSig);
        // a nonce never assigned, a transfer from another chain, an unregistered pair
        QiaoEndpoint.Transfer memory u = cp(t);
        u.nonce = 2;
        bytes memory s1 = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, u);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_E, 2));
        vault.refund(EPOCH, u, s1);
        u = cp(t);
        u.srcChainId = CHAIN_E;
        s1 = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, u);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_E, 1));
        vault.refund(EPOCH, u, s1);
        u = cp(t);
        u.dstToken = address(0xBAD);
        s1 = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, u);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_E, 1));
        vault.refund(EPOCH, u, s1);
        // an inflated amount is a different leaf: it matches no transfer initiated here (even
        // signed by the committee's key), and the signature does not cover it either
        bytes memory good = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, t);
        u = cp(t);
        u.amount = 2 ether;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_E, 1));
        vault.refund(EPOCH, u, good);
        bytes memory signedInflated = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, u);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_E, 1));
        vault.refund(EPOCH, u, signedInflated);
        vm.assertEq(vault.initiatedLeaf(CHAIN_E, 1), refLeaf(t));
        vm.assertEq(vault.initiatedLeaf(CHAIN_E, 2), bytes32(0));
        vm.assertFalse(vault.isRefunded(CHAIN_E, 1));
    }

    // ---------------------------------------------------------------- rate limits and queue

    function test_rateLimit_outbound_refusesTheLock() public {
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Outbound, 10 ether, 1 ether);
        lockOnC(alice, bob, 6 ether);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                QiaoEndpoint.RateLimited.selector, address(asset), QiaoEndpoint.Direction.Outbound, 4 ether, 5 ether
            )
        );
        vault.lock(address(asset), CHAIN_E, bob, 5 ether);
        vm.warp(block.timestamp + 1);
        lockOnC(alice, bob, 5 ether);
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Outbound), 0);
    }

    function test_rateLimit_aBlockTimeEarlierThanTheLastChargeNeitherPanicsNorRefillsTwice() public {
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Outbound, 10 ether, 1 ether);
        vm.warp(1000);
        lockOnC(alice, bob, 6 ether); // charged at t = 1000: 4 left
        vm.warp(990); // the block time steps back 10 s
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Outbound), 4 ether);
        lockOnC(alice, bob, 1 ether); // no arithmetic panic: 3 left, still dated t = 1000
        vm.assertEq(vault.rateLimit(address(asset), QiaoEndpoint.Direction.Outbound).updatedAt, 1000);
        vm.warp(1001); // one second after the last charge: one second of refill, not eleven
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Outbound), 4 ether);
    }

    function test_rateLimit_inbound_queuesThenReleasesOnce() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 10 ether, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        ts[0] = lockOnC(alice, bob, 6 ether);
        ts[1] = lockOnC(alice, carol, 5 ether); // over the 4 left: queued
        ts[2] = lockOnC(alice, bob, 3 ether); // would fit, but queues behind the one before it
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferQueued(CHAIN_C, 2, refLeaf(ts[1]), 5 ether);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferQueued(CHAIN_C, 3, refLeaf(ts[2]), 3 ether);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.totalSupply(), 6 ether);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 3)), uint8(QiaoEndpoint.TransferStatus.Queued));
        (bytes32 head, uint256 length) = gateway.queueHead(address(wrapped));
        vm.assertEq(head, refLeaf(ts[1]));
        vm.assertEq(length, 2);
        // not yet: 4 left; and the later, smaller one cannot go first
        vm.expectRevert(
            abi.encodeWithSelector(
                QiaoEndpoint.RateLimited.selector, address(wrapped), QiaoEndpoint.Direction.Inbound, 4 ether, 5 ether
            )
        );
        gateway.releaseQueued(ts[1]);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueueHead.selector, CHAIN_C, 3, refLeaf(ts[1])));
        gateway.releaseQueued(ts[2]);
        // wrong fields are refused
        QiaoEndpoint.Transfer memory fake = cp(ts[1]);
        fake.amount = 1 ether;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, 2));
        gateway.releaseQueued(fake);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, 1));
        gateway.releaseQueued(ts[0]);
        // after 1 second anyone releases it, once; then the next one, in order
        vm.warp(block.timestamp + 1);
        vm.prank(address(0x5EED));
        gateway.releaseQueued(ts[1]);
        vm.assertEq(wrapped.balanceOf(carol), 5 ether);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, 2));
        gateway.releaseQueued(ts[1]);
        vm.warp(block.timestamp + 3);
        gateway.releaseQueued(ts[2]);
        (head, length) = gateway.queueHead(address(wrapped));
        vm.assertEq(head, bytes32(0));
        vm.assertEq(length, 0);
        vm.assertEq(wrapped.totalSupply(), 14 ether);
    }

    function test_rateLimit_queuedTransferThatBecameUndeliverableFails() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 3 ether, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = lockOnC(alice, bob, 2 ether);
        ts[1] = lockOnC(alice, carol, 2 ether);
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.prank(owner);
        registryE.setFrozen(carol, true);
        vm.warp(block.timestamp + 10);
        gateway.releaseQueued(ts[1]);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(wrapped.totalSupply(), 2 ether);
        // the charge was given back: the bucket is full again
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 3 ether);
    }

    function test_setRateLimit_rejections() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Inbound, 1, 1);
        vm.startPrank(owner);
        vm.expectRevert(QiaoEndpoint.InvalidRateLimit.selector);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Inbound, 0, 1);
        vm.expectRevert(QiaoEndpoint.ZeroTokenAddress.selector);
        vault.setRateLimit(address(0), QiaoEndpoint.Direction.Inbound, 1, 1);
        vm.stopPrank();
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Inbound), type(uint256).max);
    }

    // ---------------------------------------------------------------- single transfer with a proof

    function test_executeTransfer_everyIndexOfABatchOf7_thenTheBatchSkipsThem() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(7);
        bytes memory sig = signForGateway(ts);
        bytes32[] memory leaves = leavesOf(ts);
        vm.chainId(CHAIN_E);
        for (uint256 i; i < 7; i += 2) {
            vm.prank(address(0x5EED));
            gateway.executeTransfer(EPOCH, ts[i], 1, 7, refProof(leaves, i), sig);
            vm.assertTrue(gateway.isExecuted(CHAIN_C, ts[i].nonce));
        }
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.AlreadyExecuted.selector, CHAIN_C, 1));
        gateway.executeTransfer(EPOCH, ts[0], 1, 7, refProof(leaves, 0), sig);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.balanceOf(bob), 28 ether);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.BatchAlreadyExecuted.selector, CHAIN_C, 1, 7));
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_unexecutedCount_seesAPartlyHandExecutedBatch_acrossBitmapWords() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(7);
        bytes memory sig = signForGateway(ts);
        bytes32[] memory leaves = leavesOf(ts);
        vm.chainId(CHAIN_E);
        vm.assertEq(gateway.unexecutedCount(CHAIN_C, 1, 7), 7);
        // a user executes the batch's first transfer by hand: the batch is not executed yet
        gateway.executeTransfer(EPOCH, ts[0], 1, 7, refProof(leaves, 0), sig);
        vm.assertTrue(gateway.isExecuted(CHAIN_C, 1));
        vm.assertEq(gateway.unexecutedCount(CHAIN_C, 1, 7), 6);
        vm.assertEq(gateway.unexecutedCount(CHAIN_C, 1, 1), 0);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(gateway.unexecutedCount(CHAIN_C, 1, 7), 0);
        // a range past what was executed, across the first bitmap word's end (nonces 255..257)
        vm.assertEq(gateway.unexecutedCount(CHAIN_C, 5, 300), 296 - 3);
        vm.assertEq(gateway.unexecutedCount(CHAIN_C, 255, 257), 3);
        // another source chain has nothing executed
        vm.assertEq(gateway.unexecutedCount(CHAIN_E, 1, 7), 7);
    }

    function test_unexecutedCount_rejectsAZeroReversedOrOverlongRange() public {
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidNonceRange.selector, 0, 5));
        gateway.unexecutedCount(CHAIN_C, 0, 5);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidNonceRange.selector, 5, 4));
        gateway.unexecutedCount(CHAIN_C, 5, 4);
        uint64 limit = gateway.MAX_RANGE_QUERY();
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidNonceRange.selector, 1, limit + 1));
        gateway.unexecutedCount(CHAIN_C, 1, limit + 1);
        vm.assertEq(gateway.unexecutedCount(CHAIN_C, 1, limit), limit);
    }

    function test_executeTransfer_rejections() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(5);
        bytes memory sig = signForGateway(ts);
        bytes32[] memory leaves = leavesOf(ts);
        bytes32[] memory proof = refProof(leaves, 1);
        vm.chainId(CHAIN_E);
        // wrong range, wrong proof length, wrong sibling, wrong fields
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NonceOutsideBatch.selector, 2, 3, 5));
        gateway.executeTransfer(EPOCH, ts[1], 3, 5, proof, sig);
        vm.expectRevert(QiaoEndpoint.ZeroNonce.selector);
        gateway.executeTransfer(EPOCH, ts[1], 0, 5, proof, sig);
        bytes32[] memory short = new bytes32[](1);
        short[0] = proof[0];
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidProofLength.selector, 2, 1));
        gateway.executeTransfer(EPOCH, ts[1], 1, 5, short, sig);
        bytes32[] memory long = new bytes32[](proof.length + 1);
        for (uint256 i; i < proof.length; ++i) {
            long[i] = proof[i];
        }
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidProofLength.selector, proof.length, long.length));
        gateway.executeTransfer(EPOCH, ts[1], 1, 5, long, sig);
        bytes32[] memory bad = refProof(leaves, 1);
        bad[0] = bytes32(uint256(1));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeTransfer(EPOCH, ts[1], 1, 5, bad, sig);
        QiaoEndpoint.Transfer memory t = cp(ts[1]);
        t.amount = 100 ether;
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeTransfer(EPOCH, t, 1, 5, proof, sig);
        t = cp(ts[1]);
        t.dstChainId = CHAIN_C;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.WrongDestinationChain.selector, 0, CHAIN_C));
        gateway.executeTransfer(EPOCH, t, 1, 5, proof, sig);
        // the last leaf of an odd batch is carried up: its proof is shorter
        gateway.executeTransfer(EPOCH, ts[4], 1, 5, refProof(leaves, 4), sig);
        vm.assertEq(refProof(leaves, 4).length, 1);
        vm.assertEq(wrapped.totalSupply(), 5 ether);
    }

    // ---------------------------------------------------------------- KYC, freeze

    function test_kyc_lockNeedsAnAllowedSender_andTokenOnlyMovesBetweenAllowed() public {
        address dave = address(0xDA7E);
        vm.prank(owner);
        asset.mint(dave, 1 ether);
        vm.prank(dave);
        asset.approve(address(vault), 1 ether);
        vm.chainId(CHAIN_C);
        vm.prank(dave);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotAllowed.selector, dave));
        vault.lock(address(asset), CHAIN_E, bob, 1 ether);
        _mint(bob, 2 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, dave));
        // forge-lint: disable-next-line(erc20-unchecked-transfer) -- reverts
        wrapped.transfer(dave, 1 ether);
        vm.prank(bob);
        // forge-lint: disable-next-line(erc20-unchecked-transfer) -- OpenZeppelin ERC20 reverts on failure
        wrapped.transfer(carol, 1 ether);
        vm.prank(owner);
        registryE.setAllowed(carol, false);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, carol));
        // forge-lint: disable-next-line(erc20-unchecked-transfer) -- reverts
        wrapped.transfer(bob, 1 ether);
        vm.assertFalse(wrapped.canReceive(carol));
    }

    function test_freeze_carriedFromCtoE_byCommitteeSignature() public {
        _mint(bob, 2 ether);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        registryC.setFrozen(bob, true); // decided by the issuer on C
        vm.chainId(CHAIN_E);
        bytes32 freezeType = gateway.FREEZE_TYPEHASH();
        bytes memory sig = signAction(GROUP_SK, gateway, CHAIN_E, freezeType, EPOCH, abi.encode(bob, true));
        // wrong account or flag: the signature does not cover it
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyFreeze(EPOCH, carol, true, sig);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyFreeze(EPOCH, bob, false, sig);
        vm.expectRevert(QiaoEndpoint.ZeroAddress.selector);
        IssuerModule(address(gateway)).applyFreeze(EPOCH, address(0), true, sig);
        IssuerModule(address(gateway)).applyFreeze(EPOCH, bob, true, sig);
        (, bool frozen) = registryE.statusOf(bob);
        vm.assertTrue(frozen);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, bob));
        gateway.burn(address(wrapped), CHAIN_C, alice, 1 ether);
        // replay refused (action nonce)
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyFreeze(EPOCH, bob, true, sig);
        // unfreeze the same way
        bytes memory unfreeze = signAction(GROUP_SK, gateway, CHAIN_E, freezeType, EPOCH, abi.encode(bob, false));
        IssuerModule(address(gateway)).applyFreeze(EPOCH, bob, false, unfreeze);
        vm.assertTrue(registryE.isAllowed(bob));
    }

    function test_registryAndToken_roles() public {
        bytes32 registryRole = registryE.COMPLIANCE_ROLE();
        bytes32 tokenRole = wrapped.COMPLIANCE_ROLE();
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, registryRole
            )
        );
        registryE.setAllowed(alice, true);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(KycRegistry.KycNotFreezer.selector, alice));
        registryE.setFrozen(bob, true);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, alice, tokenRole
            )
        );
        wrapped.setFrozen(true);
        vm.startPrank(owner);
        vm.expectRevert(KycRegistry.KycZeroAddress.selector);
        registryE.setAllowed(address(0), true);
        vm.expectRevert(KycRegistry.KycZeroAddress.selector);
        registryE.setFrozen(address(0), true);
        address[] memory many = new address[](2);
        many[0] = address(0x1);
        many[1] = address(0x2);
        registryE.setAllowedBatch(many, true);
        vm.stopPrank();
        vm.assertTrue(registryE.isAllowed(address(0x2)));
        vm.expectRevert(KycRegistry.KycZeroAddress.selector);
        new KycRegistry(address(0));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.InvalidRegistry.selector, address(0x1234)));
        new WrappedToken("W", "W", address(gateway), KycRegistry(address(0x1234)), owner);
        vm.expectRevert(WrappedToken.ZeroAdmin.selector);
        new WrappedToken("W", "W", address(gateway), registryE, address(0));
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, alice));
        wrapped.mintChecked(alice, 1);
    }

    function test_wrapped_frozenTokenStopsEveryBalanceChange() public {
        _mint(bob, 2 ether);
        vm.prank(owner);
        wrapped.setFrozen(true);
        vm.assertFalse(wrapped.canReceive(carol));
        vm.prank(bob);
        vm.expectRevert(WrappedToken.TokenIsFrozen.selector);
        // forge-lint: disable-next-line(erc20-unchecked-transfer) -- reverts
        wrapped.transfer(carol, 1 ether);
        vm.chainId(CHAIN_E);
        vm.prank(bob);
        vm.expectRevert(WrappedToken.TokenIsFrozen.selector);
        gateway.burn(address(wrapped), CHAIN_C, alice, 1 ether);
        vm.prank(owner);
        wrapped.setFrozen(false);
        vm.prank(bob);
        gateway.burn(address(wrapped), CHAIN_C, alice, 1 ether);
        vm.assertEq(wrapped.totalSupply(), 1 ether);
        // the allow-list batch setter is for the compliance role only
        address[] memory many = new address[](1);
        many[0] = address(0x1);
        bytes32 role = registryE.COMPLIANCE_ROLE();
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, role));
        registryE.setAllowedBatch(many, true);
    }

    // ---------------------------------------------------------------- values and precompiles

    function test_execute_rejectsAmountOverflow_andLockToo() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        ts[0].amount = uint256(type(uint128).max) + 1;
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TransferAmountTooLarge.selector, CHAIN_C, 1));
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.AmountTooLarge.selector, type(uint256).max));
        vault.lock(address(asset), CHAIN_E, bob, type(uint256).max);
    }

    function test_execute_duplicateTransferInsideABatchCannotBeExpressed() public {
        // [t, t] packed is transfers with nonces 1 and 2: the second is not what was signed.
        QiaoEndpoint.Transfer memory t = lockOnC(alice, bob, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = t;
        ts[1] = t;
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.totalSupply(), 0);
    }

    function test_execute_failedPairingPrecompileIsARejection() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.mockCallRevert(address(0x0f), "", "boom");
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.clearMockedCalls();
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.totalSupply(), 1 ether);
    }

    function test_execute_failedMapPrecompileReverts() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.mockCallRevert(address(0x10), "", "boom");
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSPrecompileCallFailed.selector, address(0x10)));
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.clearMockedCalls();
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 1));
    }

    function test_verifySignature_view() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        bytes32 m = gateway.batchMessage(EPOCH, pack(ts));
        vm.assertTrue(gateway.verifySignature(EPOCH, m, sig));
        vm.assertFalse(gateway.verifySignature(EPOCH, bytes32(uint256(m) ^ 1), sig));
        vm.assertFalse(gateway.verifySignature(2, m, sig));
        vm.assertFalse(gateway.verifySignature(EPOCH, m, new bytes(128)));
        vm.assertFalse(gateway.verifySignature(EPOCH, m, G1_NOT_IN_SUBGROUP));
    }

    function cp(QiaoEndpoint.Transfer memory t) internal pure returns (QiaoEndpoint.Transfer memory) {
        return QiaoEndpoint.Transfer(
            t.srcChainId, t.dstChainId, t.nonce, t.srcToken, t.dstToken, t.sender, t.recipient, t.amount
        );
    }

    function _mint(address to, uint256 amount) internal {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, to, amount));
        executeOnE(ts, signForGateway(ts));
    }
}
