// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {WrappedToken} from "../src/WrappedToken.sol";
import {IssuerRegistry} from "../src/IssuerRegistry.sol";
import {IssuerModule} from "../src/endpoint/IssuerModule.sol";
import {SentinelModule} from "../src/endpoint/SentinelModule.sol";
import {TestAsset} from "../src/TestAsset.sol";

/// @notice Issue 19, points 2 and 3: the issuer's decisions recorded on the consortium chain
///         ({IssuerRegistry}) and applied to the wrapped token on Ethereum by the gateway
///         ({IssuerModule}, behind the endpoint's fallback) on a committee-signed ISSUER action,
///         in C's order; the asset's status and NAV on the token and what the status stops.
///         Every refused call leaves the state (and the action nonce) as it was.
contract IssuerTest is SignedActions {
    IssuerRegistry internal issuerC;
    IssuerModule internal module; // the gateway, through its fallback
    address internal regulator = address(0x2E6);
    address internal stranger = address(0x5712A);
    address internal dave = address(0xDA7E); // never allowed on E

    uint8 internal constant FREEZE_WALLET = 1;
    uint8 internal constant UNFREEZE_WALLET = 2;
    uint8 internal constant FREEZE_PARTIAL = 3;
    uint8 internal constant UNFREEZE_PARTIAL = 4;
    uint8 internal constant FORCED = 5;
    uint8 internal constant RECOVERY = 6;
    uint8 internal constant STATUS = 7;
    uint8 internal constant NAV = 8;

    event IssuerAction(
        address indexed asset,
        uint64 indexed sequence,
        uint8 op,
        address account,
        address to,
        uint256 amount,
        uint64 asOf,
        address indexed by
    );
    event IssuerActionApplied(address indexed token, uint64 indexed sequence, uint8 op);
    event IssuerActionFailed(address indexed token, uint64 indexed sequence, uint8 op, bytes reason);
    event IssuerActionScheduled(
        address indexed token,
        uint64 indexed sequence,
        uint8 op,
        address account,
        uint256 held,
        uint64 executableAt,
        uint64 actionNonce
    );
    event IssuerActionCancelled(address indexed token, uint64 indexed sequence, uint8 op);

    function setUp() public override {
        super.setUp();
        vm.chainId(CHAIN_C);
        issuerC = new IssuerRegistry(owner);
        vm.startPrank(owner);
        issuerC.grantRole(issuerC.REGULATOR_ROLE(), regulator);
        vm.stopPrank();
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        wrapped.addAgent(address(gateway));
        module = IssuerModule(address(gateway));
        vm.warp(1_700_000_000);
        vm.prank(address(gateway));
        wrapped.mint(bob, 100 ether);
    }

    // ------------------------------------------------------------------ helpers

    function action(uint64 sequence, uint8 op, address account, address to, uint256 amount, uint64 asOf)
        internal
        view
        returns (IssuerModule.IssuerAction memory)
    {
        return IssuerModule.IssuerAction(address(wrapped), sequence, op, account, to, amount, asOf);
    }

    function sign(IssuerModule.IssuerAction memory a) internal view returns (bytes memory) {
        return signAction(GROUP_SK, gateway, CHAIN_E, module.ISSUER_TYPEHASH(), EPOCH, abi.encode(a));
    }

    function apply_(IssuerModule.IssuerAction memory a) internal returns (bool) {
        return module.applyIssuerAction(EPOCH, a, sign(a));
    }

    /// @dev Applies the next decision of the token (its sequence follows the last applied).
    function next(uint8 op, address account, address to, uint256 amount, uint64 asOf) internal returns (bool) {
        return apply_(action(module.issuerSequence(address(wrapped)) + 1, op, account, to, amount, asOf));
    }

    /// @dev Waits out the endpoint's action delay, then executes scheduled decision `sequence`.
    function executeLater(uint64 sequence) internal returns (bool) {
        vm.warp(block.timestamp + gateway.actionDelay());
        return module.executeIssuerAction(address(wrapped), sequence);
    }

    /// @dev Applies the next decision (a forced transfer or recovery), then executes it after the delay.
    function nextExecuted(uint8 op, address account, address to, uint256 amount) internal returns (bool) {
        vm.assertTrue(next(op, account, to, amount, 0), "not scheduled");
        return executeLater(module.issuerSequence(address(wrapped)));
    }

    function status(uint64 sequence) internal view returns (IssuerModule.ScheduledStatus) {
        return module.issuerActionScheduled(address(wrapped), sequence).status;
    }

    function setStatus(uint8 status) internal {
        vm.assertTrue(next(STATUS, address(0), address(0), status, 0), "status not applied");
    }

    function unauthorized(address who, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who, role);
    }

    // ------------------------------------------------------------------ the message

    function test_issuerTypehash_isTheDocumentedTypeString() public view {
        vm.assertEq(
            module.ISSUER_TYPEHASH(),
            keccak256(
                "QiaoIssuerAction(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,address token,uint64 sequence,uint8 op,address account,address to,uint256 amount,uint64 asOf)"
            )
        );
    }

    // ------------------------------------------------------------------ IssuerRegistry on C

    function test_registry_recordsEachDecisionNumberedPerAsset() public {
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(asset), 1, FREEZE_WALLET, bob, address(0), 0, 0, owner);
        issuerC.setAddressFrozen(address(asset), bob, true);
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(asset), 2, UNFREEZE_WALLET, bob, address(0), 0, 0, owner);
        issuerC.setAddressFrozen(address(asset), bob, false);
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(asset), 3, FREEZE_PARTIAL, bob, address(0), 5, 0, owner);
        issuerC.freezePartialTokens(address(asset), bob, 5);
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(asset), 4, UNFREEZE_PARTIAL, bob, address(0), 5, 0, owner);
        issuerC.unfreezePartialTokens(address(asset), bob, 5);
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(asset), 5, FORCED, bob, carol, 7, 0, owner);
        issuerC.forcedTransfer(address(asset), bob, carol, 7);
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(asset), 6, RECOVERY, bob, carol, 0, 0, owner);
        issuerC.recoveryAddress(address(asset), bob, carol);
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(asset), 7, STATUS, address(0), address(0), 1, 0, owner);
        issuerC.setAssetStatus(address(asset), 1);
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(asset), 8, NAV, address(0), address(0), 1.02 ether, 1_699_999_000, owner);
        issuerC.setNav(address(asset), 1.02 ether, 1_699_999_000);
        // another asset has its own numbers
        vm.expectEmit(address(issuerC));
        emit IssuerAction(address(0xA55E7), 1, FREEZE_WALLET, bob, address(0), 0, 0, owner);
        issuerC.setAddressFrozen(address(0xA55E7), bob, true);
        vm.stopPrank();
        vm.assertEq(issuerC.sequenceOf(address(asset)), 8);
        vm.assertEq(issuerC.assetStatus(address(asset)), 1);
        (uint256 nav, uint64 asOf) = issuerC.navOf(address(asset));
        vm.assertEq(nav, 1.02 ether);
        vm.assertEq(asOf, 1_699_999_000);
    }

    function test_registry_refusesStrangers() public {
        vm.chainId(CHAIN_C);
        bytes32 issuerRole = issuerC.ISSUER_ROLE();
        vm.startPrank(stranger);
        vm.expectRevert(unauthorized(stranger, issuerRole));
        issuerC.setAddressFrozen(address(asset), bob, true);
        vm.expectRevert(unauthorized(stranger, issuerRole));
        issuerC.freezePartialTokens(address(asset), bob, 1);
        vm.expectRevert(unauthorized(stranger, issuerRole));
        issuerC.unfreezePartialTokens(address(asset), bob, 1);
        vm.expectRevert(unauthorized(stranger, issuerRole));
        issuerC.forcedTransfer(address(asset), bob, carol, 1);
        vm.expectRevert(unauthorized(stranger, issuerRole));
        issuerC.recoveryAddress(address(asset), bob, carol);
        vm.expectRevert(unauthorized(stranger, issuerRole));
        issuerC.setAssetStatus(address(asset), 1);
        vm.expectRevert(unauthorized(stranger, issuerRole));
        issuerC.setNav(address(asset), 1 ether, 1);
        vm.stopPrank();
        vm.assertEq(issuerC.sequenceOf(address(asset)), 0, "a refused call recorded a decision");
    }

    function test_registry_regulatorFreezesForcesAndSuspendsOnly() public {
        vm.chainId(CHAIN_C);
        bytes32 issuerRole = issuerC.ISSUER_ROLE();
        vm.startPrank(regulator);
        issuerC.setAddressFrozen(address(asset), bob, true);
        issuerC.freezePartialTokens(address(asset), bob, 1);
        issuerC.unfreezePartialTokens(address(asset), bob, 1);
        issuerC.forcedTransfer(address(asset), bob, carol, 1);
        issuerC.setAssetStatus(address(asset), 1); // suspend
        issuerC.setAssetStatus(address(asset), 0); // lift its suspension
        vm.assertEq(issuerC.sequenceOf(address(asset)), 6);
        vm.expectRevert(unauthorized(regulator, issuerRole));
        issuerC.recoveryAddress(address(asset), bob, carol);
        vm.expectRevert(unauthorized(regulator, issuerRole));
        issuerC.setNav(address(asset), 1 ether, 1);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StatusNotAllowed.selector, regulator, 2));
        issuerC.setAssetStatus(address(asset), 2);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StatusNotAllowed.selector, regulator, 3));
        issuerC.setAssetStatus(address(asset), 3);
        vm.stopPrank();
        vm.prank(owner);
        issuerC.setAssetStatus(address(asset), 2); // the issuer declares a default
        vm.prank(regulator);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StatusNotAllowed.selector, regulator, 0));
        issuerC.setAssetStatus(address(asset), 0); // the regulator lifts only a suspension
        vm.assertEq(issuerC.sequenceOf(address(asset)), 7);
    }

    /// @dev Attack (review, MEDIUM): the regulator may not lift a default in two steps
    ///      (DEFAULTED -> SUSPENDED by the regulator, then SUSPENDED -> ACTIVE).
    function test_registry_regulatorCannotLiftADefaultThroughASuspension() public {
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        issuerC.setAssetStatus(address(asset), 2); // the issuer declares a default
        vm.startPrank(regulator);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StatusNotAllowed.selector, regulator, 1));
        issuerC.setAssetStatus(address(asset), 1); // suspends only an ACTIVE asset
        vm.stopPrank();
        vm.assertEq(issuerC.assetStatus(address(asset)), 2, "the regulator changed a default");
        vm.assertEq(issuerC.sequenceOf(address(asset)), 1, "a refused call recorded a decision");
    }

    /// @dev Attack (review, MEDIUM), the other path: the issuer suspends a DEFAULTED asset; the
    ///      regulator may not lift that suspension (it was not made from ACTIVE).
    function test_registry_regulatorLiftsOnlyASuspensionMadeFromActive() public {
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        issuerC.setAssetStatus(address(asset), 2); // default
        issuerC.setAssetStatus(address(asset), 1); // the issuer suspends the defaulted asset
        vm.stopPrank();
        vm.prank(regulator);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StatusNotAllowed.selector, regulator, 0));
        issuerC.setAssetStatus(address(asset), 0);
        vm.assertEq(issuerC.assetStatus(address(asset)), 1);
        // the issuer lifts it back to ACTIVE, then suspends from ACTIVE: the regulator may lift that
        vm.startPrank(owner);
        issuerC.setAssetStatus(address(asset), 0);
        issuerC.setAssetStatus(address(asset), 1);
        vm.stopPrank();
        vm.prank(regulator);
        issuerC.setAssetStatus(address(asset), 0);
        vm.assertEq(issuerC.assetStatus(address(asset)), 0);
        // a regulator's suspension from ACTIVE after a default was lifted by the issuer: liftable
        vm.prank(owner);
        issuerC.setAssetStatus(address(asset), 2);
        vm.prank(owner);
        issuerC.setAssetStatus(address(asset), 1); // suspended from DEFAULTED again
        vm.prank(regulator);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StatusNotAllowed.selector, regulator, 0));
        issuerC.setAssetStatus(address(asset), 0);
        vm.assertEq(issuerC.sequenceOf(address(asset)), 7);
    }

    /// @dev The issuer may cure a default (DEFAULTED -> ACTIVE: a court-ordered restructuring);
    ///      the regulator may not; MATURED is final for everyone. E applies what C decided.
    function test_registry_issuerMayCureADefault_regulatorMayNot_maturityIsFinal() public {
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        issuerC.setAssetStatus(address(asset), 2);
        vm.prank(regulator);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StatusNotAllowed.selector, regulator, 0));
        issuerC.setAssetStatus(address(asset), 0);
        vm.assertEq(issuerC.assetStatus(address(asset)), 2);
        vm.prank(owner);
        issuerC.setAssetStatus(address(asset), 0); // the issuer cures the default
        vm.assertEq(issuerC.assetStatus(address(asset)), 0);
        vm.startPrank(owner);
        issuerC.setAssetStatus(address(asset), 3);
        for (uint8 s = 0; s < 3; ++s) {
            vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.AssetMatured.selector, address(asset)));
            issuerC.setAssetStatus(address(asset), s);
        }
        vm.stopPrank();
        vm.assertEq(issuerC.assetStatus(address(asset)), 3);
        // on E the cure is carried like any status: transfers move again
        vm.chainId(CHAIN_E);
        setStatus(2);
        setStatus(0);
        vm.prank(bob);
        wrapped.transfer(carol, 1 ether);
        vm.assertEq(wrapped.balanceOf(carol), 1 ether);
    }

    function test_registry_refusesBadInput() public {
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        vm.expectRevert(IssuerRegistry.IssuerZeroAddress.selector);
        issuerC.setAddressFrozen(address(0), bob, true);
        vm.expectRevert(IssuerRegistry.IssuerZeroAddress.selector);
        issuerC.setAddressFrozen(address(asset), address(0), true);
        vm.expectRevert(IssuerRegistry.IssuerZeroAmount.selector);
        issuerC.freezePartialTokens(address(asset), bob, 0);
        vm.expectRevert(IssuerRegistry.IssuerZeroAmount.selector);
        issuerC.unfreezePartialTokens(address(asset), bob, 0);
        vm.expectRevert(IssuerRegistry.IssuerZeroAddress.selector);
        issuerC.forcedTransfer(address(asset), bob, address(0), 1);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.IssuerSameAccount.selector, bob));
        issuerC.forcedTransfer(address(asset), bob, bob, 1);
        vm.expectRevert(IssuerRegistry.IssuerZeroAmount.selector);
        issuerC.forcedTransfer(address(asset), bob, carol, 0);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.IssuerSameAccount.selector, bob));
        issuerC.recoveryAddress(address(asset), bob, bob);
        vm.expectRevert(IssuerRegistry.IssuerZeroAddress.selector);
        issuerC.recoveryAddress(address(asset), address(0), bob);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.InvalidStatus.selector, 4));
        issuerC.setAssetStatus(address(asset), 4);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StatusUnchanged.selector, 0));
        issuerC.setAssetStatus(address(asset), 0);
        vm.expectRevert(IssuerRegistry.IssuerZeroAmount.selector);
        issuerC.setNav(address(asset), 0, 1);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StaleNav.selector, 0, 0));
        issuerC.setNav(address(asset), 1 ether, 0);
        uint64 future = uint64(block.timestamp) + 1;
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StaleNav.selector, future, 0));
        issuerC.setNav(address(asset), 1 ether, future);
        issuerC.setNav(address(asset), 1 ether, 100);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.StaleNav.selector, 100, 100));
        issuerC.setNav(address(asset), 1 ether, 100);
        issuerC.setAssetStatus(address(asset), 3); // matured: final
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.AssetMatured.selector, address(asset)));
        issuerC.setAssetStatus(address(asset), 0);
        vm.stopPrank();
        vm.assertEq(issuerC.sequenceOf(address(asset)), 2, "only the two valid decisions are recorded");
        vm.expectRevert(IssuerRegistry.IssuerZeroAddress.selector);
        new IssuerRegistry(address(0));
    }

    /// @dev Review (LOW): a NAV above uint192 (what the wrapped token stores) is refused on C,
    ///      where the issuer can correct it, instead of failing on E.
    function test_registry_refusesANavTheTokenCannotHold() public {
        vm.chainId(CHAIN_C);
        uint256 tooBig = uint256(type(uint192).max) + 1;
        vm.startPrank(owner);
        vm.expectRevert(abi.encodeWithSelector(IssuerRegistry.NavTooLarge.selector, tooBig, uint256(type(uint192).max)));
        issuerC.setNav(address(asset), tooBig, 100);
        vm.assertEq(issuerC.sequenceOf(address(asset)), 0, "a refused NAV recorded a decision");
        issuerC.setNav(address(asset), type(uint192).max, 100); // the largest the token holds
        vm.stopPrank();
        (uint256 nav,) = issuerC.navOf(address(asset));
        vm.assertEq(nav, type(uint192).max);
    }

    // ------------------------------------------------------------------ applied on E

    function test_module_appliesEveryOperationThroughTheAgentFunctions() public {
        vm.expectEmit(address(gateway));
        emit IssuerActionApplied(address(wrapped), 1, FREEZE_WALLET);
        vm.assertTrue(next(FREEZE_WALLET, bob, address(0), 0, 0));
        vm.assertTrue(wrapped.isFrozen(bob));
        vm.assertTrue(next(UNFREEZE_WALLET, bob, address(0), 0, 0));
        vm.assertFalse(wrapped.isFrozen(bob));
        vm.assertTrue(next(FREEZE_PARTIAL, bob, address(0), 30 ether, 0));
        vm.assertEq(wrapped.getFrozenTokens(bob), 30 ether);
        vm.assertTrue(next(UNFREEZE_PARTIAL, bob, address(0), 10 ether, 0));
        vm.assertEq(wrapped.getFrozenTokens(bob), 20 ether);
        vm.assertTrue(nextExecuted(FORCED, bob, carol, 90 ether)); // releases 10 of the frozen 20
        vm.assertEq(wrapped.balanceOf(carol), 90 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 10 ether);
        vm.assertTrue(nextExecuted(RECOVERY, bob, alice, 0)); // bob lost his wallet; alice is his new one
        vm.assertEq(wrapped.balanceOf(bob), 0);
        vm.assertEq(wrapped.balanceOf(alice), 10 ether);
        vm.assertEq(wrapped.getFrozenTokens(alice), 10 ether);
        vm.expectEmit(address(wrapped));
        emit WrappedToken.AssetStatusSet(2);
        vm.assertTrue(next(STATUS, address(0), address(0), 2, 0));
        vm.assertEq(wrapped.assetStatus(), 2);
        vm.expectEmit(address(wrapped));
        emit WrappedToken.NavSet(0.4 ether, 1_699_990_000);
        vm.assertTrue(next(NAV, address(0), address(0), 0.4 ether, 1_699_990_000));
        (uint256 nav, uint64 asOf) = wrapped.nav();
        vm.assertEq(nav, 0.4 ether);
        vm.assertEq(asOf, 1_699_990_000);
        vm.assertEq(module.issuerSequence(address(wrapped)), 8);
        vm.assertEq(gateway.actionNonce(), 8, "one action nonce per decision (none to execute)");
    }

    function test_module_refusesOutOfTurnAndReplay() public {
        vm.assertTrue(apply_(action(5, FREEZE_WALLET, bob, address(0), 0, 0))); // first here: any number
        IssuerModule.IssuerAction memory skip = action(7, UNFREEZE_WALLET, bob, address(0), 0, 0);
        bytes memory sig = sign(skip);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.IssuerSequence.selector, address(wrapped), 6, 7));
        module.applyIssuerAction(EPOCH, skip, sig);
        IssuerModule.IssuerAction memory again = action(5, UNFREEZE_WALLET, bob, address(0), 0, 0);
        sig = sign(again);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.IssuerSequence.selector, address(wrapped), 6, 5));
        module.applyIssuerAction(EPOCH, again, sig);
        IssuerModule.IssuerAction memory zero = action(0, UNFREEZE_WALLET, bob, address(0), 0, 0);
        sig = sign(zero);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.IssuerSequence.selector, address(wrapped), 6, 0));
        module.applyIssuerAction(EPOCH, zero, sig);
        vm.assertEq(gateway.actionNonce(), 1, "a refused decision consumed an action nonce");
        vm.assertTrue(wrapped.isFrozen(bob), "a refused decision changed the token");
        vm.assertTrue(apply_(action(6, UNFREEZE_WALLET, bob, address(0), 0, 0)));
        vm.assertFalse(wrapped.isFrozen(bob));
    }

    function test_module_refusesBadSignatureOpAndToken() public {
        IssuerModule.IssuerAction memory a = action(1, FREEZE_WALLET, bob, address(0), 0, 0);
        // signed for another account
        bytes memory other = sign(action(1, FREEZE_WALLET, carol, address(0), 0, 0));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        module.applyIssuerAction(EPOCH, a, other);
        // signed as a FREEZE (another message kind) with the same words
        bytes memory asFreeze = signAction(GROUP_SK, gateway, CHAIN_E, gateway.FREEZE_TYPEHASH(), EPOCH, abi.encode(a));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        module.applyIssuerAction(EPOCH, a, asFreeze);
        // signed by another key
        bytes memory wrongKey = signAction(GROUP_SK + 1, gateway, CHAIN_E, module.ISSUER_TYPEHASH(), EPOCH, abi.encode(a));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        module.applyIssuerAction(EPOCH, a, wrongKey);
        bytes memory good = sign(a);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotCurrentKeyEpoch.selector, 2));
        module.applyIssuerAction(2, a, good);
        IssuerModule.IssuerAction memory badOp = action(1, 9, bob, address(0), 0, 0);
        bytes memory sig = sign(badOp);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.InvalidIssuerOp.selector, 9));
        module.applyIssuerAction(EPOCH, badOp, sig);
        badOp.op = 0;
        sig = sign(badOp);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.InvalidIssuerOp.selector, 0));
        module.applyIssuerAction(EPOCH, badOp, sig);
        IssuerModule.IssuerAction memory stray = a;
        stray.token = address(asset); // not a wrapped token of this gateway
        sig = sign(stray);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NotIssuerToken.selector, address(asset)));
        module.applyIssuerAction(EPOCH, stray, sig);
        vm.assertEq(gateway.actionNonce(), 0, "a refused decision consumed an action nonce");
        vm.assertFalse(wrapped.isFrozen(bob));
        vm.assertEq(module.issuerSequence(address(wrapped)), 0);
    }

    function test_module_vaultRefusesEveryToken() public {
        vm.chainId(CHAIN_C);
        IssuerModule onVault = IssuerModule(address(vault));
        IssuerModule.IssuerAction memory a = action(1, FREEZE_WALLET, bob, address(0), 0, 0);
        a.token = address(asset);
        bytes memory sig =
            signAction(GROUP_SK, vault, CHAIN_C, Protocol_ISSUER_TYPEHASH(), EPOCH, abi.encode(a));
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NotIssuerToken.selector, address(asset)));
        onVault.applyIssuerAction(EPOCH, a, sig);
    }

    /// @dev applyFreeze and applyAllow moved from the gateway into the module (for room): a vault
    ///      still has neither (it reverts without data, as before), even with a valid signature
    ///      and the registry's FREEZER_ROLE, and consumes nothing.
    function test_module_vaultHasNoApplyFreezeOrApplyAllow() public {
        vm.chainId(CHAIN_C);
        vm.startPrank(owner);
        registryC.grantRole(registryC.FREEZER_ROLE(), address(vault));
        vm.stopPrank();
        IssuerModule onVault = IssuerModule(address(vault));
        uint64 nonceBefore = vault.actionNonce();
        bytes memory freezeSig =
            signAction(GROUP_SK, vault, CHAIN_C, vault.FREEZE_TYPEHASH(), EPOCH, abi.encode(bob, true));
        vm.expectRevert(bytes(""));
        onVault.applyFreeze(EPOCH, bob, true, freezeSig);
        bytes memory allowSig =
            signAction(GROUP_SK, vault, CHAIN_C, module.ALLOW_TYPEHASH(), EPOCH, abi.encode(dave, true));
        vm.expectRevert(bytes(""));
        onVault.applyAllow(EPOCH, dave, true, allowSig);
        vm.assertEq(vault.actionNonce(), nonceBefore);
        vm.assertFalse(registryC.isAllowed(dave));
        vm.assertTrue(registryC.isAllowed(bob));
        // the gateway applies it through its fallback
        vm.chainId(CHAIN_E);
        bytes memory onE =
            signAction(GROUP_SK, gateway, CHAIN_E, gateway.FREEZE_TYPEHASH(), EPOCH, abi.encode(bob, true));
        module.applyFreeze(EPOCH, bob, true, onE);
        vm.assertFalse(registryE.isAllowed(bob));
    }

    function Protocol_ISSUER_TYPEHASH() internal view returns (bytes32) {
        return module.ISSUER_TYPEHASH();
    }

    function test_module_decisionTheTokenRefusesIsRecordedFailedAndTheNextGoesOn() public {
        // a forced transfer above bob's balance on E: consumed in its turn, recorded failed
        bytes memory reason =
            abi.encodeWithSelector(IssuerModule.IssuerAmountUnavailable.selector, bob, 100 ether, 500 ether);
        vm.expectEmit(address(gateway));
        emit IssuerActionFailed(address(wrapped), 1, FORCED, reason);
        vm.assertFalse(next(FORCED, bob, carol, 500 ether, 0));
        vm.assertTrue(module.issuerActionFailed(address(wrapped), 1));
        vm.assertEq(module.issuerSequence(address(wrapped)), 1);
        vm.assertEq(wrapped.balanceOf(bob), 100 ether, "a failed forced transfer moved tokens");
        vm.assertEq(wrapped.getFrozenTokens(bob), 0, "a refused forced transfer froze tokens");
        vm.assertEq(uint8(status(1)), uint8(IssuerModule.ScheduledStatus.None));
        // to an address not allowed on E: scheduled, refused by the token at execution, the hold released
        vm.assertTrue(next(FORCED, bob, dave, 1 ether, 0));
        vm.assertEq(wrapped.getFrozenTokens(bob), 1 ether);
        vm.expectEmit(address(gateway));
        emit IssuerActionFailed(
            address(wrapped), 2, FORCED, abi.encodeWithSelector(WrappedToken.NotAllowed.selector, dave)
        );
        vm.assertFalse(executeLater(2));
        vm.assertTrue(module.issuerActionFailed(address(wrapped), 2));
        vm.assertEq(uint8(status(2)), uint8(IssuerModule.ScheduledStatus.Failed));
        vm.assertEq(wrapped.getFrozenTokens(bob), 0, "a failed forced transfer kept its hold");
        (uint256 reserved,) = module.issuerHold(address(wrapped), bob);
        vm.assertEq(reserved, 0);
        // an unknown status code
        vm.assertFalse(next(STATUS, address(0), address(0), 4, 0));
        vm.assertFalse(next(STATUS, address(0), address(0), 1000, 0));
        vm.assertEq(wrapped.assetStatus(), 0);
        // the next decision applies
        vm.assertTrue(next(FREEZE_WALLET, bob, address(0), 0, 0));
        vm.assertFalse(module.issuerActionFailed(address(wrapped), 5));
        vm.assertTrue(wrapped.isFrozen(bob));
    }

    function test_module_withoutAgentRoleRecordsFailed() public {
        vm.prank(owner);
        wrapped.removeAgent(address(gateway));
        vm.assertFalse(next(FREEZE_WALLET, bob, address(0), 0, 0));
        vm.assertFalse(wrapped.isFrozen(bob));
    }

    function test_module_starvedTokenCallReverts() public {
        IssuerModule.IssuerAction memory a = action(1, FREEZE_PARTIAL, bob, address(0), 1 ether, 0);
        bytes memory sig = sign(a);
        bytes memory data = abi.encodeCall(IssuerModule.applyIssuerAction, (EPOCH, a, sig));
        // from little gas up: every call that fails reverts whole (nothing changes); the first
        // that goes through must be the applied decision, never a failure recorded by starving it
        uint256 low = 100_000;
        uint256 high = 2_000_000;
        bool sawOutOfGas;
        for (uint256 g = low; g < high; g += 5_000) {
            (bool ok, bytes memory ret) = address(gateway).call{gas: g}(data);
            if (!ok && ret.length == 4 && bytes4(ret) == IssuerModule.IssuerActionOutOfGas.selector) {
                sawOutOfGas = true;
            }
            if (ok) {
                vm.assertFalse(module.issuerActionFailed(address(wrapped), 1), "starved into a recorded failure");
                vm.assertEq(wrapped.getFrozenTokens(bob), 1 ether);
                break;
            }
        }
        vm.assertTrue(sawOutOfGas, "no gas limit made the token call run out");
    }

    /// @dev The same for scheduling a forced transfer (its freeze), for executing it (the
    ///      release and the move) and for a cancel's release: starving a call never records a
    ///      failure nor leaves a hold behind.
    function test_module_starvedScheduleAndExecuteRevert() public {
        IssuerModule.IssuerAction memory a = action(1, FORCED, bob, carol, 1 ether, 0);
        bytes memory data = abi.encodeCall(IssuerModule.applyIssuerAction, (EPOCH, a, sign(a)));
        vm.assertTrue(starve(data), "no gas limit made the freeze run out");
        vm.assertEq(uint8(status(1)), uint8(IssuerModule.ScheduledStatus.Pending));
        vm.assertEq(wrapped.getFrozenTokens(bob), 1 ether);
        vm.warp(block.timestamp + gateway.actionDelay());
        vm.assertTrue(starve(abi.encodeCall(IssuerModule.executeIssuerAction, (address(wrapped), 1))));
        vm.assertEq(uint8(status(1)), uint8(IssuerModule.ScheduledStatus.Executed));
        vm.assertEq(wrapped.balanceOf(carol), 1 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
    }

    /// @dev Calls the gateway with `data` from little gas up until it goes through; true if some
    ///      limit made it revert with IssuerActionOutOfGas. Fails if it records a failure.
    function starve(bytes memory data) internal returns (bool sawOutOfGas) {
        for (uint256 g = 10_000; g < 2_000_000; g += 1_000) {
            (bool ok, bytes memory ret) = address(gateway).call{gas: g}(data);
            if (!ok && ret.length == 4 && bytes4(ret) == IssuerModule.IssuerActionOutOfGas.selector) {
                sawOutOfGas = true;
            }
            if (ok) {
                vm.assertFalse(module.issuerActionFailed(address(wrapped), 1), "starved into a recorded failure");
                return sawOutOfGas;
            }
        }
        vm.assertTrue(false, "never went through");
    }

    /// @dev While the guardian's pause holds, the decisions that only restrict (freezes, partial
    ///      freezes, status, NAV) still apply.
    function test_module_restrictionsApplyWhileTheEndpointIsPaused() public {
        vm.prank(guardian);
        gateway.pause();
        vm.assertTrue(next(FREEZE_WALLET, bob, address(0), 0, 0));
        vm.assertTrue(wrapped.isFrozen(bob));
        vm.assertTrue(next(UNFREEZE_WALLET, bob, address(0), 0, 0));
        vm.assertTrue(next(FREEZE_PARTIAL, bob, address(0), 10 ether, 0));
        vm.assertTrue(next(UNFREEZE_PARTIAL, bob, address(0), 5 ether, 0));
        vm.assertEq(wrapped.getFrozenTokens(bob), 5 ether);
        setStatus(1);
        vm.assertTrue(next(NAV, address(0), address(0), 1 ether, 1_699_990_000));
        vm.assertEq(wrapped.assetStatus(), 1);
        vm.assertEq(module.issuerSequence(address(wrapped)), 6);
    }

    /// @dev Attack (review, HIGH): a stolen committee key signs forced transfers (or recoveries)
    ///      of every holder's balance; the guardian's pause must stop them. While paused they are
    ///      only scheduled (the tokens frozen on the holder: that only restricts, and the asset's
    ///      later decisions go on); executing one reverts with the endpoint's EnforcedPause, and
    ///      it waits for the resume.
    function test_module_forcedTransferAndRecoveryWaitWhileTheEndpointIsPaused() public {
        vm.prank(guardian);
        gateway.pause();
        vm.assertTrue(apply_(action(1, FORCED, bob, carol, 40 ether, 0)));
        vm.assertTrue(apply_(action(2, RECOVERY, bob, alice, 0, 0)) == false, "a recovery beside a forced transfer");
        vm.assertTrue(apply_(action(3, FREEZE_WALLET, carol, address(0), 0, 0)), "a later decision was blocked");
        vm.assertEq(wrapped.getFrozenTokens(bob), 40 ether);
        vm.warp(block.timestamp + gateway.actionDelay());
        vm.expectRevert(Pausable.EnforcedPause.selector);
        module.executeIssuerAction(address(wrapped), 1);
        vm.assertEq(wrapped.balanceOf(bob), 100 ether, "a forced transfer moved tokens while paused");
        vm.assertEq(wrapped.balanceOf(carol), 0);
        vm.assertEq(uint8(status(1)), uint8(IssuerModule.ScheduledStatus.Pending));
        // the resume lets it through
        resumeNow(gateway, CHAIN_E);
        vm.assertTrue(module.executeIssuerAction(address(wrapped), 1));
        vm.assertEq(wrapped.balanceOf(carol), 40 ether);
        vm.assertEq(wrapped.balanceOf(bob), 60 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
    }

    // ------------------------------------------------------------------ forced moves: delayed (review #2, #7)

    /// @dev Attack (issue 19 review #2): a stolen or colluding group key signs a forced transfer
    ///      of a holder's balance; applied, it must only be scheduled (the guardian's window to
    ///      cancel it), the amount frozen on the holder at once (#7), nothing moved yet.
    function test_attack_forcedTransferDoesNotMoveAtOnce() public {
        uint64 at = uint64(block.timestamp) + gateway.actionDelay();
        vm.expectEmit(address(gateway));
        emit IssuerActionScheduled(address(wrapped), 1, FORCED, bob, 40 ether, at, 0);
        next(FORCED, bob, carol, 40 ether, 0);
        vm.assertEq(wrapped.balanceOf(carol), 0, "a forced transfer moved tokens with no delay");
        vm.assertEq(wrapped.balanceOf(bob), 100 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 40 ether, "the forced amount is not frozen during the delay");
        IssuerModule.Scheduled memory d = module.issuerActionScheduled(address(wrapped), 1);
        vm.assertEq(uint8(d.status), uint8(IssuerModule.ScheduledStatus.Pending));
        vm.assertEq(d.executableAt, at);
        vm.assertEq(d.amount, 40 ether);
        vm.assertEq(d.held, 40 ether);
        vm.assertEq(d.actionNonce, 0);
        vm.assertEq(module.issuerSequence(address(wrapped)), 1, "the number is consumed: later decisions go on");
        vm.assertFalse(module.issuerActionFailed(address(wrapped), 1));
        (uint256 reserved, bool recovering) = module.issuerHold(address(wrapped), bob);
        vm.assertEq(reserved, 40 ether);
        vm.assertFalse(recovering);
        // the watchers find it by its action nonce; a nonce another action used names nothing
        (address token, uint64 sequence) = module.issuerActionAt(0);
        vm.assertEq(token, address(wrapped));
        vm.assertEq(sequence, 1);
        vm.assertTrue(next(FREEZE_WALLET, carol, address(0), 0, 0));
        (token, sequence) = module.issuerActionAt(1);
        vm.assertEq(token, address(0));
        vm.assertEq(sequence, 0);
    }

    /// @dev Attack (review #7): the holder sees the forced transfer coming and moves or burns
    ///      (toward C) the tokens during the delay. The scheduled amount is frozen: only the rest
    ///      moves, and the execution takes the whole amount.
    function test_attack_holderCannotFrontRunAScheduledForcedTransfer() public {
        next(FORCED, bob, carol, 40 ether, 0);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 61 ether, 60 ether));
        wrapped.transfer(alice, 61 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 100 ether, 60 ether));
        gateway.burn(address(wrapped), CHAIN_C, bob, 100 ether);
        vm.prank(bob);
        wrapped.approve(alice, 100 ether);
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 61 ether, 60 ether));
        wrapped.transferFrom(bob, alice, 61 ether);
        vm.prank(bob);
        wrapped.transfer(alice, 60 ether); // the rest is bob's to move
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 1, 0));
        gateway.burn(address(wrapped), CHAIN_C, bob, 1);
        vm.assertTrue(executeLater(1));
        vm.assertEq(wrapped.balanceOf(carol), 40 ether, "the holder got the forced amount away");
        vm.assertEq(wrapped.balanceOf(bob), 0);
    }

    /// @dev Attack (review #7), a recovery: whoever holds the lost wallet's key cannot empty it
    ///      during the delay; the execution moves the whole balance, with the issuer's freezes.
    function test_attack_lostWalletCannotBeEmptiedDuringARecovery() public {
        vm.assertTrue(next(FREEZE_PARTIAL, bob, address(0), 30 ether, 0));
        vm.assertTrue(next(RECOVERY, bob, alice, 0, 0));
        vm.assertEq(wrapped.getFrozenTokens(bob), 100 ether, "the lost wallet's balance is not held");
        (uint256 reserved, bool recovering) = module.issuerHold(address(wrapped), bob);
        vm.assertEq(reserved, 100 ether);
        vm.assertTrue(recovering);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 1, 0));
        wrapped.transfer(carol, 1);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 1, 0));
        gateway.burn(address(wrapped), CHAIN_C, bob, 1);
        vm.assertTrue(executeLater(2));
        vm.assertEq(wrapped.balanceOf(bob), 0);
        vm.assertEq(wrapped.balanceOf(alice), 100 ether);
        vm.assertEq(wrapped.getFrozenTokens(alice), 30 ether, "the issuer's own freeze goes with the wallet");
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
        vm.assertFalse(wrapped.isFrozen(alice));
        (reserved, recovering) = module.issuerHold(address(wrapped), bob);
        vm.assertEq(reserved, 0);
        vm.assertFalse(recovering);
    }

    function test_execute_beforeTheDelayReverts_twiceReverts_unknownReverts() public {
        next(FORCED, bob, carol, 40 ether, 0);
        uint64 at = uint64(block.timestamp) + gateway.actionDelay();
        vm.warp(at - 1);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.IssuerActionNotReady.selector, address(wrapped), 1, at));
        module.executeIssuerAction(address(wrapped), 1);
        vm.assertEq(wrapped.balanceOf(carol), 0);
        vm.warp(at);
        vm.expectEmit(address(gateway));
        emit IssuerActionApplied(address(wrapped), 1, FORCED);
        vm.prank(stranger); // anyone may execute it
        vm.assertTrue(module.executeIssuerAction(address(wrapped), 1));
        vm.assertEq(wrapped.balanceOf(carol), 40 ether);
        vm.assertEq(wrapped.balanceOf(bob), 60 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 0, "the hold stayed after the execution");
        vm.assertEq(uint8(status(1)), uint8(IssuerModule.ScheduledStatus.Executed));
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NoScheduledIssuerAction.selector, address(wrapped), 1));
        module.executeIssuerAction(address(wrapped), 1);
        vm.assertEq(wrapped.balanceOf(carol), 40 ether, "executed twice");
        // never scheduled: another op, a number not applied, another token
        vm.assertTrue(next(FREEZE_WALLET, carol, address(0), 0, 0));
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NoScheduledIssuerAction.selector, address(wrapped), 2));
        module.executeIssuerAction(address(wrapped), 2);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NoScheduledIssuerAction.selector, address(wrapped), 3));
        module.executeIssuerAction(address(wrapped), 3);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NoScheduledIssuerAction.selector, address(asset), 1));
        module.executeIssuerAction(address(asset), 1);
    }

    function test_guardianCancelReleasesTheHoldAndRecordsItFailed() public {
        next(FORCED, bob, carol, 40 ether, 0);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, stranger));
        vm.prank(stranger);
        module.cancelIssuerAction(address(wrapped), 1);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotGuardian.selector, owner));
        vm.prank(owner);
        module.cancelIssuerAction(address(wrapped), 1);
        vm.assertEq(uint8(status(1)), uint8(IssuerModule.ScheduledStatus.Pending), "a stranger cancelled it");
        vm.expectEmit(address(gateway));
        emit IssuerActionCancelled(address(wrapped), 1, FORCED);
        vm.prank(guardian);
        module.cancelIssuerAction(address(wrapped), 1);
        vm.assertEq(uint8(status(1)), uint8(IssuerModule.ScheduledStatus.Cancelled));
        vm.assertTrue(module.issuerActionFailed(address(wrapped), 1), "a cancelled decision is not recorded failed");
        vm.assertEq(wrapped.getFrozenTokens(bob), 0, "the cancel kept the hold");
        (uint256 reserved,) = module.issuerHold(address(wrapped), bob);
        vm.assertEq(reserved, 0);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NoScheduledIssuerAction.selector, address(wrapped), 1));
        module.cancelIssuerAction(address(wrapped), 1);
        vm.warp(block.timestamp + gateway.actionDelay());
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NoScheduledIssuerAction.selector, address(wrapped), 1));
        module.executeIssuerAction(address(wrapped), 1);
        vm.assertEq(wrapped.balanceOf(carol), 0);
        vm.prank(bob);
        wrapped.transfer(alice, 100 ether); // free again
        // an executed one cannot be cancelled
        vm.prank(alice);
        wrapped.transfer(bob, 100 ether);
        vm.assertTrue(nextExecuted(FORCED, bob, carol, 1 ether));
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NoScheduledIssuerAction.selector, address(wrapped), 2));
        module.cancelIssuerAction(address(wrapped), 2);
        vm.assertEq(wrapped.balanceOf(carol), 1 ether);
    }

    function test_guardianCancelWorksWhilePausedAndCancelsARecovery() public {
        next(RECOVERY, bob, alice, 0, 0);
        vm.startPrank(guardian);
        gateway.pause();
        module.cancelIssuerAction(address(wrapped), 1);
        vm.stopPrank();
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
        (uint256 reserved, bool recovering) = module.issuerHold(address(wrapped), bob);
        vm.assertEq(reserved, 0);
        vm.assertFalse(recovering);
        vm.assertEq(wrapped.balanceOf(alice), 0);
    }

    /// @dev The guardian's cancelAllPending (a stolen key: every scheduled action at once) covers
    ///      the scheduled forced moves: none executes; anyone closes them, releasing the hold,
    ///      paused or not; one scheduled after the cut-off is not affected.
    function test_cancelAllPendingCancelsScheduledForcedMoves() public {
        next(FORCED, bob, carol, 40 ether, 0);
        next(FORCED, bob, carol, 10 ether, 0);
        vm.startPrank(guardian);
        gateway.pause();
        gateway.cancelAllPending();
        vm.stopPrank();
        vm.assertEq(uint8(status(1)), uint8(IssuerModule.ScheduledStatus.Cancelled), "the view shows it pending");
        vm.warp(block.timestamp + gateway.actionDelay());
        vm.expectEmit(address(gateway));
        emit IssuerActionCancelled(address(wrapped), 1, FORCED);
        vm.assertFalse(module.executeIssuerAction(address(wrapped), 1)); // while paused: only closed
        resumeNow(gateway, CHAIN_E);
        vm.assertFalse(module.executeIssuerAction(address(wrapped), 2));
        vm.assertEq(wrapped.balanceOf(carol), 0, "a cancelled forced transfer moved tokens");
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
        vm.assertTrue(module.issuerActionFailed(address(wrapped), 1));
        vm.assertTrue(module.issuerActionFailed(address(wrapped), 2));
        vm.expectRevert(abi.encodeWithSelector(IssuerModule.NoScheduledIssuerAction.selector, address(wrapped), 1));
        module.executeIssuerAction(address(wrapped), 1);
        // scheduled after the cut-off: executes
        vm.assertTrue(nextExecuted(FORCED, bob, carol, 5 ether));
        vm.assertEq(wrapped.balanceOf(carol), 5 ether);
    }

    /// @dev What the scheduled moves hold stays held: a second forced transfer takes only what the
    ///      first left, a recovery waits for the forced transfer (and the reverse), and the
    ///      issuer's partial unfreeze cannot release held tokens. Each refusal is recorded failed
    ///      in its turn, and changes nothing.
    function test_heldTokensStayHeldAgainstLaterDecisions() public {
        vm.assertTrue(next(FREEZE_PARTIAL, bob, address(0), 30 ether, 0)); // #1: the issuer's own
        vm.assertTrue(next(FORCED, bob, carol, 90 ether, 0)); // #2: holds 70 more (30 were frozen)
        vm.assertEq(wrapped.getFrozenTokens(bob), 100 ether);
        vm.assertEq(module.issuerActionScheduled(address(wrapped), 2).held, 70 ether);
        vm.expectEmit(address(gateway));
        emit IssuerActionFailed(
            address(wrapped),
            3,
            FORCED,
            abi.encodeWithSelector(IssuerModule.IssuerAmountUnavailable.selector, bob, 10 ether, 11 ether)
        );
        vm.assertFalse(next(FORCED, bob, carol, 11 ether, 0)); // #3
        vm.expectEmit(address(gateway));
        emit IssuerActionFailed(
            address(wrapped), 4, RECOVERY, abi.encodeWithSelector(IssuerModule.IssuerActionPending.selector, bob)
        );
        vm.assertFalse(next(RECOVERY, bob, alice, 0, 0)); // #4
        vm.expectEmit(address(gateway));
        emit IssuerActionFailed(
            address(wrapped),
            5,
            UNFREEZE_PARTIAL,
            abi.encodeWithSelector(IssuerModule.IssuerTokensHeld.selector, bob, 100 ether, 90 ether)
        );
        vm.assertFalse(next(UNFREEZE_PARTIAL, bob, address(0), 11 ether, 0)); // #5
        vm.assertTrue(next(UNFREEZE_PARTIAL, bob, address(0), 10 ether, 0)); // #6: not held
        vm.assertEq(wrapped.getFrozenTokens(bob), 90 ether);
        vm.assertTrue(next(FORCED, bob, carol, 10 ether, 0)); // #7: the 10 left
        vm.assertEq(wrapped.getFrozenTokens(bob), 100 ether);
        vm.warp(block.timestamp + gateway.actionDelay());
        vm.assertTrue(module.executeIssuerAction(address(wrapped), 7)); // any order
        vm.assertTrue(module.executeIssuerAction(address(wrapped), 2));
        vm.assertEq(wrapped.balanceOf(carol), 100 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
        // a recovery scheduled: no forced transfer from the wallet beside it
        vm.prank(carol);
        wrapped.transfer(bob, 50 ether);
        vm.assertTrue(next(RECOVERY, bob, alice, 0, 0)); // #8
        vm.prank(carol);
        wrapped.transfer(bob, 5 ether); // arrives after: free
        vm.assertFalse(next(FORCED, bob, carol, 5 ether, 0)); // #9
        vm.assertTrue(module.issuerActionFailed(address(wrapped), 9));
        vm.assertFalse(next(RECOVERY, bob, carol, 0, 0)); // #10: one recovery at a time
        vm.assertTrue(executeLater(8));
        vm.assertEq(wrapped.balanceOf(alice), 55 ether);
    }

    /// @dev A forced transfer of tokens the issuer froze first (the usual order: freeze, then
    ///      the court's order) holds nothing more, and the execution releases only what it takes.
    function test_forcedTransferOfFrozenTokensHoldsNothingMore() public {
        vm.assertTrue(next(FREEZE_PARTIAL, bob, address(0), 100 ether, 0));
        vm.assertTrue(next(FORCED, bob, carol, 60 ether, 0));
        vm.assertEq(module.issuerActionScheduled(address(wrapped), 2).held, 0);
        vm.assertEq(wrapped.getFrozenTokens(bob), 100 ether);
        vm.assertTrue(executeLater(2));
        vm.assertEq(wrapped.balanceOf(carol), 60 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 40 ether);
    }

    /// @dev A recovery of an empty wallet is refused at once (nothing to hold); one the token
    ///      refuses at execution (the new wallet not verified) is recorded failed, its hold released.
    function test_recoveryRefusedAtOnceOrAtExecution() public {
        vm.assertFalse(next(RECOVERY, carol, alice, 0, 0));
        vm.assertTrue(module.issuerActionFailed(address(wrapped), 1));
        vm.assertTrue(next(RECOVERY, bob, dave, 0, 0));
        vm.assertFalse(executeLater(2));
        vm.assertEq(uint8(status(2)), uint8(IssuerModule.ScheduledStatus.Failed));
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
        vm.assertEq(wrapped.balanceOf(bob), 100 ether);
    }

    // ------------------------------------------------------------------ status on the token

    function test_token_statusAndNavOnlyFromTheGateway() public {
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, owner));
        vm.prank(owner);
        wrapped.setAssetStatus(1);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, owner));
        vm.prank(owner);
        wrapped.setNav(1 ether, 1);
        vm.startPrank(address(gateway));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.InvalidAssetStatus.selector, 4));
        wrapped.setAssetStatus(4);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.InvalidNav.selector, 0, 1));
        wrapped.setNav(0, 1);
        uint256 tooBig = uint256(type(uint192).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.InvalidNav.selector, tooBig, 1));
        wrapped.setNav(tooBig, 1);
        wrapped.setNav(1 ether, 10);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.InvalidNav.selector, 2 ether, 10));
        wrapped.setNav(2 ether, 10);
        vm.stopPrank();
        vm.assertEq(wrapped.assetStatus(), 0);
        (uint256 nav, uint64 asOf) = wrapped.nav();
        vm.assertEq(nav, 1 ether);
        vm.assertEq(asOf, 10);
    }

    function test_suspended_noTransferNoBurn() public {
        setStatus(1);
        vm.assertFalse(wrapped.canTransfer(bob, carol, 1));
        vm.assertFalse(wrapped.canReceive(carol));
        vm.prank(bob);
        vm.expectRevert(WrappedToken.AssetSuspended.selector);
        wrapped.transfer(carol, 1 ether);
        vm.prank(bob);
        vm.expectRevert(WrappedToken.AssetSuspended.selector);
        gateway.burn(address(wrapped), CHAIN_C, bob, 1 ether);
    }

    // ------------------------------------------------------------------ suspended: deliveries wait in the queue

    TestAsset internal asset2;
    WrappedToken internal wrapped2;

    /// @dev A second registered pair (asset2 on C, wrapped2 on E), active, for mixed batches.
    function secondPair() internal {
        vm.chainId(CHAIN_C);
        asset2 = new TestAsset("Second", "SEC", owner);
        vm.chainId(CHAIN_E);
        wrapped2 = new WrappedToken("Wrapped Second", "wSEC", address(gateway), registryE, owner);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(asset2), address(wrapped2));
        vm.prank(owner);
        asset2.mint(alice, 1_000 ether);
        vm.prank(alice);
        asset2.approve(address(vault), type(uint256).max);
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.registerToken(CHAIN_C, address(wrapped2), address(asset2));
    }

    function lockOnC2(address recipient, uint256 amount) internal returns (QiaoEndpoint.Transfer memory t) {
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        uint64 nonce = vault.lock(address(asset2), CHAIN_E, recipient, amount);
        t = QiaoEndpoint.Transfer(CHAIN_C, CHAIN_E, nonce, address(asset2), address(wrapped2), alice, recipient, amount);
        vm.chainId(CHAIN_E);
    }

    function statusOf(QiaoEndpoint.Transfer memory t) internal view returns (QiaoEndpoint.TransferStatus) {
        return gateway.transferStatus(t.srcChainId, t.nonce);
    }

    function queueLength(address token) internal view returns (uint256 length) {
        (, length) = gateway.queueHead(token);
    }

    function inboundLevel(address token) internal view returns (uint256) {
        return gateway.rateLimit(token, QiaoEndpoint.Direction.Inbound).level;
    }

    /// @dev Attack (issue 19 review, HIGH): a suspension of one asset reverted every batch that
    ///      held a transfer of it, so a batch mixing tokens delivered none of them, and anyone
    ///      could keep a route halted by locking a little of the suspended asset in each batch.
    ///      Now the suspended token's transfers are consumed and queued (nothing charged), the
    ///      other token's delivered; released in order once the suspension is lifted.
    function test_suspended_mixedBatchDeliversTheOtherTokenAndQueuesTheSuspendedOne() public {
        secondPair();
        vm.startPrank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 50 ether, 0);
        gateway.setRateLimit(address(wrapped2), QiaoEndpoint.Direction.Inbound, 50 ether, 0);
        vm.stopPrank();
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        ts[0] = lockOnC(alice, bob, 5 ether); // the suspended asset
        ts[1] = lockOnC2(carol, 7 ether); // the other asset
        ts[2] = lockOnC(alice, carol, 3 ether); // the suspended asset again
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        setStatus(1);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferQueued(CHAIN_C, ts[0].nonce, refLeaf(ts[0]), 5 ether);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferExecuted(CHAIN_C, ts[1].nonce, carol, 7 ether);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferQueued(CHAIN_C, ts[2].nonce, refLeaf(ts[2]), 3 ether);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped2.balanceOf(carol), 7 ether, "the other token was not delivered");
        vm.assertEq(uint8(statusOf(ts[1])), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.assertEq(uint8(statusOf(ts[0])), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(uint8(statusOf(ts[2])), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(queueLength(address(wrapped)), 2);
        vm.assertEq(queueLength(address(wrapped2)), 0);
        vm.assertEq(inboundLevel(address(wrapped)), 50 ether, "a suspended transfer was charged");
        vm.assertEq(inboundLevel(address(wrapped2)), 43 ether);
        vm.assertEq(wrapped.balanceOf(bob), 100 ether);
        vm.assertEq(wrapped.totalSupply(), 100 ether);

        // while suspended a release reverts, with no effect
        vm.expectRevert(WrappedToken.AssetSuspended.selector);
        gateway.releaseQueued(ts[0]);
        vm.assertEq(uint8(statusOf(ts[0])), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(queueLength(address(wrapped)), 2);
        vm.assertEq(inboundLevel(address(wrapped)), 50 ether);

        // lifted: released in order, first in first out
        setStatus(0);
        vm.expectRevert(
            abi.encodeWithSelector(QiaoEndpoint.NotQueueHead.selector, CHAIN_C, ts[2].nonce, refLeaf(ts[0]))
        );
        gateway.releaseQueued(ts[2]);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferExecuted(CHAIN_C, ts[0].nonce, bob, 5 ether);
        gateway.releaseQueued(ts[0]);
        gateway.releaseQueued(ts[2]);
        vm.assertEq(wrapped.balanceOf(bob), 105 ether);
        vm.assertEq(wrapped.balanceOf(carol), 3 ether);
        vm.assertEq(uint8(statusOf(ts[0])), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.assertEq(uint8(statusOf(ts[2])), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.assertEq(queueLength(address(wrapped)), 0);
        vm.assertEq(inboundLevel(address(wrapped)), 42 ether);
        // the same batch again: nothing left to execute
        vm.expectRevert(
            abi.encodeWithSelector(QiaoEndpoint.BatchAlreadyExecuted.selector, CHAIN_C, ts[0].nonce, ts[2].nonce)
        );
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    /// @dev A one-token batch (the charged fast path) while suspended: queued, not charged,
    ///      not reverted; a batch after the lift waits behind it (first in, first out).
    function test_suspended_oneTokenBatchIsQueuedUnchargedAndLaterTrafficWaitsBehindIt() public {
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 50 ether, 0);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = lockOnC(alice, bob, 5 ether);
        ts[1] = lockOnC(alice, carol, 6 ether);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        setStatus(1);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertTrue(gateway.isExecuted(CHAIN_C, ts[0].nonce));
        vm.assertEq(uint8(statusOf(ts[0])), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(uint8(statusOf(ts[1])), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(inboundLevel(address(wrapped)), 50 ether, "charged while suspended");
        vm.assertEq(wrapped.totalSupply(), 100 ether);
        setStatus(0);
        // a new batch after the lift does not pass the queued ones
        QiaoEndpoint.Transfer[] memory later = one(lockOnC(alice, bob, 1 ether));
        executeOnE(later, signForGateway(later));
        vm.assertEq(uint8(statusOf(later[0])), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(queueLength(address(wrapped)), 3);
        gateway.releaseQueued(ts[0]);
        gateway.releaseQueued(ts[1]);
        gateway.releaseQueued(later[0]);
        vm.assertEq(wrapped.balanceOf(bob), 106 ether);
        vm.assertEq(wrapped.balanceOf(carol), 6 ether);
        vm.assertEq(inboundLevel(address(wrapped)), 38 ether);
    }

    /// @dev Single-transfer execution (Merkle proof) while suspended: queued the same way.
    function test_suspended_executeTransferIsQueuedAndReleasedAfterTheLift() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 5 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        setStatus(1);
        bytes32[] memory proof = new bytes32[](0);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferQueued(CHAIN_C, ts[0].nonce, refLeaf(ts[0]), 5 ether);
        gateway.executeTransfer(EPOCH, ts[0], ts[0].nonce, ts[0].nonce, proof, sig);
        vm.assertEq(uint8(statusOf(ts[0])), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.AlreadyExecuted.selector, CHAIN_C, ts[0].nonce));
        gateway.executeTransfer(EPOCH, ts[0], ts[0].nonce, ts[0].nonce, proof, sig);
        vm.expectRevert(WrappedToken.AssetSuspended.selector);
        gateway.releaseQueued(ts[0]);
        setStatus(0);
        gateway.releaseQueued(ts[0]);
        vm.assertEq(wrapped.balanceOf(bob), 105 ether);
        vm.assertEq(uint8(statusOf(ts[0])), uint8(QiaoEndpoint.TransferStatus.Delivered));
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotQueued.selector, CHAIN_C, ts[0].nonce));
        gateway.releaseQueued(ts[0]);
    }

    /// @dev Queued during a suspension, then the issuer declares a default (or maturity): the
    ///      release records it failed (refundable on C), as a delivery to a defaulted asset does.
    function test_suspended_thenDefaulted_theQueuedTransferFailsAtRelease() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 5 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        setStatus(1);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        setStatus(2);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, ts[0].nonce, QiaoEndpoint.FailureReason.TokenFrozen);
        gateway.releaseQueued(ts[0]);
        vm.assertEq(uint8(statusOf(ts[0])), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(queueLength(address(wrapped)), 0);
        vm.assertEq(wrapped.balanceOf(bob), 100 ether);
    }

    /// @dev A transfer at the challenge threshold is held, not queued, while suspended; its
    ///      release after the window (nothing of the token queued: it would be delivered)
    ///      reverts (a wait, no effect) until the suspension is lifted.
    function test_suspended_heldTransferReleaseWaitsForTheLift() public {
        vm.startPrank(owner);
        SentinelModule(address(gateway)).setChallenge(address(wrapped), 10 ether);
        SentinelModule(address(gateway)).setChallengePeriod(1 hours);
        vm.stopPrank();
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 20 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        setStatus(1);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(uint8(statusOf(ts[0])), uint8(QiaoEndpoint.TransferStatus.Queued));
        vm.assertEq(queueLength(address(wrapped)), 0, "a held transfer entered the FIFO queue");
        vm.warp(block.timestamp + 1 hours + 1);
        vm.expectRevert(WrappedToken.AssetSuspended.selector);
        gateway.releaseQueued(ts[0]);
        vm.assertTrue(SentinelModule(address(gateway)).heldUntil(CHAIN_C, ts[0].nonce) != 0, "no longer held");
        setStatus(0);
        gateway.releaseQueued(ts[0]);
        vm.assertEq(wrapped.balanceOf(bob), 120 ether);
    }

    /// @dev While suspended with a transfer of the token queued, a held transfer's release after
    ///      its window joins the queue behind it (as any held release does when the token has a
    ///      queue); both are delivered in order after the lift.
    function test_suspended_heldTransferReleasedBehindAQueueJoinsIt() public {
        vm.startPrank(owner);
        SentinelModule(address(gateway)).setChallenge(address(wrapped), 10 ether);
        SentinelModule(address(gateway)).setChallengePeriod(1 hours);
        vm.stopPrank();
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = lockOnC(alice, bob, 20 ether); // held
        ts[1] = lockOnC(alice, carol, 1 ether); // queued (suspended)
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        setStatus(1);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(queueLength(address(wrapped)), 1);
        vm.warp(block.timestamp + 1 hours + 1);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferQueued(CHAIN_C, ts[0].nonce, refLeaf(ts[0]), 20 ether);
        gateway.releaseQueued(ts[0]);
        vm.assertEq(queueLength(address(wrapped)), 2);
        vm.assertEq(SentinelModule(address(gateway)).heldUntil(CHAIN_C, ts[0].nonce), 0);
        setStatus(0);
        gateway.releaseQueued(ts[1]);
        gateway.releaseQueued(ts[0]);
        vm.assertEq(wrapped.balanceOf(bob), 120 ether);
        vm.assertEq(wrapped.balanceOf(carol), 1 ether);
    }

    /// @dev A transfer larger than the inbound capacity fails at once, suspended or not (it
    ///      could never pass, and would hold up the queue behind it).
    function test_suspended_aTransferAboveTheCapacityStillFails() public {
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 10 ether, 1 ether);
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 11 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        setStatus(1);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, ts[0].nonce, QiaoEndpoint.FailureReason.ExceedsCapacity);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(queueLength(address(wrapped)), 0);
    }

    function test_suspended_refundWaits() public {
        QiaoEndpoint.Transfer memory t = burnOnE(bob, bob, 1 ether);
        setStatus(1);
        bytes memory sig = blsSign(
            GROUP_SK,
            keccak256(abi.encode(gateway.REFUND_TYPEHASH(), "QIAO-V1", CHAIN_E, address(gateway), EPOCH, refLeaf(t)))
        );
        vm.expectRevert(WrappedToken.AssetSuspended.selector);
        gateway.refund(EPOCH, t, sig);
        vm.assertFalse(gateway.isRefunded(CHAIN_C, t.nonce), "a suspended refund was recorded");
        setStatus(0);
        gateway.refund(EPOCH, t, sig);
        vm.assertEq(wrapped.balanceOf(bob), 100 ether);
    }

    function test_defaulted_onlyRedemptionBurns() public {
        setStatus(2);
        vm.assertFalse(wrapped.canTransfer(bob, carol, 1));
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AssetNotActive.selector, 2));
        wrapped.transfer(carol, 1 ether);
        vm.prank(bob);
        wrapped.approve(carol, 1 ether);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AssetNotActive.selector, 2));
        wrapped.transferFrom(bob, carol, 1 ether);
        // redemption: the burn toward C goes
        QiaoEndpoint.Transfer memory t = burnOnE(bob, bob, 40 ether);
        vm.assertEq(wrapped.balanceOf(bob), 60 ether);
        vm.assertEq(t.amount, 40 ether);
        // a mint arriving from C fails (refunded on C), it does not revert
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 5 ether));
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, ts[0].nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(wrapped.balanceOf(bob), 60 ether);
    }

    function test_matured_burnOnly() public {
        setStatus(3);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AssetNotActive.selector, 3));
        wrapped.transfer(carol, 1 ether);
        burnOnE(bob, bob, 100 ether);
        vm.assertEq(wrapped.balanceOf(bob), 0);
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, carol, 5 ether));
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, ts[0].nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(wrapped.balanceOf(carol), 0);
    }

    function test_forcedTransferAndRecoveryStillApplyWhenNotActive() public {
        setStatus(2);
        vm.assertTrue(nextExecuted(FORCED, bob, carol, 10 ether));
        vm.assertTrue(nextExecuted(RECOVERY, bob, alice, 0));
        vm.assertEq(wrapped.balanceOf(carol), 10 ether);
        vm.assertEq(wrapped.balanceOf(alice), 90 ether);
    }
}
