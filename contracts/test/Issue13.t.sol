// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Vm} from "./lib/Vm.sol";
import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {IssuerModule} from "../src/endpoint/IssuerModule.sol";
import {WrappedToken} from "../src/WrappedToken.sol";
import {TestAsset} from "../src/TestAsset.sol";
import {RestrictedTestAsset} from "../src/RestrictedTestAsset.sol";
import {QiaoVault} from "../src/QiaoVault.sol";
import {QiaoGateway} from "../src/QiaoGateway.sol";

/// @dev An ERC-20 whose transfer returns false instead of reverting (for a blocked recipient).
contract FalseReturningToken is ERC20 {
    mapping(address account => bool refused) public refused;

    constructor() ERC20("False", "FLS") {
        _mint(msg.sender, 1_000_000 ether);
    }

    function refuse(address account) external {
        refused[account] = true;
    }

    function transfer(address to, uint256 value) public override returns (bool) {
        if (refused[to]) return false;
        return super.transfer(to, value);
    }
}

/// @dev An ERC-20 whose transfer returns nothing (USDT style): accepted like SafeERC20 does.
contract NoReturnToken {
    mapping(address account => uint256 balance) public balanceOf;

    constructor() {
        balanceOf[msg.sender] = 1_000_000 ether;
    }

    function transfer(address to, uint256 value) external {
        balanceOf[msg.sender] -= value;
        balanceOf[to] += value;
    }
}

/// @dev A token whose transfer burns all the gas it is given.
contract GasBurnerToken {
    function transfer(address, uint256) external pure returns (bool) {
        while (true) {}
        return true;
    }
}

