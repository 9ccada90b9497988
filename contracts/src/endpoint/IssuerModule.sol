// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {WrappedToken} from "../WrappedToken.sol";
import {KycRegistry} from "../KycRegistry.sol";
import {EndpointStorage} from "./EndpointStorage.sol";
import {Protocol} from "./Protocol.sol";
import {SignedActions} from "./SignedActions.sol";

/// @notice The gateway's view of its registered tokens (QiaoGateway; a vault has none).
interface IHomeChain {
    function homeChainOf(address wrappedToken) external view returns (uint256 remoteChainId);
}

/// @title IssuerModule
/// @notice Applies the issuer's decisions recorded on the consortium chain ({IssuerRegistry}) to
///         the wrapped tokens of this gateway (docs/PROTOCOL.md, "Issuer actions, asset status
///         and NAV"): wallet freezes, partial freezes, forced transfers, recovery of a lost wallet
///         (through the token's ERC-3643 agent functions: the gateway is an agent of its tokens),
///         the asset's status and its NAV (the token's gateway-only setters). Each decision comes
///         as a committee-signed ISSUER action ({applyIssuerAction}) for the endpoint's next
///         action nonce, carrying the decision's number on C (`sequence`): the module applies a
///         token's decisions in exactly C's order, refusing one out of turn.
/// @dev Why a module: the gateway is at the EIP-170 limit. Like {SentinelModule}, this code runs by
///      DELEGATECALL on the endpoint's storage: the endpoint's fallback delegates every selector it
///      lacks to its SentinelModule, whose own fallback delegates the selectors it lacks to this
///      module (created by the SentinelModule's constructor, so fixed with the endpoint; nobody can
///      change it). Nested DELEGATECALLs keep the endpoint's context: `address(this)` is the
///      gateway, `msg.sender` the caller, and the calls into the token come from the gateway.
///      It inherits the endpoint's bases and {EndpointStorage} (the same layout) for `_keys`, and
///      keeps its own state at an ERC-7201 namespaced slot ("qiao.storage.IssuerModule"), so the
///      endpoints' table (contracts/STORAGE.md) is unchanged.
///      A decision the token refuses (a forced transfer above the holder's balance on this chain,
///      a partial freeze above the free balance, a recovery of an empty wallet, a paused token...)
///      does not block the ones after it: its nonce and its number are consumed and it is recorded
///      as failed ({IssuerActionFailed}, {issuerActionFailed}) with the token's error; the issuer
///      decides again on C. A call given too little gas for the token's call reverts instead
///      ({IssuerActionOutOfGas}), so nobody can make a decision fail by starving it.
contract IssuerModule is Ownable2Step, Pausable, EndpointStorage {
    /// @notice One decision as signed (all fields static: its ABI encoding is seven words).
    /// @dev `op` is one of {IssuerRegistry}'s OP_* codes; `account`, `to`, `amount`, `asOf` as
    ///      its {IssuerRegistry-IssuerAction} event gives them (unused fields zero).
    struct IssuerAction {
        address token;
        uint64 sequence;
        uint8 op;
        address account;
        address to;
        uint256 amount;
        uint64 asOf;
    }

    /// @custom:storage-location erc7201:qiao.storage.IssuerModule
    struct IssuerState {
        mapping(address token => uint64 sequence) applied;
        mapping(address token => mapping(uint64 sequence => bool failed)) failed;
    }

    /// @dev keccak256(abi.encode(uint256(keccak256("qiao.storage.IssuerModule")) - 1)) & ~bytes32(uint256(0xff))
    bytes32 private constant STATE_SLOT = 0xb7a88dba81c94af0d72ed204186e5f68863b020448fc032791a90cd4753b1200;

    uint8 private constant OP_FREEZE_WALLET = 1;
    uint8 private constant OP_UNFREEZE_WALLET = 2;
    uint8 private constant OP_FREEZE_PARTIAL = 3;
    uint8 private constant OP_UNFREEZE_PARTIAL = 4;
    uint8 private constant OP_FORCED_TRANSFER = 5;
    uint8 private constant OP_RECOVERY = 6;
    uint8 private constant OP_SET_STATUS = 7;
    uint8 private constant OP_SET_NAV = 8;

    /// @notice Decision `sequence` of `token`'s asset (operation `op`) was applied to the token.
    event IssuerActionApplied(address indexed token, uint64 indexed sequence, uint8 op);
    /// @notice Decision `sequence` of `token`'s asset was refused by the token (`reason`: its
    ///         revert data); consumed in its turn, the next one goes on. The issuer decides again.
    event IssuerActionFailed(address indexed token, uint64 indexed sequence, uint8 op, bytes reason);

    /// @notice `op` is not an issuer operation (1..8).
    error InvalidIssuerOp(uint8 op);
    /// @notice `token` is not a wrapped token registered on this gateway.
    error NotIssuerToken(address token);
    /// @notice `token`'s next decision is number `expected`; `given` is out of turn (an earlier
    ///         one is not applied yet, or this one was).
    error IssuerSequence(address token, uint64 expected, uint64 given);
    /// @notice The token's call ran out of the gas this transaction gave it: send it with more gas.
    error IssuerActionOutOfGas();

    /// @dev Only for the layout (see {SentinelModule}).
    constructor() Ownable(msg.sender) {}

    /// @dev As the endpoint's own ({QiaoEndpoint-renounceOwnership}).
    function renounceOwnership() public pure override {
        revert QiaoEndpoint.OwnershipCannotBeRenounced();
    }

    /// @notice Applies decision `a` of the issuer, on a committee signature of the ISSUER message
    ///         for the next action nonce; anyone may call it. While the endpoint is paused only
    ///         the decisions that restrict apply (freezes, partial freezes, status, NAV): a forced
    ///         transfer or a recovery reverts with EnforcedPause, unconsumed, and waits for the
    ///         resume (the token's later decisions wait behind it, in C's order).
    /// @dev Reverts with EnforcedPause (above), {InvalidIssuerOp}, {NotIssuerToken}, {IssuerSequence} (a token's first
    ///      decision here may have any number from 1: a token registered after the issuer's first
    ///      decisions on C starts where it joins; after it, exactly the next number),
    ///      {QiaoEndpoint-NotCurrentKeyEpoch}, a signature error, {IssuerActionOutOfGas}; with
    ///      nothing consumed. Otherwise consumes the nonce and the number and emits
    ///      {QiaoEndpoint-SignedActionApplied}, then {IssuerActionApplied} or
    ///      {IssuerActionFailed}.
    /// @param keyEpoch The current key epoch.
    /// @param a The decision, as signed.
    /// @param signature BLS signature on actionMessage(ISSUER_TYPEHASH, keyEpoch, abi.encode(a)).
    /// @return applied True if the token applied it, false if it refused it (recorded as failed).
    function applyIssuerAction(uint64 keyEpoch, IssuerAction calldata a, bytes calldata signature)
        external
        returns (bool applied)
    {
        bytes memory call = _tokenCall(a);
        // Moving balances waits out the guardian's pause (a stolen key could otherwise seize
        // every holder's balance while the pause stops nothing); what only restricts still goes.
        if (a.op == OP_FORCED_TRANSFER || a.op == OP_RECOVERY) _requireNotPaused();
        address token = a.token;
        _requireGatewayToken(token);
        IssuerState storage s = _state();
        uint64 last = s.applied[token];
        if (a.sequence == 0 || (last != 0 && a.sequence != last + 1)) {
            revert IssuerSequence(token, last + 1, a.sequence);
        }
        SignedActions.consume(_keys, Protocol.ISSUER_TYPEHASH, keyEpoch, abi.encode(a), signature);
        s.applied[token] = a.sequence;
        uint256 before = gasleft();
        (bool ok, bytes memory reason) = token.call(call);
        if (ok) {
            emit IssuerActionApplied(token, a.sequence, a.op);
            return true;
        }
        // The token got 63/64 of `before`: failing with less than 1/64 left means it ran out of
        // gas (the caller's doing), not that it refused the decision.
        if (gasleft() <= before / 64) revert IssuerActionOutOfGas();
        s.failed[token][a.sequence] = true;
        emit IssuerActionFailed(token, a.sequence, a.op, reason);
        return false;
    }

    /// @notice Applies a freeze (or unfreeze) of `account` decided on the consortium chain, on a
    ///         committee signature of the FREEZE message for the next action nonce, to the
    ///         gateway's registry (the gateway holds its FREEZER_ROLE). Anyone may call it.
    /// @dev Gateway only (a vault reverts without data, as it did before this moved here from
    ///      the gateway for room). Reverts on a zero account, a key epoch other than the current
    ///      one, a bad signature. Emits {QiaoEndpoint-SignedActionApplied} and the registry's FrozenSet.
    /// @param keyEpoch The current key epoch.
    /// @param account The account (not zero).
    /// @param frozen True to freeze, false to unfreeze.
    /// @param signature BLS signature on actionMessage(FREEZE_TYPEHASH, keyEpoch, abi.encode(account, frozen)).
    function applyFreeze(uint64 keyEpoch, address account, bool frozen, bytes calldata signature) external {
        SignedActions.carry(_keys, _gatewayRegistry(), Protocol.FREEZE_TYPEHASH, keyEpoch, account, frozen, signature);
    }

    /// @notice Adds `account` to (or removes it from) the gateway's allow-list as decided on the
    ///         consortium chain, on a committee signature of the ALLOW message for the next action
    ///         nonce. Anyone may call it.
    /// @dev Gateway only, as {applyFreeze}. Reverts on a zero account, a key epoch other than the
    ///      current one, a bad signature. The registry keeps one `allowed` flag: this sets it
    ///      whatever this chain's compliance desk set before (the allow-list follows the
    ///      consortium chain's), but it never lifts a freeze ({KycRegistry}). Emits
    ///      {QiaoEndpoint-SignedActionApplied} and the registry's AllowedSet.
    /// @param keyEpoch The current key epoch.
    /// @param account The account (not zero).
    /// @param allowed True to allow, false to remove from the allow-list.
    /// @param signature BLS signature on actionMessage(ALLOW_TYPEHASH, keyEpoch, abi.encode(account, allowed)).
    function applyAllow(uint64 keyEpoch, address account, bool allowed, bytes calldata signature) external {
        SignedActions.carry(_keys, _gatewayRegistry(), Protocol.ALLOW_TYPEHASH, keyEpoch, account, allowed, signature);
    }

    /// @notice Type hash of a committee-signed allow-list change of an account (carried from C to E).
    function ALLOW_TYPEHASH() external pure returns (bytes32 typehash) {
        return Protocol.ALLOW_TYPEHASH;
    }

    /// @notice The number of the last decision applied (or failed) for `token` (0: none yet).
    function issuerSequence(address token) external view returns (uint64 sequence) {
        return _state().applied[token];
    }

    /// @notice Whether decision `sequence` of `token` was refused by the token (recorded failed).
    function issuerActionFailed(address token, uint64 sequence) external view returns (bool failed) {
        return _state().failed[token][sequence];
    }

    /// @notice Type hash of a committee-signed issuer decision (docs/PROTOCOL.md).
    function ISSUER_TYPEHASH() external pure returns (bytes32 typehash) {
        return Protocol.ISSUER_TYPEHASH;
    }

    /// @dev The token call carrying decision `a` (its ERC-3643 agent function or gateway setter).
    function _tokenCall(IssuerAction calldata a) private pure returns (bytes memory) {
        uint8 op = a.op;
        if (op == OP_FREEZE_WALLET || op == OP_UNFREEZE_WALLET) {
            return abi.encodeCall(WrappedToken.setAddressFrozen, (a.account, op == OP_FREEZE_WALLET));
        }
        if (op == OP_FREEZE_PARTIAL) return abi.encodeCall(WrappedToken.freezePartialTokens, (a.account, a.amount));
        if (op == OP_UNFREEZE_PARTIAL) {
            return abi.encodeCall(WrappedToken.unfreezePartialTokens, (a.account, a.amount));
        }
        if (op == OP_FORCED_TRANSFER) return abi.encodeCall(WrappedToken.forcedTransfer, (a.account, a.to, a.amount));
        if (op == OP_RECOVERY) return abi.encodeCall(WrappedToken.recoveryAddress, (a.account, a.to, address(0)));
        if (op == OP_SET_STATUS) {
            // a code above 255 is passed as 255: the token refuses it (InvalidAssetStatus)
            uint8 status = a.amount > type(uint8).max ? type(uint8).max : uint8(a.amount);
            return abi.encodeCall(WrappedToken.setAssetStatus, (status));
        }
        if (op == OP_SET_NAV) return abi.encodeCall(WrappedToken.setNav, (a.amount, a.asOf));
        revert InvalidIssuerOp(op);
    }

    /// @dev Reverts with {NotIssuerToken} unless `token` is a wrapped token registered on this
    ///      gateway (its home chain is set; a vault has no `homeChainOf` and refuses every token).
    function _requireGatewayToken(address token) private view {
        try IHomeChain(address(this)).homeChainOf(token) returns (uint256 home) {
            if (home != 0) return;
        } catch {}
        revert NotIssuerToken(token);
    }

    /// @dev The endpoint's registry, if the endpoint is a gateway (it answers `homeChainOf`);
    ///      on a vault, reverts without data, as a selector no part has.
    function _gatewayRegistry() private view returns (KycRegistry) {
        try IHomeChain(address(this)).homeChainOf(address(0)) returns (uint256) {
            return QiaoEndpoint(address(this)).registry();
        } catch {
            revert();
        }
    }

    function _state() private pure returns (IssuerState storage s) {
        bytes32 slot = STATE_SLOT;
        assembly ("memory-safe") {
            s.slot := slot
        }
    }
}
