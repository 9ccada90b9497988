// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {BridgeFixture} from "./lib/BridgeFixture.sol";
import {BLS} from "../src/BLS.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {QiaoGateway} from "../src/QiaoGateway.sol";
import {QiaoVault} from "../src/QiaoVault.sol";
import {WrappedToken} from "../src/WrappedToken.sol";
import {TestAsset} from "../src/TestAsset.sol";

/// @dev Takes a 1% fee on every transfer: the vault must refuse it.
contract FeeToken is ERC20 {
    constructor() ERC20("Fee", "FEE") {
        _mint(msg.sender, 1_000_000 ether);
    }

    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = value / 100;
            super._update(from, address(0xFEE), fee);
            value -= fee;
        }
        super._update(from, to, value);
    }
}

/// @dev On transfer out of the vault, tries to re-enter executeBatch and records what happened.
contract ReentrantToken is ERC20 {
    QiaoEndpoint public target;
    bytes public reentryError;
    bool public armed;
    bytes internal replayCall;

    constructor() ERC20("Re", "RE") {
        _mint(msg.sender, 1_000_000 ether);
    }

    /// @param call The whole calldata of the executeBatch call to attempt from inside the transfer.
    function arm(QiaoEndpoint target_, bytes memory call) external {
        target = target_;
        replayCall = call;
        armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (armed && from == address(target)) {
            armed = false;
            (bool ok, bytes memory err) = address(target).call(replayCall);
            if (!ok) reentryError = err;
        }
    }
}