/// @notice Issue 13, points 1, 2 and 6: each test is named after the attack (or hazard) it stops.
///         Written against the code before the fix, where each of them failed.
contract Issue13Test is SignedActions {
    bytes32 internal constant FAILED_TOPIC = keccak256("TransferFailed(uint256,uint64,uint8)");
    uint8 internal constant REASON_DELIVERY_REFUSED = 3;
    uint8 internal constant REASON_UNREGISTERED_PAIR = 4;

    address internal dave = address(0xDA7E); // on C's allow-list only
    address internal mallory = address(0x3A11); // on no allow-list

    function setUp() public override {
        super.setUp();
        vm.prank(owner);
        registryC.setAllowed(dave, true);
    }

    // ---------------------------------------------------------------- helpers

    /// @dev The reason of the TransferFailed of (srcChainId, nonce) among `logs`; 255 if none.
    function reasonOf(Vm.Log[] memory logs, uint256 srcChainId, uint64 nonce) internal pure returns (uint8) {
        for (uint256 i; i < logs.length; ++i) {
            if (
                logs[i].topics.length == 3 && logs[i].topics[0] == FAILED_TOPIC
                    && logs[i].topics[1] == bytes32(srcChainId) && logs[i].topics[2] == bytes32(uint256(nonce))
            ) return uint8(uint256(bytes32(logs[i].data)));
        }
        return 255;
    }

    /// @dev A C -> E lock toward `dave`, who is not allowed on E: it fails there (honestly).
    function failedLockOnE(uint256 amount) internal returns (QiaoEndpoint.Transfer memory t) {
        t = lockOnC(alice, dave, amount);
        executeOnE(one(t), signForGateway(one(t)));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, t.nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
    }

    function mintTo(address who, uint256 amount) internal {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, who, amount));
        executeOnE(ts, signForGateway(ts));
    }

    // ---------------------------------------------------------------- 1. refunds bound to what was locked

    /// A holder of the group key refunds an honest failed nonce with a larger amount.
    function test_refundOfHonestNonceWithForgedAmount_isRefused() public {
        QiaoEndpoint.Transfer memory t = failedLockOnE(1 ether);
        lockOnC(alice, bob, 100 ether); // other users' funds in the vault
        QiaoEndpoint.Transfer memory u = cp(t);
        u.amount = 100 ether;
        bytes memory sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, u);
        vm.chainId(CHAIN_C);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_E, t.nonce));
        vault.refund(EPOCH, u, sig);
        vm.assertEq(asset.balanceOf(address(vault)), 101 ether);
    }

    /// A holder of the group key refunds an honest failed nonce to itself (not even allowed).
    function test_refundOfForgedSender_isRefused() public {
        QiaoEndpoint.Transfer memory t = failedLockOnE(5 ether);
        QiaoEndpoint.Transfer memory u = cp(t);
        u.sender = mallory;
        bytes memory sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, u);
        vm.chainId(CHAIN_C);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_E, t.nonce));
        vault.refund(EPOCH, u, sig);
        vm.assertEq(asset.balanceOf(mallory), 0);
    }

    /// A holder of the group key refunds a burn on Ethereum with an inflated amount: wrapped
    /// supply would exceed what the vault holds.
    function test_refundOnGatewayOfForgedAmount_cannotMintUnbackedWrappedSupply() public {
        mintTo(bob, 2 ether);
        QiaoEndpoint.Transfer memory t = burnOnE(bob, carol, 1 ether);
        QiaoEndpoint.Transfer memory u = cp(t);
        u.amount = 1000 ether;
        bytes memory sig = signRefund(GROUP_SK, gateway, CHAIN_E, EPOCH, u);
        vm.chainId(CHAIN_E);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_C, t.nonce));
        gateway.refund(EPOCH, u, sig);
        vm.assertTrue(wrapped.totalSupply() <= asset.balanceOf(address(vault)));
    }

    /// A 10-unit inbound limit stops a 1,000-unit batch; it must stop a 1,000-unit refund too.
    function test_refundBypassesInboundRateLimit_isRefused() public {
        QiaoEndpoint.Transfer memory t = failedLockOnE(1000 ether);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Inbound, 10 ether, 0);
        bytes memory sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, t);
        vm.expectRevert(
            abi.encodeWithSelector(
                QiaoEndpoint.RateLimited.selector, address(asset), QiaoEndpoint.Direction.Inbound, 10 ether, 1000 ether
            )
        );
        vault.refund(EPOCH, t, sig);
        vm.assertFalse(vault.isRefunded(CHAIN_E, t.nonce));
    }

    /// The outbound charge of a transfer that failed is given back when it is refunded.
    function test_refundGivesBackTheOutboundChargeOfTheFailedTransfer() public {
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Outbound, 100 ether, 0);
        QiaoEndpoint.Transfer memory t = failedLockOnE(100 ether);
        vm.chainId(CHAIN_C);
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Outbound), 0);
        vault.refund(EPOCH, t, signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, t));
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Outbound), 100 ether);
    }

    /// The vault paid a refund to a sender frozen on C (the gateway refused one): it must refuse
    /// it like the gateway, and pay once the sender is allowed again.
    function test_refundToFrozenSenderOnVault_isRefusedUntilAllowedAgain() public {
        QiaoEndpoint.Transfer memory t = failedLockOnE(3 ether);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        registryC.setFrozen(alice, true);
        bytes memory sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, t);
        uint256 before = asset.balanceOf(alice);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotAllowed.selector, alice));
        vault.refund(EPOCH, t, sig);
        vm.assertFalse(vault.isRefunded(CHAIN_E, t.nonce));
        vm.prank(owner);
        registryC.setFrozen(alice, false);
        vault.refund(EPOCH, t, sig);
        vm.assertEq(asset.balanceOf(alice), before + 3 ether);
    }

    // ---------------------------------------------------------------- 2. one refused delivery

    /// An asset that refuses one recipient (ERC-3643 style) reverted the whole E -> C batch.
    function test_oneRefusedRecipientDoesNotRevertVaultBatch() public {
        RestrictedTestAsset rasset = new RestrictedTestAsset("Restricted", "RST", owner);
        vm.chainId(CHAIN_E);
        WrappedToken rwrapped = new WrappedToken("wRST", "wRST", address(gateway), registryE, owner);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(rasset), address(rwrapped));
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.registerToken(CHAIN_C, address(rwrapped), address(rasset));
        vm.startPrank(owner);
        rasset.mint(alice, 10 ether);
        vm.stopPrank();
        vm.prank(alice);
        rasset.approve(address(vault), type(uint256).max);

        // C -> E: 10 locked, minted to bob
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        uint64 n = vault.lock(address(rasset), CHAIN_E, bob, 10 ether);
        QiaoEndpoint.Transfer[] memory up =
            one(QiaoEndpoint.Transfer(CHAIN_C, CHAIN_E, n, address(rasset), address(rwrapped), alice, bob, 10 ether));
        executeOnE(up, signForGateway(up));

        // E -> C: ten burns to ten recipients allowed on C; the asset refuses the fourth
        QiaoEndpoint.Transfer[] memory back = new QiaoEndpoint.Transfer[](10);
        for (uint256 i; i < 10; ++i) {
            address to = address(uint160(0x1000 + i));
            vm.prank(owner);
            registryC.setAllowed(to, true);
            vm.chainId(CHAIN_E);
            vm.prank(bob);
            uint64 nonce = gateway.burn(address(rwrapped), CHAIN_C, to, 1 ether);
            back[i] =
                QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, nonce, address(rwrapped), address(rasset), bob, to, 1 ether);
        }
        vm.prank(owner);
        rasset.setBlocked(back[3].recipient, true);
        bytes memory sig = signForVault(back);
        vm.chainId(CHAIN_C);
        vm.recordLogs();
        vault.executeBatch(EPOCH, pack(back), sig);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < 10; ++i) {
            if (i == 3) continue;
            vm.assertEq(rasset.balanceOf(back[i].recipient), 1 ether);
            vm.assertEq(
                uint8(vault.transferStatus(CHAIN_E, back[i].nonce)), uint8(QiaoEndpoint.TransferStatus.Delivered)
            );
        }
        vm.assertEq(rasset.balanceOf(back[3].recipient), 0);
        vm.assertEq(uint8(vault.transferStatus(CHAIN_E, back[3].nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(reasonOf(logs, CHAIN_E, back[3].nonce), REASON_DELIVERY_REFUSED);

        // ... and refunded on Ethereum: supply stays backed
        vm.chainId(CHAIN_E);
        gateway.refund(EPOCH, back[3], signRefund(GROUP_SK, gateway, CHAIN_E, EPOCH, back[3]));
        vm.assertEq(rwrapped.balanceOf(bob), 1 ether);
        vm.assertEq(rwrapped.totalSupply(), rasset.balanceOf(address(vault)));
    }

    /// A token whose transfer returns false (no revert) for one recipient.
    function test_tokenReturningFalseForOneRecipientRecordsFailedNotARevert() public {
        FalseReturningToken ft = new FalseReturningToken();
        address remote = address(0xF00D);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(ft), remote);
        // forge-lint: disable-next-line(erc20-unchecked-transfer) -- OpenZeppelin ERC20 reverts on failure
        ft.transfer(address(vault), 10 ether);
        ft.refuse(carol);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 1, remote, address(ft), bob, carol, 1 ether);
        ts[1] = QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 2, remote, address(ft), bob, bob, 2 ether);
        bytes memory sig = signForVault(ts);
        vm.chainId(CHAIN_C);
        vm.recordLogs();
        vault.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(reasonOf(vm.getRecordedLogs(), CHAIN_E, 1), REASON_DELIVERY_REFUSED);
        vm.assertEq(ft.balanceOf(carol), 0);
        vm.assertEq(ft.balanceOf(bob), 2 ether);
    }

    /// A transfer whose token pair is not registered on the destination reverted the whole batch
    /// (and executeTransfer): it must be recorded as failed, then refunded on its source.
    function test_missingPairRecordsFailed() public {
        TestAsset orphan = new TestAsset("Orphan", "ORP", owner);
        address nowhere = address(0x0123); // never registered on the gateway
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        vault.registerToken(CHAIN_E, address(orphan), nowhere);
        orphan.mint(alice, 10 ether);
        vm.stopPrank();
        vm.prank(alice);
        orphan.approve(address(vault), type(uint256).max);

        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        ts[0] = lockOnC(alice, bob, 1 ether);
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        uint64 n = vault.lock(address(orphan), CHAIN_E, bob, 4 ether);
        ts[1] = QiaoEndpoint.Transfer(CHAIN_C, CHAIN_E, n, address(orphan), nowhere, alice, bob, 4 ether);
        ts[2] = lockOnC(alice, carol, 2 ether);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.recordLogs();
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(reasonOf(vm.getRecordedLogs(), CHAIN_C, n), REASON_UNREGISTERED_PAIR);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, n)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(wrapped.balanceOf(bob), 1 ether);
        vm.assertEq(wrapped.balanceOf(carol), 2 ether);

        // refunded on C, once
        vm.chainId(CHAIN_C);
        uint256 before = orphan.balanceOf(alice);
        vault.refund(EPOCH, ts[1], signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, ts[1]));
        vm.assertEq(orphan.balanceOf(alice), before + 4 ether);
    }

    /// The same with a batch of that one pair, and with executeTransfer.
    function test_missingPairRecordsFailed_aloneAndByExecuteTransfer() public {
        TestAsset orphan = new TestAsset("Orphan", "ORP", owner);
        address nowhere = address(0x0123);
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        vault.registerToken(CHAIN_E, address(orphan), nowhere);
        orphan.mint(alice, 10 ether);
        vm.stopPrank();
        vm.prank(alice);
        orphan.approve(address(vault), type(uint256).max);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        for (uint256 i; i < 2; ++i) {
            vm.chainId(CHAIN_C);
            vm.prank(alice);
            uint64 n = vault.lock(address(orphan), CHAIN_E, bob, 1 ether);
            ts[i] = QiaoEndpoint.Transfer(CHAIN_C, CHAIN_E, n, address(orphan), nowhere, alice, bob, 1 ether);
        }
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.recordLogs();
        gateway.executeTransfer(EPOCH, ts[0], 1, 2, refProof(leavesOf(ts), 0), sig);
        vm.assertEq(reasonOf(vm.getRecordedLogs(), CHAIN_C, 1), REASON_UNREGISTERED_PAIR);
        vm.recordLogs();
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(reasonOf(vm.getRecordedLogs(), CHAIN_C, 2), REASON_UNREGISTERED_PAIR);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
    }

    // ---------------------------------------------------------------- 6. configuration hazards

    /// The committee key carries an unfreeze from C: it must not lift Ethereum's own compliance freeze.
    function test_bridgeUnfreezeDoesNotLiftComplianceFreeze() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        registryE.setFrozen(bob, true); // Ethereum's compliance desk
        bytes32 freezeType = gateway.FREEZE_TYPEHASH();
        IssuerModule(address(gateway)).applyFreeze(
            EPOCH, bob, false, signAction(GROUP_SK, gateway, CHAIN_E, freezeType, EPOCH, abi.encode(bob, false))
        );
        vm.assertFalse(registryE.isAllowed(bob));
        (, bool frozen) = registryE.statusOf(bob);
        vm.assertTrue(frozen);
    }

    /// Renouncing ownership would strand a transfer queued behind a bucket without refill (only
    /// the owner can change the limit).
    function test_renounceOwnershipCannotStrandQueue() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 10 ether, 0);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = lockOnC(alice, bob, 8 ether);
        ts[1] = lockOnC(alice, bob, 5 ether);
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.prank(owner);
        vm.expectRevert(bytes4(keccak256("OwnershipCannotBeRenounced()")));
        gateway.renounceOwnership();
        vm.assertEq(gateway.owner(), owner);
    }

    /// One wrapped token paired with assets on two remote chains: tokens minted from one chain
    /// could unlock the other chain's vault.
    function test_oneWrappedTokenPairedWithTwoRemoteChains_isRefused() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        vm.expectRevert(
            abi.encodeWithSelector(
                bytes4(keccak256("TokenPairedWithAnotherChain(address,uint256)")), address(wrapped), CHAIN_C
            )
        );
        gateway.registerToken(77, address(wrapped), address(0x7777));
        vm.assertEq(gateway.remoteTokenOf(77, address(wrapped)), address(0));
    }

    // ---------------------------------------------------------------- after the fix: the rules around them

    function test_refundToFrozenSenderOnGateway_isRefusedWithTheSameErrorUntilUnfrozen() public {
        mintTo(bob, 3 ether);
        QiaoEndpoint.Transfer[] memory back = one(burnOnE(bob, mallory, 2 ether)); // not allowed on C
        executeOnC(back, signForVault(back));
        vm.assertEq(uint8(vault.transferStatus(CHAIN_E, 1)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        registryE.setFrozen(bob, true);
        bytes memory sig = signRefund(GROUP_SK, gateway, CHAIN_E, EPOCH, back[0]);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotAllowed.selector, bob));
        gateway.refund(EPOCH, back[0], sig);
        vm.prank(owner);
        registryE.setFrozen(bob, false);
        gateway.refund(EPOCH, back[0], sig);
        vm.assertEq(wrapped.balanceOf(bob), 3 ether);
        vm.assertEq(wrapped.totalSupply(), asset.balanceOf(address(vault)));
    }

    function test_refundWaitsForTheInboundBucket_andIsChargedToIt() public {
        QiaoEndpoint.Transfer memory a = failedLockOnE(6 ether);
        QiaoEndpoint.Transfer memory b = failedLockOnE(6 ether);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.setRateLimit(address(asset), QiaoEndpoint.Direction.Inbound, 10 ether, 1 ether);
        vault.refund(EPOCH, a, signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, a));
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Inbound), 4 ether);
        bytes memory sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, b);
        vm.expectRevert(
            abi.encodeWithSelector(
                QiaoEndpoint.RateLimited.selector, address(asset), QiaoEndpoint.Direction.Inbound, 4 ether, 6 ether
            )
        );
        vault.refund(EPOCH, b, sig);
        vm.warp(block.timestamp + 2);
        vault.refund(EPOCH, b, sig); // the same signature, once the bucket has room
        vm.assertTrue(vault.isRefunded(CHAIN_E, b.nonce));
        vm.assertEq(vault.availableCapacity(address(asset), QiaoEndpoint.Direction.Inbound), 0);
    }

    function test_refundOfANonceInitiatedTowardAnotherChain_isRefused() public {
        QiaoEndpoint.Transfer memory t = failedLockOnE(1 ether);
        QiaoEndpoint.Transfer memory u = cp(t);
        u.dstChainId = 77; // nonce 1 toward 77 was never assigned
        vm.chainId(CHAIN_C);
        bytes memory sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, u);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, 77, 1));
        vault.refund(EPOCH, u, sig);
        u = cp(t);
        u.recipient = bob; // another recipient than the one locked for
        sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, u);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotRefundable.selector, CHAIN_E, 1));
        vault.refund(EPOCH, u, sig);
    }

    function test_vaultBatch_eachFailureKeepsItsOwnReason() public {
        FalseReturningToken ft = new FalseReturningToken();
        address remote = address(0xF00D);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(ft), remote);
        // forge-lint: disable-next-line(erc20-unchecked-transfer) -- OpenZeppelin ERC20 reverts on failure
        ft.transfer(address(vault), 10 ether);
        ft.refuse(carol);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        ts[0] = QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 1, remote, address(ft), bob, carol, 1 ether); // refused
        ts[1] = QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 2, remote, address(ft), bob, mallory, 1 ether); // not allowed
        ts[2] = QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 3, remote, address(ft), bob, bob, 1 ether);
        bytes memory sig = signForVault(ts);
        vm.chainId(CHAIN_C);
        vm.recordLogs();
        vault.executeBatch(EPOCH, pack(ts), sig);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(reasonOf(logs, CHAIN_E, 1), REASON_DELIVERY_REFUSED);
        vm.assertEq(reasonOf(logs, CHAIN_E, 2), uint8(QiaoEndpoint.FailureReason.RecipientNotAllowed));
        vm.assertEq(reasonOf(logs, CHAIN_E, 3), 255); // delivered
        vm.assertEq(ft.balanceOf(bob), 1 ether);
        // executeTransfer-style single delivery (the rate-limited path) refuses the same way
        vm.prank(owner);
        vault.setRateLimit(address(ft), QiaoEndpoint.Direction.Inbound, 1 ether, 0);
        QiaoEndpoint.Transfer[] memory two = new QiaoEndpoint.Transfer[](2);
        two[0] = QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 4, remote, address(ft), bob, carol, 1 ether);
        two[1] = QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 5, remote, address(ft), bob, carol, 1 ether);
        sig = signForVault(two);
        vm.recordLogs();
        vault.executeBatch(EPOCH, pack(two), sig); // 2 > 1 of capacity: transfer by transfer
        logs = vm.getRecordedLogs();
        vm.assertEq(reasonOf(logs, CHAIN_E, 4), REASON_DELIVERY_REFUSED);
        vm.assertEq(vault.availableCapacity(address(ft), QiaoEndpoint.Direction.Inbound), 1 ether); // given back
    }

    function test_vaultDelivery_tokenWithoutReturnValueIsPaid_tokenWithoutCodeIsRefused() public {
        NoReturnToken nr = new NoReturnToken();
        address remote = address(0xF00D);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(nr), remote);
        nr.transfer(address(vault), 10 ether);
        QiaoEndpoint.Transfer[] memory ts =
            one(QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 1, remote, address(nr), bob, carol, 1 ether));
        executeOnC(ts, signForVault(ts));
        vm.assertEq(nr.balanceOf(carol), 1 ether);
        vm.etch(address(nr), ""); // the asset's code is gone
        ts = one(QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 2, remote, address(nr), bob, carol, 1 ether));
        bytes memory sig = signForVault(ts);
        vm.chainId(CHAIN_C);
        vm.expectEmit(address(vault));
        emit QiaoEndpoint.TransferFailed(CHAIN_E, 2, QiaoEndpoint.FailureReason.DeliveryRefused);
        vault.executeBatch(EPOCH, pack(ts), sig);
    }

    /// A relayer cannot make a delivery fail by sending too little gas (EIP-150's 63/64): the
    /// vault reverts the whole call unless the asset gets all of DELIVERY_GAS; an asset that burns
    /// all of it by itself has refused the delivery.
    function test_gasStarvedDeliveryRevertsTheCall_gasBurningAssetIsRefused() public {
        GasBurnerToken gb = new GasBurnerToken();
        address remote = address(0xF00D);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(gb), remote);
        QiaoEndpoint.Transfer[] memory ts =
            one(QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 1, remote, address(gb), bob, carol, 1 ether));
        bytes memory sig = signForVault(ts);
        bytes memory call = abi.encodeCall(QiaoEndpoint.executeBatch, (EPOCH, pack(ts), sig));
        vm.chainId(CHAIN_C);
        (bool ok, bytes memory ret) = address(vault).call{gas: 450_000}(call);
        vm.assertFalse(ok);
        vm.assertEq(bytes4(ret), QiaoVault.InsufficientGasForDelivery.selector);
        vm.assertFalse(vault.isExecuted(CHAIN_E, 1));
        (ok,) = address(vault).call{gas: 1_000_000}(call);
        vm.assertTrue(ok);
        vm.assertEq(uint8(vault.transferStatus(CHAIN_E, 1)), uint8(QiaoEndpoint.TransferStatus.Failed));
    }

    function test_complianceUnfreezeDoesNotLiftBridgeFreeze_andBothShowInTheViews() public {
        vm.chainId(CHAIN_E);
        bytes32 freezeType = gateway.FREEZE_TYPEHASH();
        IssuerModule(address(gateway)).applyFreeze(
            EPOCH, bob, true, signAction(GROUP_SK, gateway, CHAIN_E, freezeType, EPOCH, abi.encode(bob, true))
        );
        (bool compliance, bool bridge) = registryE.freezesOf(bob);
        vm.assertFalse(compliance);
        vm.assertTrue(bridge);
        vm.startPrank(owner);
        registryE.setFrozen(bob, true);
        registryE.setFrozen(bob, false); // the desk lifts its own freeze only
        vm.stopPrank();
        vm.assertFalse(registryE.isAllowed(bob));
        address[] memory who = new address[](2);
        who[0] = bob;
        who[1] = carol;
        vm.assertEq(registryE.allowedMask(who)[0], 2); // carol only
        IssuerModule(address(gateway)).applyFreeze(
            EPOCH, bob, false, signAction(GROUP_SK, gateway, CHAIN_E, freezeType, EPOCH, abi.encode(bob, false))
        );
        vm.assertTrue(registryE.isAllowed(bob));
        vm.assertEq(registryE.allowedMask(who)[0], 3);
        (bool allowed, bool frozen) = registryE.statusOf(bob);
        vm.assertTrue(allowed);
        vm.assertFalse(frozen);
    }

    function test_renounceOwnership_revertsForAnyone_onBothEndpoints() public {
        vm.prank(owner);
        vm.expectRevert(QiaoEndpoint.OwnershipCannotBeRenounced.selector);
        vault.renounceOwnership();
        vm.prank(alice);
        vm.expectRevert(QiaoEndpoint.OwnershipCannotBeRenounced.selector);
        gateway.renounceOwnership();
        vm.assertEq(vault.owner(), owner);
    }

    function test_gatewayHomeChain_recordedAndOtherWrappedTokensStillRegister() public {
        vm.chainId(CHAIN_E);
        vm.assertEq(gateway.homeChainOf(address(wrapped)), CHAIN_C);
        WrappedToken other = new WrappedToken("W77", "W77", address(gateway), registryE, owner);
        vm.prank(owner);
        gateway.registerToken(77, address(other), address(0x7777));
        vm.assertEq(gateway.homeChainOf(address(other)), 77);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(QiaoGateway.TokenPairedWithAnotherChain.selector, address(other), 77));
        gateway.registerToken(CHAIN_C, address(other), address(0x8888));
    }

    function cp(QiaoEndpoint.Transfer memory t) internal pure returns (QiaoEndpoint.Transfer memory) {
        return QiaoEndpoint.Transfer(
            t.srcChainId, t.dstChainId, t.nonce, t.srcToken, t.dstToken, t.sender, t.recipient, t.amount
        );
    }
}
