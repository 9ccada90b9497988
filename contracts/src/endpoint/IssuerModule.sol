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
///      Forced transfers and recoveries move balances: like the committee's RESUME, ROTATE and
///      UNCURSE they are only SCHEDULED when applied (their number consumed, so the asset's later
///      decisions go on), and take effect through {executeIssuerAction}, which anyone may call,
///      the endpoint's `actionDelay` later and not while the endpoint is paused; the guardian may
///      cancel one during its delay ({cancelIssuerAction}, or every scheduled action at once with
///      the endpoint's `cancelAllPending`): a stolen or colluding group key cannot seize a balance
///      before the guardian can react. So that the holder cannot move or burn (toward C) what is
///      to be taken during the delay, scheduling freezes it at once on the holder's wallet
///      (`freezePartialTokens`: the amount of a forced transfer, the whole balance of a lost
///      wallet); the execution releases that hold and moves the tokens, a cancel only releases it.
///      While a decision is scheduled, the tokens it holds stay frozen: a later unfreeze of the
///      issuer that would release them is recorded failed ({IssuerTokensHeld}).
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

    /// @notice State of a scheduled forced transfer or recovery ({issuerActionScheduled}).
    enum ScheduledStatus {
        None, // never scheduled (another op, refused at once, or not applied yet)
        Pending, // waiting out its delay (or the endpoint's pause); its tokens are held
        Executed, // the token moved them ({IssuerActionApplied})
        Cancelled, // the guardian cancelled it; the hold was released ({IssuerActionCancelled})
        Failed // the token refused the move at execution; the hold was released ({IssuerActionFailed})
    }

    /// @notice A forced transfer or recovery scheduled by {applyIssuerAction}.
    /// @dev `amount`: the tokens it takes (a recovery: the lost wallet's balance when scheduled),
    ///      reserved on `account` until it ends; `held`: the part of them this decision froze on
    ///      `account` (the rest was frozen already by the issuer), released when it ends.
    ///      `actionNonce`: the action nonce its signature consumed (the endpoint's
    ///      `cancelAllPending` cancels it when it is below the cut-off).
    struct Scheduled {
        address account;
        uint8 op;
        ScheduledStatus status;
        uint64 executableAt;
        address to;
        uint64 actionNonce;
        uint256 amount;
        uint256 held;
    }

    /// @dev What scheduled decisions hold on one holder of one token: the tokens reserved (the
    ///      token's frozen tokens of the holder stay at least this), and whether a recovery of
    ///      the wallet is scheduled (one at a time, never beside a scheduled forced transfer).
    struct Hold {
        uint256 reserved;
        bool recovering;
    }

    /// @dev The decision a forced move scheduled under an action nonce is (for the watchers).
    struct ScheduledRef {
        address token;
        uint64 sequence;
    }

    /// @custom:storage-location erc7201:qiao.storage.IssuerModule
    struct IssuerState {
        mapping(address token => uint64 sequence) applied;
        mapping(address token => mapping(uint64 sequence => bool failed)) failed;
        mapping(address token => mapping(uint64 sequence => Scheduled scheduled)) scheduled;
        mapping(address token => mapping(address account => Hold hold)) holds;
        mapping(uint64 actionNonce => ScheduledRef ref) byNonce;
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
    /// @notice Forced transfer or recovery `sequence` of `token`'s asset is scheduled under action
    ///         nonce `actionNonce`: `held` tokens of `account` frozen at once, moved by
    ///         {executeIssuerAction} from `executableAt` unless the guardian cancels it.
    event IssuerActionScheduled(
        address indexed token,
        uint64 indexed sequence,
        uint8 op,
        address account,
        uint256 held,
        uint64 executableAt,
        uint64 actionNonce
    );
    /// @notice The guardian cancelled scheduled decision `sequence` of `token`'s asset (alone, or
    ///         with every scheduled action: the endpoint's cancelAllPending); its hold is released.
    event IssuerActionCancelled(address indexed token, uint64 indexed sequence, uint8 op);

    /// @notice `op` is not an issuer operation (1..8).
    error InvalidIssuerOp(uint8 op);
    /// @notice `token` is not a wrapped token registered on this gateway.
    error NotIssuerToken(address token);
    /// @notice `token`'s next decision is number `expected`; `given` is out of turn (an earlier
    ///         one is not applied yet, or this one was).
    error IssuerSequence(address token, uint64 expected, uint64 given);
    /// @notice The token's call ran out of the gas this transaction gave it: send it with more gas.
    error IssuerActionOutOfGas();
    /// @notice No forced transfer or recovery of `token` numbered `sequence` is scheduled (never,
    ///         or executed, failed or cancelled already).
    error NoScheduledIssuerAction(address token, uint64 sequence);
    /// @notice Decision `sequence` of `token` takes effect from `executableAt` only (the guardian's
    ///         time to cancel it).
    error IssuerActionNotReady(address token, uint64 sequence, uint64 executableAt);
    /// @notice (Recorded as a failure's reason.) `amount` is more than `account` has free of the
    ///         forced transfers already scheduled from it (`available`).
    error IssuerAmountUnavailable(address account, uint256 available, uint256 amount);
    /// @notice (Recorded as a failure's reason.) A recovery of `account` is scheduled, or (for a
    ///         recovery) a forced transfer from it is: the issuer decides again once it has ended.
    error IssuerActionPending(address account);
    /// @notice (Recorded as a failure's reason.) The unfreeze would release tokens of `account`
    ///         that a scheduled forced transfer or recovery holds (`frozenTokens` frozen,
    ///         `reserved` held).
    error IssuerTokensHeld(address account, uint256 frozenTokens, uint256 reserved);

    /// @dev Only for the layout (see {SentinelModule}).
    constructor() Ownable(msg.sender) {}

    /// @dev As the endpoint's own ({QiaoEndpoint-renounceOwnership}).
    function renounceOwnership() public pure override {
        revert QiaoEndpoint.OwnershipCannotBeRenounced();
    }

    /// @notice Applies decision `a` of the issuer, on a committee signature of the ISSUER message
    ///         for the next action nonce; anyone may call it. A forced transfer or a recovery is
    ///         only scheduled ({IssuerActionScheduled}): the tokens it takes are frozen on the
    ///         holder at once, and {executeIssuerAction} moves them after the endpoint's
    ///         `actionDelay` unless the guardian cancels it. Everything applies while the
    ///         endpoint is paused (scheduling only restricts); a scheduled move waits for the resume.
    /// @dev Reverts with {InvalidIssuerOp}, {NotIssuerToken}, {IssuerSequence} (a token's first
    ///      decision here may have any number from 1: a token registered after the issuer's first
    ///      decisions on C starts where it joins; after it, exactly the next number),
    ///      {QiaoEndpoint-NotCurrentKeyEpoch}, a signature error, {IssuerActionOutOfGas}; with
    ///      nothing consumed. Otherwise consumes the nonce and the number and emits
    ///      {QiaoEndpoint-SignedActionApplied}, then {IssuerActionApplied},
    ///      {IssuerActionScheduled} or {IssuerActionFailed} (the token refused it; for a forced
    ///      transfer or recovery also {IssuerAmountUnavailable}, {IssuerActionPending}; for a
    ///      partial unfreeze {IssuerTokensHeld}).
    /// @param keyEpoch The current key epoch.
    /// @param a The decision, as signed.
    /// @param signature BLS signature on actionMessage(ISSUER_TYPEHASH, keyEpoch, abi.encode(a)).
    /// @return applied True if the token applied it (or it is scheduled), false if it was refused
    ///         (recorded as failed).
    function applyIssuerAction(uint64 keyEpoch, IssuerAction calldata a, bytes calldata signature)
        external
        returns (bool applied)
    {
        uint8 op = a.op;
        if (op == 0 || op > OP_SET_NAV) revert InvalidIssuerOp(op);
        address token = a.token;
        _requireGatewayToken(token);
        IssuerState storage s = _state();
        uint64 last = s.applied[token];
        if (a.sequence == 0 || (last != 0 && a.sequence != last + 1)) {
            revert IssuerSequence(token, last + 1, a.sequence);
        }
        uint64 nonce = SignedActions.consume(_keys, Protocol.ISSUER_TYPEHASH, keyEpoch, abi.encode(a), signature);
        s.applied[token] = a.sequence;
        bytes memory reason;
        if (op == OP_FORCED_TRANSFER || op == OP_RECOVERY) {
            bool scheduled;
            (scheduled, reason) = _schedule(s, a, nonce);
            if (scheduled) return true;
        } else if (op == OP_UNFREEZE_PARTIAL && _releasesHeld(s, token, a.account, a.amount)) {
            uint256 frozenTokens = WrappedToken(token).getFrozenTokens(a.account);
            reason = abi.encodeWithSelector(
                IssuerTokensHeld.selector, a.account, frozenTokens, s.holds[token][a.account].reserved
            );
        } else {
            bool ok;
            (ok, reason) = _callToken(token, _tokenCall(a));
            if (ok) {
                emit IssuerActionApplied(token, a.sequence, op);
                return true;
            }
        }
        s.failed[token][a.sequence] = true;
        emit IssuerActionFailed(token, a.sequence, op, reason);
        return false;
    }

    /// @notice Moves the tokens of scheduled forced transfer or recovery `sequence` of `token`
    ///         once its delay is over: releases what it held on the holder, then the token's
    ///         `forcedTransfer` or `recoveryAddress`; anyone may call it. One the guardian
    ///         cancelled with every scheduled action (the endpoint's cancelAllPending) is only
    ///         closed: its hold released, recorded cancelled (at any time, paused or not).
    /// @dev Reverts with {NoScheduledIssuerAction} (never scheduled, or ended already),
    ///      EnforcedPause while the endpoint is paused (it waits for the resume),
    ///      {IssuerActionNotReady} before its `executableAt`, {IssuerActionOutOfGas}. A move the
    ///      token refuses (the holder's balance was taken by another order, a paused token, a
    ///      receiver no longer verified...) is recorded failed ({IssuerActionFailed},
    ///      {issuerActionFailed}), the hold released: the issuer decides again on C. Emits
    ///      {IssuerActionApplied}, {IssuerActionFailed} or {IssuerActionCancelled}.
    /// @param token The wrapped token.
    /// @param sequence The decision's number on C.
    /// @return executed True if the tokens moved.
    function executeIssuerAction(address token, uint64 sequence) external returns (bool executed) {
        IssuerState storage s = _state();
        Scheduled storage d = s.scheduled[token][sequence];
        if (d.status != ScheduledStatus.Pending) revert NoScheduledIssuerAction(token, sequence);
        if (d.actionNonce < _keys.cancelledBelow) {
            _cancel(s, token, sequence, d);
            return false;
        }
        _requireNotPaused();
        // forge-lint: disable-next-line(block-timestamp) -- a delay of seconds to days
        if (block.timestamp < d.executableAt) revert IssuerActionNotReady(token, sequence, d.executableAt);
        d.status = ScheduledStatus.Executed; // before the token's calls: it ends once, whatever they do
        _release(s, token, d);
        bytes memory call = d.op == OP_FORCED_TRANSFER
            ? abi.encodeCall(WrappedToken.forcedTransfer, (d.account, d.to, d.amount))
            : abi.encodeCall(WrappedToken.recoveryAddress, (d.account, d.to, address(0)));
        (bool ok, bytes memory reason) = _callToken(token, call);
        if (ok) {
            emit IssuerActionApplied(token, sequence, d.op);
            return true;
        }
        d.status = ScheduledStatus.Failed;
        s.failed[token][sequence] = true;
        emit IssuerActionFailed(token, sequence, d.op, reason);
        return false;
    }

    /// @notice Cancels scheduled forced transfer or recovery `sequence` of `token` during its
    ///         delay (or later, while it is not executed); guardian only, paused or not. The
    ///         tokens it held are released and it is recorded failed (cancelled): the asset's
    ///         later decisions are not affected; the issuer decides again on C if it still stands.
    /// @dev Reverts with {QiaoEndpoint-NotGuardian}, {NoScheduledIssuerAction},
    ///      {IssuerActionOutOfGas}. Emits {IssuerActionCancelled}.
    /// @param token The wrapped token.
    /// @param sequence The decision's number on C.
    function cancelIssuerAction(address token, uint64 sequence) external {
        if (msg.sender != _guardian) revert QiaoEndpoint.NotGuardian(msg.sender);
        IssuerState storage s = _state();
        Scheduled storage d = s.scheduled[token][sequence];
        if (d.status != ScheduledStatus.Pending) revert NoScheduledIssuerAction(token, sequence);
        _cancel(s, token, sequence, d);
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

    /// @notice Whether decision `sequence` of `token` was refused by the token, or (a forced
    ///         transfer or recovery) cancelled by the guardian: recorded failed, not applied.
    function issuerActionFailed(address token, uint64 sequence) external view returns (bool failed) {
        return _state().failed[token][sequence];
    }

    /// @notice Forced transfer or recovery `sequence` of `token` as scheduled, with its status
    ///         (Cancelled too while it is pending under an action nonce the guardian's
    ///         cancelAllPending cut off; its hold is released by {executeIssuerAction} then).
    /// @return d All zero (status None) if it was never scheduled.
    function issuerActionScheduled(address token, uint64 sequence) external view returns (Scheduled memory d) {
        d = _state().scheduled[token][sequence];
        if (d.status == ScheduledStatus.Pending && d.actionNonce < _keys.cancelledBelow) {
            d.status = ScheduledStatus.Cancelled;
        }
    }

    /// @notice The forced transfer or recovery whose signature consumed action nonce `nonce`, if one
    ///         was scheduled under it: what the nodes' watch of the endpoint's scheduled actions
    ///         reads beside `pendingAction(nonce)` (a stolen key's forced move submitted by hand is
    ///         seen too, not only the ones the members' pipeline carried).
    /// @return token The wrapped token (zero if no forced move was scheduled under `nonce`).
    /// @return sequence Its decision number ({issuerActionScheduled}).
    function issuerActionAt(uint64 nonce) external view returns (address token, uint64 sequence) {
        ScheduledRef storage r = _state().byNonce[nonce];
        return (r.token, r.sequence);
    }

    /// @notice The tokens of `account` that scheduled forced transfers or a recovery of `token`
    ///         hold (frozen until they end), and whether a recovery of the wallet is scheduled.
    function issuerHold(address token, address account) external view returns (uint256 reserved, bool recovering) {
        Hold storage h = _state().holds[token][account];
        return (h.reserved, h.recovering);
    }

    /// @notice Type hash of a committee-signed issuer decision (docs/PROTOCOL.md).
    function ISSUER_TYPEHASH() external pure returns (bytes32 typehash) {
        return Protocol.ISSUER_TYPEHASH;
    }

    /// @dev The token call carrying decision `a` (its ERC-3643 agent function or gateway setter);
    ///      not a forced transfer or a recovery ({_schedule}).
    function _tokenCall(IssuerAction calldata a) private pure returns (bytes memory) {
        uint8 op = a.op;
        if (op == OP_FREEZE_WALLET || op == OP_UNFREEZE_WALLET) {
            return abi.encodeCall(WrappedToken.setAddressFrozen, (a.account, op == OP_FREEZE_WALLET));
        }
        if (op == OP_FREEZE_PARTIAL) return abi.encodeCall(WrappedToken.freezePartialTokens, (a.account, a.amount));
        if (op == OP_UNFREEZE_PARTIAL) {
            return abi.encodeCall(WrappedToken.unfreezePartialTokens, (a.account, a.amount));
        }
        if (op == OP_SET_STATUS) {
            // a code above 255 is passed as 255: the token refuses it (InvalidAssetStatus)
            uint8 status = a.amount > type(uint8).max ? type(uint8).max : uint8(a.amount);
            return abi.encodeCall(WrappedToken.setAssetStatus, (status));
        }
        if (op == OP_SET_NAV) return abi.encodeCall(WrappedToken.setNav, (a.amount, a.asOf));
        revert InvalidIssuerOp(op);
    }

    /// @dev Schedules forced transfer or recovery `a` (its signature consumed `nonce`) once
    ///      {_hold} holds its tokens; false and the reason if it is refused (the caller records it
    ///      failed).
    function _schedule(IssuerState storage s, IssuerAction calldata a, uint64 nonce)
        private
        returns (bool scheduled, bytes memory reason)
    {
        uint256 amount;
        uint256 held;
        (scheduled, amount, held, reason) = _hold(s, a);
        if (!scheduled) return (false, reason);
        uint64 executableAt = uint64(block.timestamp) + QiaoEndpoint(address(this)).actionDelay();
        s.scheduled[a.token][a.sequence] =
            Scheduled(a.account, a.op, ScheduledStatus.Pending, executableAt, a.to, nonce, amount, held);
        s.byNonce[nonce] = ScheduledRef(a.token, a.sequence);
        emit IssuerActionScheduled(a.token, a.sequence, a.op, a.account, held, executableAt, nonce);
        return (true, "");
    }

    /// @dev Reserves the tokens forced transfer or recovery `a` takes on the holder (`amount`: a
    ///      recovery takes the whole balance) and freezes the part of them not frozen yet
    ///      (`held`); false and the reason if it cannot (nothing changed then).
    function _hold(IssuerState storage s, IssuerAction calldata a)
        private
        returns (bool ok, uint256 amount, uint256 held, bytes memory reason)
    {
        address token = a.token;
        address account = a.account;
        Hold storage h = s.holds[token][account];
        bool recovery = a.op == OP_RECOVERY;
        if (h.recovering || (recovery && h.reserved != 0)) {
            return (false, 0, 0, abi.encodeWithSelector(IssuerActionPending.selector, account));
        }
        uint256 balance = WrappedToken(token).balanceOf(account);
        if (recovery && balance == 0) {
            return (false, 0, 0, abi.encodeWithSelector(WrappedToken.NoTokenToRecover.selector, account));
        }
        amount = recovery ? balance : a.amount;
        uint256 available = balance > h.reserved ? balance - h.reserved : 0;
        if (amount > available) {
            return (false, 0, 0, abi.encodeWithSelector(IssuerAmountUnavailable.selector, account, available, amount));
        }
        // what is not frozen yet of the amount (frozen >= reserved holds: the rest is frozen already)
        uint256 free = balance - WrappedToken(token).getFrozenTokens(account);
        held = amount < free ? amount : free;
        if (held != 0) {
            (ok, reason) = _callToken(token, abi.encodeCall(WrappedToken.freezePartialTokens, (account, held)));
            if (!ok) return (false, 0, 0, reason);
        }
        h.reserved += amount;
        if (recovery) h.recovering = true;
        return (true, amount, held, "");
    }

    /// @dev Ends scheduled decision `d` as cancelled: its hold released, recorded failed.
    function _cancel(IssuerState storage s, address token, uint64 sequence, Scheduled storage d) private {
        d.status = ScheduledStatus.Cancelled; // before the token's call: it ends once
        _release(s, token, d);
        s.failed[token][sequence] = true;
        emit IssuerActionCancelled(token, sequence, d.op);
    }

    /// @dev Releases what scheduled decision `d` holds: its reservation, and the tokens it froze
    ///      (as many as are still frozen: an agent of the token may have released some itself).
    ///      A token refusing the unfreeze does not stop the release (a cancel must always go).
    function _release(IssuerState storage s, address token, Scheduled storage d) private {
        address account = d.account;
        Hold storage h = s.holds[token][account];
        h.reserved -= d.amount;
        if (d.op == OP_RECOVERY) h.recovering = false;
        uint256 held = d.held;
        uint256 frozenTokens = WrappedToken(token).getFrozenTokens(account);
        if (held > frozenTokens) held = frozenTokens;
        if (held != 0) _callToken(token, abi.encodeCall(WrappedToken.unfreezePartialTokens, (account, held)));
    }

    /// @dev Whether unfreezing `amount` of `account`'s tokens would leave fewer frozen than the
    ///      scheduled decisions hold.
    function _releasesHeld(IssuerState storage s, address token, address account, uint256 amount)
        private
        view
        returns (bool)
    {
        uint256 reserved = s.holds[token][account].reserved;
        if (reserved == 0) return false;
        uint256 frozenTokens = WrappedToken(token).getFrozenTokens(account);
        return amount <= frozenTokens && frozenTokens - amount < reserved;
    }

    /// @dev Calls `token` with `data`: its success and revert data. Reverts with
    ///      {IssuerActionOutOfGas} when the call failed for want of the gas this transaction gave
    ///      it (so nobody can make a decision fail, or a hold stay, by starving the call).
    function _callToken(address token, bytes memory data) private returns (bool ok, bytes memory reason) {
        uint256 before = gasleft();
        (ok, reason) = token.call(data);
        // The token got 63/64 of `before`: failing with less than 1/64 left means it ran out of
        // gas (the caller's doing), not that it refused the decision.
        if (!ok && gasleft() <= before / 64) revert IssuerActionOutOfGas();
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
