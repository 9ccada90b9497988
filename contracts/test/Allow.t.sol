// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {IssuerModule} from "../src/endpoint/IssuerModule.sol";
import {KycRegistry} from "../src/KycRegistry.sol";
import {WrappedToken} from "../src/WrappedToken.sol";

/// @notice Issue 16: the allow-list carried from the consortium chain to Ethereum. The gateway
///         applies a committee-signed ALLOW ({IssuerModule-applyAllow}, behind its fallback) to
///         the registry on E as its FREEZER_ROLE; the registry keeps one `allowed` flag (the last
///         decision wins, so E's allow-list follows C's), and E's desk restricts locally with its compliance freeze,
///         which nothing carried lifts. Every refused call leaves the flag and the action nonce as
///         they were.
contract AllowTest is SignedActions {
    address internal dave = address(0xDA7E); // not on E's allow-list at the start
    address internal freezer = address(0xF12E);

    function setUp() public override {
        super.setUp();
        vm.chainId(CHAIN_E);
        vm.startPrank(owner);
        registryE.grantRole(registryE.FREEZER_ROLE(), freezer);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ helpers

    function _signAllow(address account, bool allowed) internal view returns (bytes memory) {
        return signAction(GROUP_SK, gateway, CHAIN_E, IssuerModule(address(gateway)).ALLOW_TYPEHASH(), EPOCH, abi.encode(account, allowed));
    }

    /// @dev Signs and applies a carried ALLOW for the next action nonce.
    function _carryAllow(address account, bool allowed) internal {
        IssuerModule(address(gateway)).applyAllow(EPOCH, account, allowed, _signAllow(account, allowed));
    }

    function _allowedFlag(address account) internal view returns (bool allowed) {
        (allowed,) = registryE.statusOf(account);
    }

    /// @dev The state a refused call must leave unchanged: dave's flags and the action nonce.
    function _assertUnchanged(bool allowed, uint64 actionNonce) internal view {
        vm.assertEq(_allowedFlag(dave), allowed, "a refused ALLOW changed the allow-list");
        vm.assertEq(gateway.actionNonce(), actionNonce, "a refused ALLOW consumed an action nonce");
    }

    // ------------------------------------------------------------------ the message

    function test_allowTypehash_isTheDocumentedTypeString() public view {
        vm.assertEq(
            IssuerModule(address(gateway)).ALLOW_TYPEHASH(),
            keccak256(
                "QiaoAllow(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,address account,bool allowed)"
            )
        );
        vm.assertTrue(IssuerModule(address(gateway)).ALLOW_TYPEHASH() != gateway.FREEZE_TYPEHASH());
    }

    function test_actionMessage_ofAllow_equalsTheReference() public view {
        bytes memory params = abi.encode(dave, true);
        vm.assertEq(
            gateway.actionMessage(IssuerModule(address(gateway)).ALLOW_TYPEHASH(), EPOCH, params),
            refActionMessage(IssuerModule(address(gateway)).ALLOW_TYPEHASH(), CHAIN_E, address(gateway), EPOCH, gateway.actionNonce(), params)
        );
    }

    // ------------------------------------------------------------------ applying it

    function test_applyAllow_setsTheFlag_withACommitteeSignature_andEmits() public {
        uint64 nonce = gateway.actionNonce();
        vm.assertFalse(registryE.isAllowed(dave));
        bytes memory sig = _signAllow(dave, true);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.SignedActionApplied(IssuerModule(address(gateway)).ALLOW_TYPEHASH(), nonce, EPOCH);
        vm.expectEmit(address(registryE));
        emit KycRegistry.AllowedSet(dave, true, address(gateway));
        vm.prank(alice); // anyone may submit it
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, sig);
        vm.assertTrue(registryE.isAllowed(dave));
        vm.assertEq(gateway.actionNonce(), nonce + 1);
        vm.assertTrue(wrapped.canReceive(dave));
        // a carried disallow removes the account the same way
        _carryAllow(dave, false);
        vm.assertFalse(registryE.isAllowed(dave));
        vm.assertFalse(_allowedFlag(dave));
        vm.assertEq(gateway.actionNonce(), nonce + 2);
    }

    function test_applyAllow_worksWhilePaused() public {
        vm.prank(guardian);
        gateway.pause();
        _carryAllow(dave, true);
        vm.assertTrue(registryE.isAllowed(dave));
    }

    function test_carriedDisallow_stopsAMintToTheHolder_whichIsRecordedAsFailed() public {
        _carryAllow(carol, false);
        QiaoEndpoint.Transfer memory t = lockOnC(alice, carol, 1 ether);
        executeOnE(one(t), signForGateway(one(t)));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, t.nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(wrapped.balanceOf(carol), 0);
    }

    // ------------------------------------------------------------------ refused: the signature

    function test_applyAllow_refusesASignatureByAnotherKey() public {
        uint64 nonce = gateway.actionNonce();
        bytes memory forged =
            signAction(OTHER_SK, gateway, CHAIN_E, IssuerModule(address(gateway)).ALLOW_TYPEHASH(), EPOCH, abi.encode(dave, true));
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, forged);
        _assertUnchanged(false, nonce);
    }

    function test_applyAllow_refusesASignatureOfOtherFields() public {
        uint64 nonce = gateway.actionNonce();
        bytes memory sig = _signAllow(dave, true);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, carol, true, sig); // another account
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, false, sig); // the other flag
        _assertUnchanged(false, nonce);
        vm.assertTrue(registryE.isAllowed(carol));
    }

    function test_freezeAndAllowSignatures_areNotInterchangeable() public {
        uint64 nonce = gateway.actionNonce();
        bytes memory params = abi.encode(dave, true);
        bytes memory freezeSig = signAction(GROUP_SK, gateway, CHAIN_E, gateway.FREEZE_TYPEHASH(), EPOCH, params);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, freezeSig);
        bytes memory allowSig = _signAllow(dave, true);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyFreeze(EPOCH, dave, true, allowSig);
        _assertUnchanged(false, nonce);
        (bool compliance, bool bridge) = registryE.freezesOf(dave);
        vm.assertFalse(compliance || bridge);
    }

    function test_applyAllow_refusesASignatureForAnotherChainOrEndpoint() public {
        uint64 nonce = gateway.actionNonce();
        bytes memory params = abi.encode(dave, true);
        bytes32 allowType = IssuerModule(address(gateway)).ALLOW_TYPEHASH();
        bytes memory otherChain = blsSign(
            GROUP_SK, refActionMessage(allowType, CHAIN_C, address(gateway), EPOCH, gateway.actionNonce(), params)
        );
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, otherChain);
        bytes memory otherEndpoint = blsSign(
            GROUP_SK, refActionMessage(allowType, CHAIN_E, address(vault), EPOCH, gateway.actionNonce(), params)
        );
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, otherEndpoint);
        _assertUnchanged(false, nonce);
    }

    function test_applyAllow_refusesAKeyEpochOtherThanTheCurrentOne() public {
        uint64 nonce = gateway.actionNonce();
        bytes memory sig = _signAllow(dave, true);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotCurrentKeyEpoch.selector, uint64(2)));
        IssuerModule(address(gateway)).applyAllow(2, dave, true, sig);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.NotCurrentKeyEpoch.selector, uint64(0)));
        IssuerModule(address(gateway)).applyAllow(0, dave, true, sig);
        _assertUnchanged(false, nonce);
    }

    function test_applyAllow_replayIsRefused_theNonceWasConsumed() public {
        bytes memory sig = _signAllow(dave, true);
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, sig);
        uint64 nonce = gateway.actionNonce();
        // the desk removes dave; replaying the carried allow must not put him back
        vm.prank(owner);
        registryE.setAllowed(dave, false);
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, sig);
        _assertUnchanged(false, nonce);
    }

    function test_applyAllow_signatureVoidedByAnotherActionTakingItsNonce() public {
        bytes memory sig = _signAllow(dave, true);
        _carryAllow(carol, false); // consumes the nonce the first signature was made for
        uint64 nonce = gateway.actionNonce();
        vm.expectRevert(QiaoEndpoint.InvalidSignature.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, sig);
        _assertUnchanged(false, nonce);
    }

    function test_applyAllow_refusesTheZeroAccount() public {
        uint64 nonce = gateway.actionNonce();
        bytes memory sig = _signAllow(address(0), true);
        vm.expectRevert(QiaoEndpoint.ZeroAddress.selector);
        IssuerModule(address(gateway)).applyAllow(EPOCH, address(0), true, sig);
        vm.assertEq(gateway.actionNonce(), nonce);
        vm.assertFalse(_allowedFlag(address(0)));
    }

    function test_applyAllow_withoutTheFreezerRole_revertsAndConsumesNothing() public {
        vm.startPrank(owner);
        registryE.revokeRole(registryE.FREEZER_ROLE(), address(gateway));
        vm.stopPrank();
        uint64 nonce = gateway.actionNonce();
        bytes memory sig = _signAllow(dave, true);
        vm.expectRevert(
            abi.encodeWithSelector(
                IAccessControl.AccessControlUnauthorizedAccount.selector, address(gateway), registryE.COMPLIANCE_ROLE()
            )
        );
        IssuerModule(address(gateway)).applyAllow(EPOCH, dave, true, sig);
        _assertUnchanged(false, nonce);
    }

    // ------------------------------------------------------------------ the registry's roles

    function test_setAllowed_refusedToACallerWithNeitherRole() public {
        bytes32 compliance = registryE.COMPLIANCE_ROLE();
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, alice, compliance)
        );
        registryE.setAllowed(dave, true);
        vm.assertFalse(_allowedFlag(dave));
    }

    function test_freezerMaySetAllowed_oneAtATime_notInBulk() public {
        vm.expectEmit(address(registryE));
        emit KycRegistry.AllowedSet(dave, true, freezer);
        vm.prank(freezer);
        registryE.setAllowed(dave, true);
        vm.assertTrue(registryE.isAllowed(dave));
        address[] memory many = new address[](1);
        many[0] = carol;
        bytes32 compliance = registryE.COMPLIANCE_ROLE();
        vm.prank(freezer);
        vm.expectRevert(
            abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, freezer, compliance)
        );
        registryE.setAllowedBatch(many, false);
        vm.assertTrue(registryE.isAllowed(carol));
    }

    function test_freezerSetAllowed_refusesTheZeroAccount() public {
        vm.prank(freezer);
        vm.expectRevert(KycRegistry.KycZeroAddress.selector);
        registryE.setAllowed(address(0), true);
    }

    // ------------------------------------------------------------------ which wins

    /// A restriction wins: a carried allow sets the flag but never lifts E's compliance freeze.
    function test_carriedAllow_neverLiftsAComplianceFreeze() public {
        vm.startPrank(owner);
        registryE.setFrozen(dave, true); // E's desk
        vm.stopPrank();
        _carryAllow(dave, true);
        vm.assertTrue(_allowedFlag(dave));
        vm.assertFalse(registryE.isAllowed(dave), "a carried allow lifted the compliance freeze");
        (bool compliance,) = registryE.freezesOf(dave);
        vm.assertTrue(compliance);
        vm.assertFalse(wrapped.canReceive(dave));
        // carried again (allow, disallow, allow) and unfreezes from C: still frozen by the desk
        _carryAllow(dave, false);
        _carryAllow(dave, true);
        IssuerModule(address(gateway)).applyFreeze(
            EPOCH,
            dave,
            false,
            signAction(GROUP_SK, gateway, CHAIN_E, gateway.FREEZE_TYPEHASH(), EPOCH, abi.encode(dave, false))
        );
        vm.assertFalse(registryE.isAllowed(dave));
        // only the desk lifts its own freeze
        vm.prank(owner);
        registryE.setFrozen(dave, false);
        vm.assertTrue(registryE.isAllowed(dave));
    }

    function test_carriedAllow_neverLiftsABridgeFreeze() public {
        IssuerModule(address(gateway)).applyFreeze(
            EPOCH,
            dave,
            true,
            signAction(GROUP_SK, gateway, CHAIN_E, gateway.FREEZE_TYPEHASH(), EPOCH, abi.encode(dave, true))
        );
        _carryAllow(dave, true);
        vm.assertTrue(_allowedFlag(dave));
        vm.assertFalse(registryE.isAllowed(dave));
        (, bool bridge) = registryE.freezesOf(dave);
        vm.assertTrue(bridge);
    }

    /// The allow-list follows C: a desk edit on E holds only until the next carried change.
    function test_deskSetAllowedOnE_isOverwrittenByTheNextCarriedChange() public {
        _carryAllow(dave, true);
        vm.prank(owner);
        registryE.setAllowed(dave, false); // E's desk removes him locally
        vm.assertFalse(registryE.isAllowed(dave));
        _carryAllow(dave, true); // C decides again
        vm.assertTrue(registryE.isAllowed(dave), "the carried decision did not win over the desk's edit");
        // and the other way round: the desk allows someone C has removed
        vm.prank(owner);
        registryE.setAllowed(carol, true);
        _carryAllow(carol, false);
        vm.assertFalse(registryE.isAllowed(carol));
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, carol));
        // forge-lint: disable-next-line(erc20-unchecked-transfer) -- reverts
        wrapped.transfer(bob, 1);
    }

    function test_lastCarriedDecisionWins() public {
        _carryAllow(dave, true);
        _carryAllow(dave, false);
        vm.assertFalse(_allowedFlag(dave));
        _carryAllow(dave, true);
        vm.assertTrue(_allowedFlag(dave));
    }
}
