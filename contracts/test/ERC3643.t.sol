// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BridgeFixture} from "./lib/BridgeFixture.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {WrappedToken} from "../src/WrappedToken.sol";
import {KycRegistry} from "../src/KycRegistry.sol";
import {IAgentRole, IERC3643, IERC3643Verifier} from "../src/interfaces/IERC3643.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";

/// @title ERC3643Test
/// @notice The ERC-3643 (T-REX) interface of WrappedToken: agent roles, pause, wallet and partial
///         freezes, forced transfers, recovery, the batch forms, the identity registry view of
///         KycRegistry and the ERC-165 ids; every state change with its refusals (role, frozen,
///         paused, amounts above the free balance, zero address), and the bridge's rules kept
///         (only the gateway mints and burns; a frozen part of a balance is not burnt toward C).
contract ERC3643Test is BridgeFixture {
    address internal agent = address(0xA6E47);
    address internal stranger = address(0x5712A);
    address internal dave = address(0xDA7E); // never allowed

    bytes32 internal agentRole;

    function setUp() public override {
        super.setUp();
        agentRole = wrapped.AGENT_ROLE();
        vm.prank(owner);
        wrapped.addAgent(agent);
        vm.chainId(CHAIN_E);
        give(bob, 10 ether);
    }

    /// @dev Mints through the gateway's own entry point (as a refund would).
    function give(address to, uint256 amount) internal {
        vm.prank(address(gateway));
        wrapped.mint(to, amount);
    }

    function unauthorized(address who, bytes32 role) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IAccessControl.AccessControlUnauthorizedAccount.selector, who, role);
    }

    function sel(string memory signature) internal pure returns (bytes4) {
        return bytes4(keccak256(bytes(signature)));
    }

    function pair(address a) internal pure returns (address[] memory xs) {
        xs = new address[](1);
        xs[0] = a;
    }

    function amounts1(uint256 a) internal pure returns (uint256[] memory xs) {
        xs = new uint256[](1);
        xs[0] = a;
    }

    // ------------------------------------------------------------------ ERC-165

    /// @dev The ids are rebuilt from the standard's function signatures, not from the contract's
    ///      interface file, so a missing or misspelt function in it fails here.
    function test_erc165_ids_match_the_standard() public view {
        string[28] memory fns = [
            "onchainID()",
            "version()",
            "identityRegistry()",
            "compliance()",
            "paused()",
            "isFrozen(address)",
            "getFrozenTokens(address)",
            "setName(string)",
            "setSymbol(string)",
            "setOnchainID(address)",
            "pause()",
            "unpause()",
            "setAddressFrozen(address,bool)",
            "freezePartialTokens(address,uint256)",
            "unfreezePartialTokens(address,uint256)",
            "setIdentityRegistry(address)",
            "setCompliance(address)",
            "forcedTransfer(address,address,uint256)",
            "mint(address,uint256)",
            "burn(address,uint256)",
            "recoveryAddress(address,address,address)",
            "batchTransfer(address[],uint256[])",
            "batchForcedTransfer(address[],address[],uint256[])",
            "batchMint(address[],uint256[])",
            "batchBurn(address[],uint256[])",
            "batchSetAddressFrozen(address[],bool[])",
            "batchFreezePartialTokens(address[],uint256[])",
            "batchUnfreezePartialTokens(address[],uint256[])"
        ];
        bytes4 id;
        for (uint256 i; i < fns.length; ++i) {
            id ^= sel(fns[i]);
        }
        vm.assertEq(bytes32(id), bytes32(type(IERC3643).interfaceId));
        vm.assertTrue(wrapped.supportsInterface(id), "IERC3643");
        bytes4 agents = sel("addAgent(address)") ^ sel("removeAgent(address)") ^ sel("isAgent(address)");
        vm.assertEq(bytes32(agents), bytes32(type(IAgentRole).interfaceId));
        vm.assertTrue(wrapped.supportsInterface(agents), "IAgentRole");
        vm.assertTrue(wrapped.supportsInterface(0x36372b07), "IERC20");
        vm.assertTrue(wrapped.supportsInterface(0xa219a025), "IERC20Metadata");
        vm.assertTrue(wrapped.supportsInterface(0x7965db0b), "IAccessControl");
        vm.assertTrue(wrapped.supportsInterface(0x01ffc9a7), "IERC165");
        vm.assertFalse(wrapped.supportsInterface(0xffffffff), "0xffffffff");
        vm.assertFalse(wrapped.supportsInterface(id ^ sel("batchMint(address[],uint256[])")), "a partial id");

        bytes4 verifier = sel("isVerified(address)") ^ sel("contains(address)");
        vm.assertEq(bytes32(verifier), bytes32(type(IERC3643Verifier).interfaceId));
        vm.assertTrue(registryE.supportsInterface(verifier), "registry: IERC3643Verifier");
        vm.assertTrue(registryE.supportsInterface(0x7965db0b), "registry: IAccessControl");
        vm.assertFalse(registryE.supportsInterface(0xffffffff));
    }

    // ------------------------------------------------------------------ identity registry, views

    function test_identityRegistry_is_the_kyc_registry() public {
        vm.assertEq(wrapped.identityRegistry(), address(registryE));
        vm.assertEq(wrapped.compliance(), address(wrapped));
        vm.assertEq(wrapped.version(), "qiao-erc3643-1");
        vm.assertTrue(registryE.isVerified(bob));
        vm.assertTrue(registryE.contains(bob));
        vm.assertFalse(registryE.isVerified(dave));
        vm.assertFalse(registryE.contains(dave));
        vm.assertFalse(registryE.isVerified(address(0)));
        // a registry freeze: still listed, no longer verified
        vm.prank(owner);
        registryE.setFrozen(bob, true);
        vm.assertTrue(registryE.contains(bob));
        vm.assertFalse(registryE.isVerified(bob));
        vm.assertFalse(wrapped.isFrozen(bob), "the token's own wallet freeze is separate");
        vm.assertFalse(wrapped.canTransfer(bob, carol, 1));
    }

    function test_fixed_registry_and_compliance() public {
        vm.prank(owner);
        vm.expectRevert(WrappedToken.FixedAtDeployment.selector);
        wrapped.setIdentityRegistry(address(registryC));
        vm.prank(owner);
        vm.expectRevert(WrappedToken.FixedAtDeployment.selector);
        wrapped.setCompliance(address(1));
        vm.assertEq(wrapped.identityRegistry(), address(registryE));
    }

    function test_token_information_owner_only() public {
        vm.assertEq(wrapped.name(), "Wrapped Consortium Bond");
        vm.assertEq(wrapped.symbol(), "wCBOND");
        vm.expectEmit(address(wrapped));
        emit IERC3643.UpdatedTokenInformation("Bond", "wCBOND", 18, "qiao-erc3643-1", address(0));
        vm.prank(owner);
        wrapped.setName("Bond");
        vm.prank(owner);
        wrapped.setSymbol("wB");
        vm.prank(owner);
        wrapped.setOnchainID(address(0x1D));
        vm.assertEq(wrapped.name(), "Bond");
        vm.assertEq(wrapped.symbol(), "wB");
        vm.assertEq(wrapped.onchainID(), address(0x1D));

        bytes32 adminRole = wrapped.DEFAULT_ADMIN_ROLE();
        vm.prank(agent);
        vm.expectRevert(unauthorized(agent, adminRole));
        wrapped.setName("X");
        vm.prank(agent);
        vm.expectRevert(unauthorized(agent, adminRole));
        wrapped.setSymbol("X");
        vm.prank(agent);
        vm.expectRevert(unauthorized(agent, adminRole));
        wrapped.setOnchainID(address(1));
        vm.startPrank(owner);
        vm.expectRevert(WrappedToken.EmptyString.selector);
        wrapped.setName("");
        vm.expectRevert(WrappedToken.EmptyString.selector);
        wrapped.setSymbol("");
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ agents

    function test_agents_added_and_removed_by_the_owner_only() public {
        vm.assertTrue(wrapped.isAgent(owner), "the admin is an agent from the start");
        vm.assertTrue(wrapped.isAgent(agent));
        vm.assertFalse(wrapped.isAgent(stranger));
        bytes32 adminRole = wrapped.DEFAULT_ADMIN_ROLE();

        vm.prank(agent);
        vm.expectRevert(unauthorized(agent, adminRole));
        wrapped.addAgent(stranger);
        vm.prank(agent);
        vm.expectRevert(unauthorized(agent, adminRole));
        wrapped.removeAgent(owner);

        vm.startPrank(owner);
        vm.expectRevert(WrappedToken.ZeroAccount.selector);
        wrapped.addAgent(address(0));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AlreadyAgent.selector, agent));
        wrapped.addAgent(agent);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAgent.selector, stranger));
        wrapped.removeAgent(stranger);

        vm.expectEmit(address(wrapped));
        emit IAgentRole.AgentAdded(stranger);
        wrapped.addAgent(stranger);
        vm.assertTrue(wrapped.isAgent(stranger));
        vm.expectEmit(address(wrapped));
        emit IAgentRole.AgentRemoved(stranger);
        wrapped.removeAgent(stranger);
        vm.assertFalse(wrapped.isAgent(stranger));
        // AccessControl's own path emits the ERC-3643 events too
        vm.expectEmit(address(wrapped));
        emit IAgentRole.AgentAdded(carol);
        wrapped.grantRole(agentRole, carol);
        vm.stopPrank();

        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.pause();
    }

    function test_the_gateway_is_no_agent_and_agents_do_not_mint_or_burn() public {
        vm.assertFalse(wrapped.isAgent(address(gateway)));
        vm.startPrank(agent);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, agent));
        wrapped.mint(bob, 1);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, agent));
        wrapped.burn(bob, 1);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, agent));
        wrapped.batchMint(pair(bob), amounts1(1));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, agent));
        wrapped.batchBurn(pair(bob), amounts1(1));
        vm.stopPrank();
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, owner));
        wrapped.batchMint(pair(bob), amounts1(1));
        vm.assertEq(wrapped.totalSupply(), 10 ether);
    }

    // ------------------------------------------------------------------ pause

    function test_pause_and_unpause() public {
        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.pause();
        vm.expectEmit(address(wrapped));
        emit WrappedToken.TokenFrozenSet(true, agent);
        vm.expectEmit(address(wrapped));
        emit IERC3643.Paused(agent);
        vm.prank(agent);
        wrapped.pause();
        vm.assertTrue(wrapped.paused());
        vm.assertTrue(wrapped.frozen(), "pause is the whole-token freeze");
        vm.prank(agent);
        vm.expectRevert(WrappedToken.AlreadyPaused.selector);
        wrapped.pause();

        // nothing moves while paused: transfer, gateway burn, forced transfer, recovery; mints are refused
        vm.prank(bob);
        vm.expectRevert(WrappedToken.TokenIsFrozen.selector);
        wrapped.transfer(carol, 1);
        vm.prank(address(gateway));
        vm.expectRevert(WrappedToken.TokenIsFrozen.selector);
        wrapped.burn(bob, 1);
        vm.prank(address(gateway));
        vm.assertEq(wrapped.mintChecked(bob, 1), wrapped.TOKEN_FROZEN());
        vm.startPrank(agent);
        vm.expectRevert(WrappedToken.TokenIsFrozen.selector);
        wrapped.forcedTransfer(bob, carol, 1);
        vm.expectRevert(WrappedToken.TokenIsFrozen.selector);
        wrapped.recoveryAddress(bob, carol, address(0));
        vm.assertFalse(wrapped.canTransfer(bob, carol, 1));
        // freezes do not move tokens: allowed while paused
        wrapped.freezePartialTokens(bob, 1 ether);
        wrapped.setAddressFrozen(carol, true);

        vm.stopPrank();
        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.unpause();
        vm.expectEmit(address(wrapped));
        emit IERC3643.Unpaused(agent);
        vm.prank(agent);
        wrapped.unpause();
        vm.assertFalse(wrapped.paused());
        vm.prank(agent);
        vm.expectRevert(WrappedToken.NotPaused.selector);
        wrapped.unpause();
        vm.prank(bob);
        wrapped.transfer(alice, 1);
    }

    function test_setFrozen_of_the_compliance_role_is_the_same_flag() public {
        vm.expectEmit(address(wrapped));
        emit IERC3643.Paused(owner);
        vm.prank(owner);
        wrapped.setFrozen(true);
        vm.assertTrue(wrapped.paused());
        vm.prank(agent);
        wrapped.unpause();
        vm.assertFalse(wrapped.frozen());
        // an agent without COMPLIANCE_ROLE cannot use setFrozen
        bytes32 complianceRole = wrapped.COMPLIANCE_ROLE();
        vm.prank(agent);
        vm.expectRevert(unauthorized(agent, complianceRole));
        wrapped.setFrozen(true);
    }

    // ------------------------------------------------------------------ wallet freeze

    function test_setAddressFrozen_stops_sending_and_receiving() public {
        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.setAddressFrozen(bob, true);
        vm.prank(agent);
        vm.expectRevert(WrappedToken.ZeroAccount.selector);
        wrapped.setAddressFrozen(address(0), true);

        vm.expectEmit(address(wrapped));
        emit IERC3643.AddressFrozen(bob, true, agent);
        vm.prank(agent);
        wrapped.setAddressFrozen(bob, true);
        vm.assertTrue(wrapped.isFrozen(bob));
        vm.assertFalse(wrapped.canReceive(bob));
        vm.assertFalse(wrapped.canTransfer(bob, carol, 1));
        vm.assertTrue(registryE.isVerified(bob), "the registry is untouched");

        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AddressIsFrozen.selector, bob));
        wrapped.transfer(carol, 1);
        give(carol, 1 ether);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AddressIsFrozen.selector, bob));
        wrapped.transfer(bob, 1);
        // transferFrom with an allowance is refused as well
        vm.prank(bob);
        wrapped.approve(carol, 1 ether);
        vm.prank(carol);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AddressIsFrozen.selector, bob));
        wrapped.transferFrom(bob, carol, 1);
        // the gateway can neither burn from it nor deliver to it
        vm.prank(address(gateway));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AddressIsFrozen.selector, bob));
        wrapped.burn(bob, 1);
        vm.prank(address(gateway));
        vm.assertEq(wrapped.mintChecked(bob, 1), wrapped.RECIPIENT_NOT_ALLOWED());
        vm.prank(address(gateway));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AddressIsFrozen.selector, bob));
        wrapped.mint(bob, 1);

        vm.prank(agent);
        wrapped.setAddressFrozen(bob, false);
        vm.assertFalse(wrapped.isFrozen(bob));
        vm.prank(bob);
        wrapped.transfer(carol, 1);
        vm.prank(carol);
        wrapped.transfer(bob, 1);
    }

    /// @dev A bridge delivery to a wallet frozen on the token is recorded as failed (refundable
    ///      on C), in the same batch as one delivered to a wallet that is not.
    function test_bridge_batch_refuses_a_frozen_wallet_and_delivers_the_others() public {
        vm.prank(agent);
        wrapped.setAddressFrozen(carol, true);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](2);
        ts[0] = lockOnC(alice, carol, 1 ether);
        ts[1] = lockOnC(alice, bob, 2 ether);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, ts[0].nonce, QiaoEndpoint.FailureReason.RecipientNotAllowed);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.balanceOf(carol), 0);
        vm.assertEq(wrapped.balanceOf(bob), 12 ether);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, ts[0].nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
    }

    // ------------------------------------------------------------------ partial freeze

    function test_freezePartialTokens_limits_transfers_to_the_free_balance() public {
        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.freezePartialTokens(bob, 1);
        vm.startPrank(agent);
        vm.expectRevert(WrappedToken.ZeroAccount.selector);
        wrapped.freezePartialTokens(address(0), 1);
        vm.expectRevert(WrappedToken.ZeroAmount.selector);
        wrapped.freezePartialTokens(bob, 0);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 11 ether, 10 ether));
        wrapped.freezePartialTokens(bob, 11 ether);

        vm.expectEmit(address(wrapped));
        emit IERC3643.TokensFrozen(bob, 6 ether);
        wrapped.freezePartialTokens(bob, 6 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 6 ether);
        // a second freeze only from what is still free
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 5 ether, 4 ether));
        wrapped.freezePartialTokens(bob, 5 ether);
        vm.stopPrank();

        vm.assertTrue(wrapped.canTransfer(bob, carol, 4 ether));
        vm.assertFalse(wrapped.canTransfer(bob, carol, 4 ether + 1));
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 4 ether + 1, 4 ether));
        wrapped.transfer(carol, 4 ether + 1);
        vm.prank(bob);
        wrapped.transfer(carol, 4 ether);
        vm.assertEq(wrapped.balanceOf(bob), 6 ether);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 1, 0));
        wrapped.transfer(carol, 1);
        // receiving is not limited
        vm.prank(carol);
        wrapped.transfer(bob, 1 ether);
        vm.prank(bob);
        wrapped.transfer(carol, 1 ether);
    }

    function test_unfreezePartialTokens() public {
        vm.prank(agent);
        wrapped.freezePartialTokens(bob, 6 ether);
        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.unfreezePartialTokens(bob, 1);
        vm.startPrank(agent);
        vm.expectRevert(WrappedToken.ZeroAccount.selector);
        wrapped.unfreezePartialTokens(address(0), 1);
        vm.expectRevert(WrappedToken.ZeroAmount.selector);
        wrapped.unfreezePartialTokens(bob, 0);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFrozen.selector, bob, 7 ether, 6 ether));
        wrapped.unfreezePartialTokens(bob, 7 ether);
        vm.expectEmit(address(wrapped));
        emit IERC3643.TokensUnfrozen(bob, 2 ether);
        wrapped.unfreezePartialTokens(bob, 2 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 4 ether);
        wrapped.unfreezePartialTokens(bob, 4 ether);
        vm.stopPrank();
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
        vm.prank(bob);
        wrapped.transfer(carol, 10 ether);
    }

    /// @dev The bridge's rule: the gateway's burn (start of E -> C) only takes the free balance.
    function test_burn_toward_C_takes_only_the_free_balance() public {
        vm.prank(agent);
        wrapped.freezePartialTokens(bob, 7 ether);
        vm.chainId(CHAIN_E);
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 4 ether, 3 ether));
        gateway.burn(address(wrapped), CHAIN_C, bob, 4 ether);
        burnOnE(bob, bob, 3 ether);
        vm.assertEq(wrapped.balanceOf(bob), 7 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 7 ether);
        vm.prank(address(gateway));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 1, 0));
        wrapped.burn(bob, 1);
    }

    // ------------------------------------------------------------------ forced transfer

    function test_forcedTransfer_releases_frozen_tokens_as_needed() public {
        vm.startPrank(agent);
        wrapped.freezePartialTokens(bob, 8 ether);
        wrapped.setAddressFrozen(bob, true);
        // free 2: forcing 5 releases 3, emitted before the Transfer
        vm.expectEmit(address(wrapped));
        emit IERC3643.TokensUnfrozen(bob, 3 ether);
        vm.assertTrue(wrapped.forcedTransfer(bob, carol, 5 ether));
        vm.stopPrank();
        vm.assertEq(wrapped.balanceOf(bob), 5 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 5 ether, "what is left is frozen");
        vm.assertEq(wrapped.balanceOf(carol), 5 ether);
        vm.assertTrue(wrapped.isFrozen(bob), "the wallet freeze stays");
        vm.assertEq(wrapped.totalSupply(), 10 ether, "neither mints nor burns");
        // within the free balance: nothing released
        vm.prank(agent);
        wrapped.unfreezePartialTokens(bob, 1 ether);
        vm.prank(agent);
        wrapped.forcedTransfer(bob, carol, 1 ether);
        vm.assertEq(wrapped.getFrozenTokens(bob), 4 ether);
    }

    function test_forcedTransfer_moves_from_a_registry_frozen_or_delisted_holder() public {
        vm.startPrank(owner);
        registryE.setFrozen(bob, true);
        vm.stopPrank();
        vm.prank(agent);
        wrapped.forcedTransfer(bob, carol, 1 ether);
        vm.prank(owner);
        registryE.setAllowed(bob, false);
        vm.prank(agent);
        wrapped.forcedTransfer(bob, carol, 1 ether);
        vm.assertEq(wrapped.balanceOf(carol), 2 ether);
    }

    function test_forcedTransfer_refusals() public {
        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.forcedTransfer(bob, carol, 1);
        vm.prank(address(gateway));
        vm.expectRevert(unauthorized(address(gateway), agentRole));
        wrapped.forcedTransfer(bob, carol, 1);
        vm.startPrank(agent);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, dave));
        wrapped.forcedTransfer(bob, dave, 1);
        vm.expectRevert(WrappedToken.ZeroAccount.selector);
        wrapped.forcedTransfer(bob, address(0), 1);
        vm.expectRevert(WrappedToken.ZeroAccount.selector);
        wrapped.forcedTransfer(address(0), carol, 1);
        vm.expectRevert(WrappedToken.ZeroAmount.selector);
        wrapped.forcedTransfer(bob, carol, 0);
        vm.expectRevert(
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, bob, 10 ether, 10 ether + 1)
        );
        wrapped.forcedTransfer(bob, carol, 10 ether + 1);
        vm.stopPrank();
        vm.prank(owner);
        registryE.setFrozen(carol, true);
        vm.prank(agent);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, carol));
        wrapped.forcedTransfer(bob, carol, 1);
        vm.assertEq(wrapped.balanceOf(bob), 10 ether);
    }

    // ------------------------------------------------------------------ recovery

    function test_recoveryAddress_moves_balance_and_freezes() public {
        address fresh = address(0xF2E5);
        vm.prank(owner);
        registryE.setAllowed(fresh, true);
        vm.startPrank(agent);
        wrapped.freezePartialTokens(bob, 4 ether);
        wrapped.setAddressFrozen(bob, true);
        vm.expectEmit(address(wrapped));
        emit IERC3643.TokensUnfrozen(bob, 4 ether);
        vm.expectEmit(address(wrapped));
        emit IERC3643.TokensFrozen(fresh, 4 ether);
        vm.expectEmit(address(wrapped));
        emit IERC3643.AddressFrozen(fresh, true, agent);
        vm.expectEmit(address(wrapped));
        emit IERC3643.RecoverySuccess(bob, fresh, address(0x1D));
        vm.assertTrue(wrapped.recoveryAddress(bob, fresh, address(0x1D)));
        vm.stopPrank();
        vm.assertEq(wrapped.balanceOf(bob), 0);
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
        vm.assertEq(wrapped.balanceOf(fresh), 10 ether);
        vm.assertEq(wrapped.getFrozenTokens(fresh), 4 ether);
        vm.assertTrue(wrapped.isFrozen(fresh));
        vm.assertEq(wrapped.totalSupply(), 10 ether);
    }

    function test_recoveryAddress_refusals() public {
        address fresh = address(0xF2E5); // not on the allow-list yet
        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.recoveryAddress(bob, carol, address(0));
        vm.startPrank(agent);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, fresh));
        wrapped.recoveryAddress(bob, fresh, address(0));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NoTokenToRecover.selector, carol));
        wrapped.recoveryAddress(carol, bob, address(0));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.SameWallet.selector, bob));
        wrapped.recoveryAddress(bob, bob, address(0));
        vm.expectRevert(WrappedToken.ZeroAccount.selector);
        wrapped.recoveryAddress(bob, address(0), address(0));
        vm.expectRevert(WrappedToken.ZeroAccount.selector);
        wrapped.recoveryAddress(address(0), bob, address(0));
        vm.stopPrank();
        vm.assertEq(wrapped.balanceOf(bob), 10 ether);
    }

    // ------------------------------------------------------------------ batches

    function test_batchTransfer() public {
        address[] memory to = new address[](2);
        to[0] = carol;
        to[1] = alice;
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = 1 ether;
        amounts[1] = 2 ether;
        vm.prank(bob);
        wrapped.batchTransfer(to, amounts);
        vm.assertEq(wrapped.balanceOf(carol), 1 ether);
        vm.assertEq(wrapped.balanceOf(alice), 2 ether);

        vm.startPrank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.LengthMismatch.selector, 2, 1));
        wrapped.batchTransfer(to, amounts1(1));
        vm.expectRevert(WrappedToken.EmptyBatch.selector);
        wrapped.batchTransfer(new address[](0), new uint256[](0));
        // all or nothing: the second entry goes to a wallet that is not allowed
        to[1] = dave;
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, dave));
        wrapped.batchTransfer(to, amounts);
        vm.stopPrank();
        vm.assertEq(wrapped.balanceOf(carol), 1 ether);
        // the free balance bounds the sum
        vm.prank(agent);
        wrapped.freezePartialTokens(bob, 6 ether);
        to[1] = carol;
        amounts[0] = 0.5 ether;
        amounts[1] = 0.5 ether + 1;
        vm.prank(bob);
        vm.expectRevert(
            abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, 0.5 ether + 1, 0.5 ether)
        );
        wrapped.batchTransfer(to, amounts);
    }

    function test_batchForcedTransfer() public {
        give(carol, 4 ether);
        address[] memory from = new address[](2);
        from[0] = bob;
        from[1] = carol;
        address[] memory to = new address[](2);
        to[0] = alice;
        to[1] = alice;
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = 3 ether;
        amounts[1] = 4 ether;
        vm.prank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.batchForcedTransfer(from, to, amounts);
        vm.startPrank(agent);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.LengthMismatch.selector, 2, 1));
        wrapped.batchForcedTransfer(from, pair(alice), amounts);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.LengthMismatch.selector, 2, 1));
        wrapped.batchForcedTransfer(from, to, amounts1(1));
        vm.expectRevert(WrappedToken.EmptyBatch.selector);
        wrapped.batchForcedTransfer(new address[](0), new address[](0), new uint256[](0));
        to[1] = dave;
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, dave));
        wrapped.batchForcedTransfer(from, to, amounts);
        to[1] = alice;
        wrapped.batchForcedTransfer(from, to, amounts);
        vm.stopPrank();
        vm.assertEq(wrapped.balanceOf(alice), 7 ether);
        vm.assertEq(wrapped.balanceOf(carol), 0);
    }

    function test_batch_freezes() public {
        give(carol, 4 ether);
        address[] memory who = new address[](2);
        who[0] = bob;
        who[1] = carol;
        bool[] memory flags = new bool[](2);
        flags[0] = true;
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = 1 ether;
        amounts[1] = 2 ether;

        vm.startPrank(stranger);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.batchSetAddressFrozen(who, flags);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.batchFreezePartialTokens(who, amounts);
        vm.expectRevert(unauthorized(stranger, agentRole));
        wrapped.batchUnfreezePartialTokens(who, amounts);
        vm.stopPrank();

        vm.startPrank(agent);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.LengthMismatch.selector, 2, 0));
        wrapped.batchSetAddressFrozen(who, new bool[](0));
        vm.expectRevert(WrappedToken.EmptyBatch.selector);
        wrapped.batchFreezePartialTokens(new address[](0), new uint256[](0));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.LengthMismatch.selector, 2, 1));
        wrapped.batchUnfreezePartialTokens(who, amounts1(1));

        wrapped.batchSetAddressFrozen(who, flags);
        vm.assertTrue(wrapped.isFrozen(bob));
        vm.assertFalse(wrapped.isFrozen(carol));
        wrapped.batchFreezePartialTokens(who, amounts);
        vm.assertEq(wrapped.getFrozenTokens(bob), 1 ether);
        vm.assertEq(wrapped.getFrozenTokens(carol), 2 ether);
        // all or nothing: carol's second entry is above her free balance
        amounts[1] = 3 ether;
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, carol, 3 ether, 2 ether));
        wrapped.batchFreezePartialTokens(who, amounts);
        vm.assertEq(wrapped.getFrozenTokens(bob), 1 ether);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFrozen.selector, carol, 3 ether, 2 ether));
        wrapped.batchUnfreezePartialTokens(who, amounts);
        amounts[1] = 2 ether;
        wrapped.batchUnfreezePartialTokens(who, amounts);
        vm.stopPrank();
        vm.assertEq(wrapped.getFrozenTokens(bob), 0);
        vm.assertEq(wrapped.getFrozenTokens(carol), 0);
    }

    function test_batchMint_and_batchBurn_by_the_gateway_only() public {
        address[] memory who = new address[](2);
        who[0] = bob;
        who[1] = carol;
        uint256[] memory amounts = new uint256[](2);
        amounts[0] = 1 ether;
        amounts[1] = 2 ether;
        vm.prank(address(gateway));
        wrapped.batchMint(who, amounts);
        vm.assertEq(wrapped.balanceOf(carol), 2 ether);
        vm.prank(agent);
        wrapped.freezePartialTokens(carol, 2 ether);
        vm.startPrank(address(gateway));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, carol, 2 ether, 0));
        wrapped.batchBurn(who, amounts);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.LengthMismatch.selector, 2, 1));
        wrapped.batchBurn(who, amounts1(1));
        vm.expectRevert(WrappedToken.EmptyBatch.selector);
        wrapped.batchMint(new address[](0), new uint256[](0));
        who[1] = dave;
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.NotAllowed.selector, dave));
        wrapped.batchMint(who, amounts);
        amounts[1] = 0;
        who[1] = bob;
        wrapped.batchBurn(who, amounts);
        vm.stopPrank();
        vm.assertEq(wrapped.balanceOf(bob), 10 ether);
        vm.assertEq(wrapped.totalSupply(), 12 ether);
    }

    // ------------------------------------------------------------------ the restricted count

    /// @dev Holders' ERC-3643 state is read only while some holder is restricted: after the
    ///      last restriction is lifted the checks must still apply to a new one.
    function test_restrictions_apply_after_the_count_returns_to_zero() public {
        vm.startPrank(agent);
        wrapped.freezePartialTokens(bob, 1 ether);
        wrapped.setAddressFrozen(bob, true);
        wrapped.setAddressFrozen(bob, false);
        wrapped.unfreezePartialTokens(bob, 1 ether);
        wrapped.setAddressFrozen(carol, true);
        vm.stopPrank();
        vm.prank(bob);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.AddressIsFrozen.selector, carol));
        wrapped.transfer(carol, 1);
        vm.prank(agent);
        wrapped.setAddressFrozen(carol, false);
        vm.prank(bob);
        wrapped.transfer(carol, 1);
    }

    /// @dev Random freezes, forced transfers and transfers keep every frozen amount within its
    ///      balance, and the free balance is exactly what a transfer can move.
    function testFuzz_frozen_tokens_never_exceed_the_balance(uint256 freeze, uint256 force, uint256 send) public {
        freeze = bound(freeze, 1, 10 ether);
        force = bound(force, 1, 10 ether);
        vm.prank(agent);
        wrapped.freezePartialTokens(bob, freeze);
        vm.prank(agent);
        wrapped.forcedTransfer(bob, carol, force);
        uint256 balance = wrapped.balanceOf(bob);
        uint256 frozenTokens = wrapped.getFrozenTokens(bob);
        vm.assertTrue(frozenTokens <= balance);
        vm.assertEq(balance, 10 ether - force);
        vm.assertEq(frozenTokens, freeze <= balance ? freeze : balance);
        uint256 free = balance - frozenTokens;
        send = bound(send, 0, balance);
        vm.assertEq(wrapped.canTransfer(bob, carol, send), send <= free);
        if (send > free) {
            vm.expectRevert(abi.encodeWithSelector(WrappedToken.AmountAboveFreeBalance.selector, bob, send, free));
        }
        vm.prank(bob);
        wrapped.transfer(carol, send);
    }

    function test_canTransfer_preCheck() public {
        vm.assertTrue(wrapped.canTransfer(bob, carol, 10 ether));
        vm.assertFalse(wrapped.canTransfer(bob, carol, 10 ether + 1));
        vm.assertFalse(wrapped.canTransfer(bob, dave, 1));
        vm.assertFalse(wrapped.canTransfer(dave, bob, 0));
        vm.assertFalse(wrapped.canTransfer(address(0), bob, 0));
        vm.assertFalse(wrapped.canTransfer(bob, address(0), 0));
        vm.prank(agent);
        wrapped.setAddressFrozen(carol, true);
        vm.assertFalse(wrapped.canTransfer(bob, carol, 1));
        vm.assertTrue(wrapped.canTransfer(bob, alice, 1));
    }
}