/// @notice Every rejection of executeBatch, lock, burn, registration and deployment.
contract RejectionsTest is BridgeFixture {
    // ---------------------------------------------------------------- signatures

    function _oneSignedForGateway() internal returns (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) {
        ts = one(lockOnC(alice, bob, 1 ether));
        sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
    }

    function _assertNothingExecuted(QiaoEndpoint.Transfer[] memory ts) internal view {
        for (uint256 i; i < ts.length; ++i) {
            vm.assertFalse(gateway.isExecuted(ts[i].srcChainId, ts[i].nonce));
        }
        vm.assertEq(wrapped.totalSupply(), 0);
    }

    function test_execute_rejectsSignatureByOtherKey() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signFor(OTHER_SK, address(gateway), CHAIN_E, EPOCH, ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        _assertNothingExecuted(ts);
    }

    function test_execute_rejectsIdentitySignature() public {
        (QiaoEndpoint.Transfer[] memory ts,) = _oneSignedForGateway();
        vm.expectRevert(QiaoEndpoint.IdentitySignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), new bytes(128));
    }

    function test_execute_rejectsSignatureWrongLength() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _oneSignedForGateway();
        uint256[5] memory lengths = [uint256(0), 48, 96, 127, 129];
        for (uint256 i; i < lengths.length; ++i) {
            bytes memory bad = new bytes(lengths[i]);
            for (uint256 j; j < bad.length && j < 128; ++j) {
                bad[j] = sig[j];
            }
            vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidSignatureLength.selector, lengths[i]));
            gateway.executeBatch(EPOCH, pack(ts), bad);
        }
        // The 256-byte G2 encoding is no signature either.
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidSignatureLength.selector, 256));
        gateway.executeBatch(EPOCH, pack(ts), groupPk);
    }

    function test_execute_rejectsSignatureNotOnCurve() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _oneSignedForGateway();
        sig[127] = bytes1(uint8(sig[127]) ^ 0x01);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_execute_rejectsSignatureNonCanonicalPadding() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _oneSignedForGateway();
        sig[0] = 0x80;
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_execute_rejectsSignatureNotInSubgroup() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _oneSignedForGateway();
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), G1_NOT_IN_SUBGROUP);
        // A valid signature plus a torsion component: on the curve, outside the subgroup.
        bytes memory shifted = g1Add(sig, G1_NOT_IN_SUBGROUP);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), shifted);
        _assertNothingExecuted(ts);
    }

    function test_execute_rejectsNegatedSignature() public {
        // -sig is a valid subgroup point but not the signature.
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _oneSignedForGateway();
        bytes memory neg = g1Mul(sig, CURVE_ORDER - 1);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), neg);
    }

    function test_execute_rejectsSignatureForAnotherDstChainId() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signFor(GROUP_SK, address(gateway), 999, EPOCH, ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_execute_rejectsSignatureForAnotherDstContract() public {
        // A second gateway under the same committee key: a batch signed for one must not run on the other.
        vm.chainId(CHAIN_E);
        QiaoGateway gateway2 = newGateway(groupPk);
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signFor(GROUP_SK, address(gateway2), CHAIN_E, EPOCH, ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        // And a batch signed for the gateway does not run on the vault (different contract and chain).
        bytes memory sigGw = signForGateway(ts);
        QiaoEndpoint.Transfer[] memory asIfToVault = one(ts[0]);
        asIfToVault[0].dstChainId = CHAIN_C;
        vm.chainId(CHAIN_C);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        vault.executeBatch(EPOCH, pack(asIfToVault), sigGw);
    }

    function test_execute_rejectsSignatureForAnotherKeyEpoch() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signFor(GROUP_SK, address(gateway), CHAIN_E, 2, ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_execute_rejectsSignatureOverOtherTransferFields() public {
        // The signature binds every field: change the amount, recipient or sender and it fails.
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        ts[0].amount = 2 ether;
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        ts[0].amount = 1 ether;
        ts[0].recipient = carol;
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        ts[0].recipient = bob;
        ts[0].sender = carol;
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        ts[0].sender = alice;
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.balanceOf(bob), 1 ether);
    }

    function test_execute_rejectsReorderedBatch() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(2);
        bytes memory sig = signForGateway(ts);
        // Swap the transfers but keep the nonces in order: the leaves change, so the root does.
        (ts[0].amount, ts[1].amount) = (ts[1].amount, ts[0].amount);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_execute_rejectsSubsetOfSignedBatch() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(3);
        bytes memory sig = signForGateway(ts);
        QiaoEndpoint.Transfer[] memory firstTwo = new QiaoEndpoint.Transfer[](2);
        firstTwo[0] = ts[0];
        firstTwo[1] = ts[1];
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(firstTwo), sig);
    }

    // ---------------------------------------------------------------- replay

    function test_execute_rejectsReplay() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _oneSignedForGateway();
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.BatchAlreadyExecuted.selector, CHAIN_C, 1, 1));
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.balanceOf(bob), 1 ether);
    }

    function test_execute_overlappingBatchSkipsWhatWasExecuted() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(3);
        QiaoEndpoint.Transfer[] memory a = new QiaoEndpoint.Transfer[](2);
        a[0] = ts[0];
        a[1] = ts[1];
        QiaoEndpoint.Transfer[] memory b = new QiaoEndpoint.Transfer[](2);
        b[0] = ts[1];
        b[1] = ts[2];
        executeOnE(a, signForGateway(a));
        bytes memory sigB = signForGateway(b);
        vm.chainId(CHAIN_E);
        gateway.executeBatch(EPOCH, pack(b), sigB);
        // Nonce 2 is delivered once only (2 ether), nonce 3 now (3 ether).
        vm.assertEq(wrapped.balanceOf(bob), 6 ether);
        vm.assertTrue(gateway.isExecuted(CHAIN_C, 3));
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.BatchAlreadyExecuted.selector, CHAIN_C, 2, 3));
        gateway.executeBatch(EPOCH, pack(b), sigB);
    }

    // ---------------------------------------------------------------- key epochs

    function test_execute_rejectsUnknownEpoch() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        bytes memory sig = signFor(GROUP_SK, address(gateway), CHAIN_E, 2, ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnknownKeyEpoch.selector, 2));
        gateway.executeBatch(2, pack(ts), sig);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnknownKeyEpoch.selector, 0));
        gateway.executeBatch(0, pack(ts), sig);
    }

    // ---------------------------------------------------------------- batch shape

    function test_execute_rejectsEmptyBatch() public {
        vm.chainId(CHAIN_E);
        QiaoEndpoint.Transfer[] memory none = new QiaoEndpoint.Transfer[](0);
        bytes memory sig = blsSign(GROUP_SK, bytes32(0));
        vm.expectRevert(QiaoEndpoint.EmptyBatch.selector);
        gateway.executeBatch(EPOCH, pack(none), sig);
        vm.expectRevert(QiaoEndpoint.EmptyBatch.selector);
        gateway.batchMessage(EPOCH, pack(none));
    }

    function test_execute_gapReorderOrDuplicateHasNoPackedForm_andItsSignatureFails() public {
        // Nonces are implied (firstNonce + i): whatever a batch with a gap, in reverse or with a
        // duplicate was signed as, the contract rebuilds the contiguous batch and the signature fails.
        QiaoEndpoint.Transfer[] memory ts = lockMany(3);
        QiaoEndpoint.Transfer[] memory gap = new QiaoEndpoint.Transfer[](2);
        gap[0] = ts[0];
        gap[1] = ts[2];
        QiaoEndpoint.Transfer[] memory reversed = new QiaoEndpoint.Transfer[](2);
        reversed[0] = ts[1];
        reversed[1] = ts[0];
        QiaoEndpoint.Transfer[] memory dup = new QiaoEndpoint.Transfer[](2);
        dup[0] = ts[0];
        dup[1] = ts[0];
        QiaoEndpoint.Transfer[][3] memory shapes = [gap, reversed, dup];
        for (uint256 s; s < shapes.length; ++s) {
            bytes memory sig = signForGateway(shapes[s]);
            vm.chainId(CHAIN_E);
            vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
            gateway.executeBatch(EPOCH, pack(shapes[s]), sig);
        }
        _assertNothingExecuted(ts);
    }

    function test_execute_rejectsZeroNonce() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        ts[0].nonce = 0;
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.ZeroNonce.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.expectRevert(QiaoEndpoint.ZeroNonce.selector);
        gateway.batchMessage(EPOCH, pack(ts));
    }

    function test_execute_rejectsNonceRangePastUint64() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(2);
        ts[0].nonce = type(uint64).max; // the second transfer would be nonce 2^64
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NonceRangeOverflow.selector, type(uint64).max, 2));
        gateway.executeBatch(EPOCH, pack(ts), G1_GENERATOR);
        // one transfer at the last nonce is a valid range
        QiaoEndpoint.Transfer[] memory last = one(ts[0]);
        vm.assertEq(
            gateway.batchMessage(EPOCH, pack(last)), refMessage(CHAIN_C, CHAIN_E, address(gateway), EPOCH, last)
        );
    }

    function test_execute_mixedSourceChainsHaveNoPackedForm() public {
        // One source chain per batch, in the header: a transfer signed as coming from chain 5 is
        // rebuilt as coming from the header's chain, and the signature fails.
        QiaoEndpoint.Transfer[] memory ts = lockMany(2);
        ts[1].srcChainId = 5;
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_execute_rejectsWrongDstChainId() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(2);
        // The whole batch for another chain, submitted here.
        ts[0].dstChainId = 999;
        ts[1].dstChainId = 999;
        bytes memory sig = signFor(GROUP_SK, address(gateway), 999, EPOCH, ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.WrongDestinationChain.selector, 0, 999));
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.WrongDestinationChain.selector, 0, 999));
        gateway.batchMessage(EPOCH, pack(ts));
        // A zero destination chain id.
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        b.dstChainId = 0;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.WrongDestinationChain.selector, 0, 0));
        gateway.executeBatch(EPOCH, b, sig);
        // The same batch when this chain's id is different (a fork): refused too.
        ts[0].dstChainId = CHAIN_E;
        ts[1].dstChainId = CHAIN_E;
        sig = signForGateway(ts);
        vm.chainId(CHAIN_E + 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.WrongDestinationChain.selector, 0, CHAIN_E));
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    // ---------------------------------------------------------------- transfer fields

    function test_execute_rejectsZeroAmount() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(2);
        ts[1].amount = 0;
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TransferZeroAmount.selector, CHAIN_C, 2));
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_execute_rejectsZeroRecipient() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(2);
        ts[0].recipient = address(0);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TransferZeroRecipient.selector, CHAIN_C, 1));
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_execute_unregisteredTokenPairIsRecordedFailedNotReverted() public {
        address stranger = address(new TestAsset("S", "S", owner));
        // Unknown source token; a destination token other than its pair; a zero destination
        // token; the right pair from a source chain it is not registered for. Each signed, each
        // recorded as failed (reason UnregisteredTokenPair), nothing minted.
        for (uint256 k; k < 4; ++k) {
            QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
            if (k == 0) ts[0].srcToken = stranger;
            if (k == 1) ts[0].dstToken = stranger;
            if (k == 2) ts[0].dstToken = address(0);
            if (k == 3) ts[0].srcChainId = 5;
            bytes memory sig = signForGateway(ts);
            vm.chainId(CHAIN_E);
            vm.expectEmit(address(gateway));
            emit QiaoEndpoint.TransferFailed(
                ts[0].srcChainId, ts[0].nonce, QiaoEndpoint.FailureReason.UnregisteredTokenPair
            );
            gateway.executeBatch(EPOCH, pack(ts), sig);
            vm.assertEq(
                uint8(gateway.transferStatus(ts[0].srcChainId, ts[0].nonce)), uint8(QiaoEndpoint.TransferStatus.Failed)
            );
            vm.assertEq(wrapped.totalSupply(), 0);
        }
    }

    // ---------------------------------------------------------------- atomicity and reentrancy

    function test_execute_aDeliveryTheVaultCannotPayIsRecordedFailed_theOthersGoOn() public {
        // The vault holds 1 ether but a (validly signed) batch asks it to pay 1 + 5 ether: the
        // asset's transfer of 5 reverts (insufficient balance), which is recorded as a refused
        // delivery; the first is paid, the batch does not revert.
        lockOnC(alice, bob, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        for (uint256 i; i < 2; ++i) {
            ts[i] = QiaoEndpoint.Transfer({
                srcChainId: CHAIN_E,
                dstChainId: CHAIN_C,
                // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
                nonce: uint64(i + 1),
                srcToken: address(wrapped),
                dstToken: address(asset),
                sender: bob,
                recipient: carol,
                amount: i == 0 ? 1 ether : 5 ether
            });
        }
        bytes memory sig = signForVault(ts);
        vm.chainId(CHAIN_C);
        vm.expectEmit(address(vault));
        emit QiaoEndpoint.TransferFailed(CHAIN_E, 2, QiaoEndpoint.FailureReason.DeliveryRefused);
        vault.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(uint8(vault.transferStatus(CHAIN_E, 1)), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.assertEq(uint8(vault.transferStatus(CHAIN_E, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(asset.balanceOf(carol), 1 ether);
        vm.assertEq(asset.balanceOf(address(vault)), 0);
    }

    function test_execute_reentrancyIsRefused() public {
        ReentrantToken re = new ReentrantToken();
        address remote = address(0xBEEF);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(re), remote);
        // forge-lint: disable-next-line(erc20-unchecked-transfer) -- OpenZeppelin ERC20 reverts on failure
        re.transfer(address(vault), 10 ether);

        QiaoEndpoint.Transfer[] memory ts = one(
            QiaoEndpoint.Transfer({
                srcChainId: CHAIN_E,
                dstChainId: CHAIN_C,
                nonce: 1,
                srcToken: remote,
                dstToken: address(re),
                sender: bob,
                recipient: carol,
                amount: 4 ether
            })
        );
        bytes memory sig = signForVault(ts);
        re.arm(vault, abi.encodeCall(QiaoEndpoint.executeBatch, (1, pack(ts), sig)));
        vm.chainId(CHAIN_C);
        vault.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(re.balanceOf(carol), 4 ether);
        vm.assertEq(re.reentryError(), abi.encodeWithSelector(ReentrancyGuard.ReentrancyGuardReentrantCall.selector));
        vm.assertTrue(vault.isExecuted(CHAIN_E, 1));
    }

    // ---------------------------------------------------------------- lock

    function test_lock_rejectsZeroAmount() public {
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        vm.expectRevert(QiaoEndpoint.ZeroAmount.selector);
        vault.lock(address(asset), CHAIN_E, bob, 0);
    }

    function test_lock_rejectsZeroRecipient() public {
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        vm.expectRevert(QiaoEndpoint.ZeroRecipient.selector);
        vault.lock(address(asset), CHAIN_E, address(0), 1 ether);
    }

    function test_lock_rejectsUnregisteredToken() public {
        TestAsset other = new TestAsset("O", "O", owner);
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnregisteredToken.selector, CHAIN_E, address(other)));
        vault.lock(address(other), CHAIN_E, bob, 1 ether);
        // Registered token, but toward a chain it is not registered for.
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnregisteredToken.selector, 5, address(asset)));
        vault.lock(address(asset), 5, bob, 1 ether);
    }

    function test_lock_rejectsCodelessToken() public {
        address codeless = address(0xC0DE1E55);
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnregisteredToken.selector, CHAIN_E, codeless));
        vault.lock(codeless, CHAIN_E, bob, 1 ether);
    }

    function test_lock_rejectsFeeOnTransferToken() public {
        FeeToken fee = new FeeToken();
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(fee), address(0xFEEE));
        allowBoth(address(this));
        fee.approve(address(vault), 100 ether);
        vm.expectRevert(abi.encodeWithSelector(QiaoVault.TransferAmountMismatch.selector, 100 ether, 99 ether));
        vault.lock(address(fee), CHAIN_E, bob, 100 ether);
        vm.assertEq(vault.nextNonce(CHAIN_E), 1);
    }

    function test_lock_rejectsWithoutAllowance() public {
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        asset.mint(carol, 1 ether);
        vm.prank(carol);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientAllowance.selector, address(vault), 0, 1 ether)
        );
        vault.lock(address(asset), CHAIN_E, bob, 1 ether);
    }

    function testFuzz_lock_amounts(uint256 amount) public {
        amount = bound(amount, 1, 1_000_000 ether);
        uint256 before = asset.balanceOf(alice);
        QiaoEndpoint.Transfer memory t = lockOnC(alice, bob, amount);
        vm.assertEq(t.nonce, 1);
        vm.assertEq(asset.balanceOf(address(vault)), amount);
        vm.assertEq(asset.balanceOf(alice), before - amount);
    }

    function testFuzz_lock_rejectsMoreThanBalance(uint256 amount) public {
        amount = bound(amount, 1_000_000 ether + 1, type(uint128).max);
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, alice, 1_000_000 ether, amount)
        );
        vault.lock(address(asset), CHAIN_E, bob, amount);
    }

    // ---------------------------------------------------------------- burn

    function _mintToBob(uint256 amount) internal {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, amount));
        executeOnE(ts, signForGateway(ts));
    }

    function test_burn_rejectsZeroAmount() public {
        _mintToBob(1 ether);
        vm.prank(bob);
        vm.expectRevert(QiaoEndpoint.ZeroAmount.selector);
        gateway.burn(address(wrapped), CHAIN_C, carol, 0);
    }

    function test_burn_rejectsZeroRecipient() public {
        _mintToBob(1 ether);
        vm.prank(bob);
        vm.expectRevert(QiaoEndpoint.ZeroRecipient.selector);
        gateway.burn(address(wrapped), CHAIN_C, address(0), 1 ether);
    }

    function test_burn_rejectsUnregisteredToken() public {
        _mintToBob(1 ether);
        WrappedToken other = new WrappedToken("X", "X", address(gateway), registryE, owner);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnregisteredToken.selector, CHAIN_C, address(other)));
        gateway.burn(address(other), CHAIN_C, carol, 1 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnregisteredToken.selector, 5, address(wrapped)));
        gateway.burn(address(wrapped), 5, carol, 1 ether);
    }

    function test_burn_rejectsMoreThanBalance() public {
        _mintToBob(1 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, bob, 1 ether, 2 ether));
        gateway.burn(address(wrapped), CHAIN_C, carol, 2 ether);
        vm.assertEq(gateway.nextNonce(CHAIN_C), 1);
    }

    // ---------------------------------------------------------------- registration

    function test_register_onlyOwner() public {
        TestAsset other = new TestAsset("O", "O", owner);
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        vault.registerToken(CHAIN_E, address(other), address(0x1234));
    }

    function test_register_rejectsInvalidRemoteChain() public {
        TestAsset other = new TestAsset("O", "O", owner);
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidRemoteChain.selector, 0));
        vault.registerToken(0, address(other), address(0x1234));
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidRemoteChain.selector, CHAIN_C));
        vault.registerToken(CHAIN_C, address(other), address(0x1234));
        vm.stopPrank();
    }

    function test_register_rejectsZeroAddresses() public {
        TestAsset other = new TestAsset("O", "O", owner);
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        vm.expectRevert(QiaoEndpoint.ZeroTokenAddress.selector);
        vault.registerToken(CHAIN_E, address(0), address(0x1234));
        vm.expectRevert(QiaoEndpoint.ZeroTokenAddress.selector);
        vault.registerToken(CHAIN_E, address(other), address(0));
        vm.stopPrank();
    }

    function test_register_rejectsCodelessLocalToken() public {
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TokenHasNoCode.selector, address(0xC0DE1E55)));
        vault.registerToken(CHAIN_E, address(0xC0DE1E55), address(0x1234));
    }

    function test_register_rejectsAlreadyRegistered() public {
        TestAsset other = new TestAsset("O", "O", owner);
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        // Local token already paired.
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TokenAlreadyRegistered.selector, CHAIN_E, address(asset)));
        vault.registerToken(CHAIN_E, address(asset), address(0x1234));
        // Remote token already paired.
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TokenAlreadyRegistered.selector, CHAIN_E, address(wrapped)));
        vault.registerToken(CHAIN_E, address(other), address(wrapped));
        // The same pair toward another chain is a different route and is fine.
        vault.registerToken(77, address(asset), address(wrapped));
        vm.stopPrank();
        vm.assertEq(vault.remoteTokenOf(CHAIN_E, address(asset)), address(wrapped));
        vm.assertEq(vault.remoteTokenOf(77, address(asset)), address(wrapped));
    }

    function test_register_emitsEvent() public {
        TestAsset other = new TestAsset("O", "O", owner);
        vm.chainId(CHAIN_C);
        vm.expectEmit(address(vault));
        emit QiaoEndpoint.TokenRegistered(CHAIN_E, address(other), address(0x1234));
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(other), address(0x1234));
    }

    function test_gatewayRegister_rejectsForeignTokens() public {
        vm.chainId(CHAIN_E);
        TestAsset plain = new TestAsset("P", "P", owner);
        WrappedToken foreign = new WrappedToken("F", "F", address(0xF0), registryE, owner);
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(QiaoGateway.NotGatewayToken.selector, address(plain)));
        gateway.registerToken(CHAIN_C, address(plain), address(0x1234));
        vm.expectRevert(abi.encodeWithSelector(QiaoGateway.NotGatewayToken.selector, address(foreign)));
        gateway.registerToken(CHAIN_C, address(foreign), address(0x1234));
        vm.stopPrank();
    }

    function test_ownership_isTwoStep() public {
        vm.prank(owner);
        vault.transferOwnership(carol);
        vm.assertEq(vault.owner(), owner);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, bob));
        vault.acceptOwnership();
        vm.prank(carol);
        vault.acceptOwnership();
        vm.assertEq(vault.owner(), carol);
    }

    // ---------------------------------------------------------------- deployment

    function test_deploy_rejectsIdentityKey() public {
        vm.expectRevert(BLS.BLSIdentityPublicKey.selector);
        newVault(new bytes(256));
        vm.expectRevert(BLS.BLSIdentityPublicKey.selector);
        newGateway(new bytes(256));
    }

    function test_deploy_rejectsWrongKeyLength() public {
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidPublicKeyLength.selector, 96));
        newVault(new bytes(96));
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidPublicKeyLength.selector, 0));
        newGateway("");
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidPublicKeyLength.selector, 128));
        newGateway(G1_GENERATOR);
    }

    function test_deploy_rejectsKeyNotOnCurveOrNotInSubgroup() public {
        bytes memory bad = blsPublicKey(GROUP_SK);
        bad[255] = bytes1(uint8(bad[255]) ^ 1);
        vm.expectRevert(BLS.BLSInvalidPublicKey.selector);
        newVault(bad);
        vm.expectRevert(BLS.BLSInvalidPublicKey.selector);
        newGateway(G2_NOT_IN_SUBGROUP);
    }

    function test_deploy_rejectsZeroOwner() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableInvalidOwner.selector, address(0)));
        new QiaoVault(address(0), guardian, groupPk, registryC, ACTION_DELAY);
    }

    // ---------------------------------------------------------------- tokens

    function test_wrapped_onlyGatewayMintsAndBurns() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, alice));
        wrapped.mint(alice, 1);
        _mintToBob(1 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, bob));
        wrapped.burn(bob, 1);
    }

    function test_wrapped_rejectsZeroGateway() public {
        vm.expectRevert(WrappedToken.ZeroGateway.selector);
        new WrappedToken("W", "W", address(0), registryE, owner);
    }

    function test_testAsset_onlyOwnerMints() public {
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice));
        asset.mint(alice, 1);
    }
}
