// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {BatchCodec} from "./BatchCodec.sol";
import {IssuerModule} from "./IssuerModule.sol";
import {EndpointStorage} from "./EndpointStorage.sol";
import {Protocol} from "./Protocol.sol";
import {SignedActions} from "./SignedActions.sol";

/// @title SentinelModule
/// @notice The second line of defence (docs/PROTOCOL.md, "Sentinels: curse, veto and the
///         challenge window"). Sentinels, registered by the owner and run by others than the
///         committee, may do exactly two things: {curse} a route (k of m votes stop every entry
///         point of the route at once; only a committee-signed UNCURSE, after the action delay and
///         unless the guardian cancels it, lifts it) and {veto} a transfer held for its challenge
///         window (it is never delivered; it is recorded failed with FailureReason.Vetoed and
///         refunded on its source by the committee's usual refund, so a false veto loses no money).
/// @dev Not called directly: each endpoint creates one in its constructor and runs it by
///      DELEGATECALL from its fallback ({QiaoEndpoint-fallback}) for the selectors the endpoint
///      does not have, so its code is not part of the endpoint's (EIP-170) and it reads and writes
///      the endpoint's storage: it inherits the same bases before {EndpointStorage}, hence the same
///      layout (contracts/STORAGE.md), and `onlyOwner` is the endpoint's owner. Called directly,
///      it would only touch its own unused storage. The checks every entry point makes
///      ({QiaoEndpoint-_requireUncursed}), the hold ({EndpointExecution-_process}), the release of
///      a held transfer ({RateLimiter-release}) and the execution of an UNCURSE
///      ({SignedActions-executePending}) are the endpoint's and its libraries'.
contract SentinelModule is Ownable2Step, Pausable, EndpointStorage {
    /// @dev The issuer's module ({IssuerModule}), created with this one: the selectors neither
    ///      the endpoint nor this module has go there ({fallback}).
    address private immutable _issuerModule;

    /// @dev Only for the layout: the endpoint's owner is the one `onlyOwner` reads.
    constructor() Ownable(msg.sender) {
        _issuerModule = address(new IssuerModule());
    }

    /// @notice The selectors neither the endpoint nor this module has go on to {IssuerModule}
    ///         (applyIssuerAction, issuerSequence, issuerActionFailed, ISSUER_TYPEHASH, and on a
    ///         gateway applyFreeze, applyAllow, ALLOW_TYPEHASH), run by
    ///         DELEGATECALL: still on the endpoint's storage, in the endpoint's context (this
    ///         code itself runs by DELEGATECALL from the endpoint). A selector none has reverts
    ///         without data, as before. Not payable.
    /// @dev A second module behind the first, rather than a dispatch in the endpoint's fallback:
    ///      the endpoint has no room left (EIP-170), and this costs its callers one more
    ///      DELEGATECALL (a few hundred gas) on rare calls only; the hot paths are untouched.
    fallback() external {
        address module = _issuerModule;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), module, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @dev As the endpoint's own ({QiaoEndpoint-renounceOwnership}; the endpoint's selector is
    ///      dispatched before its fallback, so this one is never reached through it).
    function renounceOwnership() public pure override {
        revert QiaoEndpoint.OwnershipCannotBeRenounced();
    }

    // ------------------------------------------------------------------------------------------
    // The owner's settings
    // ------------------------------------------------------------------------------------------

    /// @notice Registers (`enabled` true) or removes a sentinel; owner only. A sentinel may
    ///         {curse} a route and {veto} a held transfer, nothing else.
    /// @dev Reverts with {QiaoEndpoint-ZeroAddress} on the zero address. Emits
    ///      {QiaoEndpoint-SentinelSet}. A vote a removed sentinel cast toward a curse not reached
    ///      yet still counts for that curse.
    /// @param sentinel The sentinel's address (an ECDSA key of an organisation outside the committee).
    /// @param enabled True to register, false to remove.
    function setSentinel(address sentinel, bool enabled) external onlyOwner {
        if (sentinel == address(0)) revert QiaoEndpoint.ZeroAddress();
        _sentinels[sentinel] = enabled;
        emit QiaoEndpoint.SentinelSet(sentinel, enabled);
    }

    /// @notice Sets how many sentinel votes curse a route (k of the m registered); owner only.
    /// @dev Reverts with {QiaoEndpoint-InvalidCurseQuorum} for 0. Emits
    ///      {QiaoEndpoint-CurseQuorumSet}. Votes already cast toward the next curse count
    ///      against the new quorum (from the next vote on).
    /// @param k The quorum, at least 1 (1 from deployment: a false curse costs only liveness).
    function setCurseQuorum(uint8 k) external onlyOwner {
        if (k == 0) revert QiaoEndpoint.InvalidCurseQuorum(k);
        _curseQuorum = k;
        emit QiaoEndpoint.CurseQuorumSet(k);
    }

    /// @notice Sets the amount from which a transfer of local `token` is held for the challenge
    ///         period before delivery ({QiaoEndpoint-TransferHeld}); owner only. 0 turns it off.
    /// @dev Reverts with {QiaoEndpoint-ZeroTokenAddress}. Emits
    ///      {QiaoEndpoint-ChallengeThresholdSet}. Applies to transfers executed from now on.
    /// @param token The local token.
    /// @param threshold The smallest amount held, or 0.
    function setChallenge(address token, uint256 threshold) external onlyOwner {
        if (token == address(0)) revert QiaoEndpoint.ZeroTokenAddress();
        _challengeThreshold[token] = threshold;
        emit QiaoEndpoint.ChallengeThresholdSet(token, threshold);
    }

    /// @notice Sets the challenge period: seconds a held transfer waits for a sentinel's veto
    ///         before anyone may release it; owner only. Applies to transfers held from now on.
    /// @dev Reverts with {QiaoEndpoint-InvalidChallengePeriod} outside 1..MAX_CHALLENGE_PERIOD.
    ///      Emits {QiaoEndpoint-ChallengePeriodSet}.
    /// @param period Seconds (devnet: a few; a real network: hours).
    function setChallengePeriod(uint64 period) external onlyOwner {
        if (period == 0 || period > Protocol.MAX_CHALLENGE_PERIOD) revert QiaoEndpoint.InvalidChallengePeriod(period);
        _challengePeriod = period;
        emit QiaoEndpoint.ChallengePeriodSet(period);
    }

    // ------------------------------------------------------------------------------------------
    // The sentinels
    // ------------------------------------------------------------------------------------------

    /// @notice A registered sentinel's vote to curse the route with `remoteChainId` (transfers
    ///         to and from it); the {curseQuorum}-th vote curses it: lock / burn toward it,
    ///         executeBatch, executeTransfer and releaseQueued from it, and refunds of transfers
    ///         toward it revert with {QiaoEndpoint-RouteIsCursed} until a committee-signed
    ///         {uncurse} is executed.
    /// @dev Reverts with {QiaoEndpoint-NotSentinel}, {QiaoEndpoint-InvalidRemoteChain} (zero or
    ///      this chain), {QiaoEndpoint-RouteIsCursed} (cursed already: nothing to add),
    ///      {QiaoEndpoint-AlreadyVoted} (unless the votes cast already reach a quorum the owner
    ///      lowered: then the call curses). Votes count toward one curse (number curseCount + 1), so
    ///      none carries over past an UNCURSE. Works while paused. Emits
    ///      {QiaoEndpoint-CurseVoted}, then {QiaoEndpoint-RouteCursed} on the deciding vote.
    /// @param remoteChainId The remote chain id of the route.
    function curse(uint256 remoteChainId) external {
        _checkSentinel();
        if (remoteChainId == 0 || remoteChainId == block.chainid) {
            revert QiaoEndpoint.InvalidRemoteChain(remoteChainId);
        }
        QiaoEndpoint.Curse storage c = _curses[remoteChainId];
        if (c.cursed) revert QiaoEndpoint.RouteIsCursed(remoteChainId);
        uint64 round = c.count + 1;
        mapping(address => bool) storage voted = _curseVotes[remoteChainId][round];
        uint8 tally = c.votes;
        if (!voted[msg.sender]) {
            voted[msg.sender] = true;
            emit QiaoEndpoint.CurseVoted(remoteChainId, msg.sender);
            tally += 1;
        } else if (tally < _curseQuorum) {
            revert QiaoEndpoint.AlreadyVoted(remoteChainId, msg.sender);
        }
        // else: a voter calling again after the owner lowered the quorum to the votes cast curses
        if (tally < _curseQuorum) {
            c.votes = tally;
            return;
        }
        c.count = round;
        c.votes = 0;
        c.cursed = true;
        emit QiaoEndpoint.RouteCursed(remoteChainId, round);
    }

    /// @notice A registered sentinel's veto of transfer `t`, held for its challenge window and
    ///         inside it, or at any time while its route is cursed: it is never delivered, and is
    ///         recorded failed (FailureReason.Vetoed), so the committee refunds it on its source (a
    ///         false veto costs a round trip, no money).
    /// @dev Reverts with {QiaoEndpoint-NotSentinel}, {QiaoEndpoint-NotHeld} unless `t` is held
    ///      with exactly these fields, {QiaoEndpoint-ChallengeWindowClosed} from its release time
    ///      on unless its route is cursed. Works while paused or cursed (it only ever stops a
    ///      delivery). Emits
    ///      {QiaoEndpoint-TransferFailed} and {QiaoEndpoint-TransferVetoed}.
    /// @param t The held transfer, with the fields that were signed.
    function veto(QiaoEndpoint.Transfer calldata t) external {
        _checkSentinel();
        uint256 src = t.srcChainId;
        uint64 nonce = t.nonce;
        uint64 releaseAfter = _heldUntil[src][nonce];
        if (releaseAfter == 0 || _queued[src][nonce] != BatchCodec.transferLeaf(t)) {
            revert QiaoEndpoint.NotHeld(src, nonce);
        }
        // The window does not close while the route is cursed: lifting the curse must never hand a
        // held forgery to whoever calls releaseQueued first.
        // forge-lint: disable-next-line(block-timestamp) -- a window of seconds to days
        if (block.timestamp >= releaseAfter && !_curses[src].cursed) {
            revert QiaoEndpoint.ChallengeWindowClosed(src, nonce, releaseAfter);
        }
        delete _heldUntil[src][nonce];
        delete _queued[src][nonce];
        _failed[src][nonce >> 8] |= uint256(1) << (nonce & 0xff);
        emit QiaoEndpoint.TransferFailed(src, nonce, QiaoEndpoint.FailureReason.Vetoed);
        emit QiaoEndpoint.TransferVetoed(src, nonce, msg.sender);
    }

    // ------------------------------------------------------------------------------------------
    // The committee's UNCURSE
    // ------------------------------------------------------------------------------------------

    /// @notice Schedules the lifting of curse `count` of the route with `remoteChainId`, on a
    ///         committee signature of the UNCURSE message for the next action nonce. It lifts the
    ///         curse only through executePending, from actionDelay seconds later, unless the
    ///         guardian cancels it first (cancelPending, cancelAllPending).
    /// @dev Reverts with {QiaoEndpoint-RouteNotCursed}, {QiaoEndpoint-CurseCountMismatch} (not
    ///      the route's current curse), {QiaoEndpoint-NotCurrentKeyEpoch}, a signature error. The
    ///      signed params are abi.encode(remoteChainId, count). Works while paused. Emits
    ///      {QiaoEndpoint-SignedActionApplied} and {QiaoEndpoint-ActionScheduled}.
    /// @param keyEpoch The current key epoch.
    /// @param remoteChainId The remote chain id of the cursed route.
    /// @param count The curse it lifts ({curseCount}), signed: it cannot lift a later curse.
    /// @param signature BLS signature on actionMessage(UNCURSE_TYPEHASH, keyEpoch, abi.encode(remoteChainId, count)).
    /// @return pendingNonce The action nonce the UNCURSE is pending under.
    function uncurse(uint64 keyEpoch, uint256 remoteChainId, uint64 count, bytes calldata signature)
        external
        returns (uint64 pendingNonce)
    {
        QiaoEndpoint.Curse memory c = _curses[remoteChainId];
        if (!c.cursed) revert QiaoEndpoint.RouteNotCursed(remoteChainId);
        if (c.count != count) revert QiaoEndpoint.CurseCountMismatch(remoteChainId, c.count, count);
        bytes32 typehash = Protocol.UNCURSE_TYPEHASH;
        pendingNonce = SignedActions.consume(_keys, typehash, keyEpoch, abi.encode(remoteChainId, count), signature);
        uint64 executableAt = uint64(block.timestamp) + QiaoEndpoint(address(this)).actionDelay();
        _pending[pendingNonce] = QiaoEndpoint.PendingAction(
            typehash, keyEpoch, executableAt, count, QiaoEndpoint.PendingStatus.Pending, address(0)
        );
        _uncurseRoutes[pendingNonce] = remoteChainId;
        emit QiaoEndpoint.ActionScheduled(typehash, pendingNonce, keyEpoch, executableAt, bytes32(0));
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice Longest challenge period the owner may set ({setChallengePeriod}; the shortest is 1 second).
    /// @return period 30 days.
    function MAX_CHALLENGE_PERIOD() external pure returns (uint64 period) {
        return Protocol.MAX_CHALLENGE_PERIOD;
    }

    /// @notice Whether `account` is a registered sentinel.
    /// @param account The address.
    /// @return enabled True if registered.
    function isSentinel(address account) external view returns (bool enabled) {
        return _sentinels[account];
    }

    /// @notice Whether the route with `remoteChainId` is cursed (every entry point of it stopped).
    /// @param remoteChainId The remote chain id.
    /// @return cursed True while cursed.
    function isCursed(uint256 remoteChainId) external view returns (bool cursed) {
        return _curses[remoteChainId].cursed;
    }

    /// @notice How many times the route with `remoteChainId` was cursed: the curse an UNCURSE lifts.
    /// @param remoteChainId The remote chain id.
    /// @return count The current curse's number while cursed.
    function curseCount(uint256 remoteChainId) external view returns (uint64 count) {
        return _curses[remoteChainId].count;
    }

    /// @notice The route a committee-signed UNCURSE scheduled under action nonce `nonce` lifts
    ///         (its curse number is `pendingAction(nonce).pauseCount`): what the relayers match
    ///         against the UNCURSE they signed, so that one taking the nonce for another route is
    ///         not mistaken for theirs.
    /// @param nonce The action nonce.
    /// @return remoteChainId The remote chain id of the route, or 0 if no UNCURSE was scheduled under it.
    function uncurseRoute(uint64 nonce) external view returns (uint256 remoteChainId) {
        return _uncurseRoutes[nonce];
    }

    /// @notice How many sentinel votes curse a route.
    /// @return k The quorum.
    function curseQuorum() external view returns (uint8 k) {
        return _curseQuorum;
    }

    /// @notice The amount from which a transfer of local `token` is held (0: never).
    /// @param token The local token.
    /// @return threshold The threshold.
    function challengeThreshold(address token) external view returns (uint256 threshold) {
        return _challengeThreshold[token];
    }

    /// @notice Seconds a transfer held from now on waits before it may be released.
    /// @return period The challenge period.
    function challengePeriod() external view returns (uint64 period) {
        return _challengePeriod;
    }

    /// @notice When transfer (`srcChainId`, `nonce`), held for its challenge window, may be
    ///         released ({QiaoEndpoint-releaseQueued}); a sentinel may veto it before.
    /// @param srcChainId The source chain id.
    /// @param nonce The nonce.
    /// @return releaseAfter Unix seconds, or 0 if it is not held.
    function heldUntil(uint256 srcChainId, uint64 nonce) external view returns (uint64 releaseAfter) {
        return _heldUntil[srcChainId][nonce];
    }

    /// @dev Reverts with {QiaoEndpoint-NotSentinel} unless the caller is a registered sentinel.
    function _checkSentinel() private view {
        if (!_sentinels[msg.sender]) revert QiaoEndpoint.NotSentinel(msg.sender);
    }
}
