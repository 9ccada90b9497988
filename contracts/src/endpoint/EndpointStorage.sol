// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {KeyEpochs} from "./KeyEpochs.sol";

/// @title EndpointStorage
/// @notice Every storage variable of an endpoint, in one place: the parts of the endpoint (the
///         libraries of this folder and {EndpointExecution}) read and write only these, the
///         external libraries through the storage references the endpoint passes them (they run by
///         DELEGATECALL on the endpoint's storage and have none of their own).
/// @dev Storage layout of QiaoVault and QiaoGateway (`scripts/forge inspect QiaoGateway
///      storageLayout`; contracts/STORAGE.md has the table). The bases come first, in C3 order:
///      slot 0 Ownable._owner; slot 1 Ownable2Step._pendingOwner and Pausable._paused (packed);
///      ReentrancyGuardTransient keeps its lock in transient storage. Then this contract:
///      2: _keys.current, .previousValidUntil, .actionNonce, .pauseCount (four uint64, one slot)
///      3: _keys.keyData           4: _keys.cancelledBelow  5: _guardian
///      6: _executed               7: _failed               8: _queued
///      9: _refunded              10: _lastNonce           11: _initiated
///      12: _remoteTokens         13: _localTokens         14: _buckets
///      15: _pending              16: _queues              17: _queueLeaves
///      18: _sentinels            19: _curses              20: _curseVotes
///      21: _curseQuorum, _challengePeriod (packed)        22: _challengeThreshold
///      23: _heldUntil            24: _uncurseRoutes
///      and, in QiaoGateway only, 25: _homeChain. Nothing is upgradeable: the layout is fixed at
///      deployment, written down here for audit and for reading the state from outside.
abstract contract EndpointStorage {
    /// @dev Key epochs, the group key of each, and the action nonce ({KeyEpochs}).
    KeyEpochs.Keys internal _keys;
    /// @dev The guardian, which may pause.
    address internal _guardian;
    /// @dev Consumed bitmap: bit (nonce % 256) of word (nonce / 256), per source chain.
    mapping(uint256 srcChainId => mapping(uint256 word => uint256 bits)) internal _executed;
    /// @dev Failed bitmap (subset of the consumed one).
    mapping(uint256 srcChainId => mapping(uint256 word => uint256 bits)) internal _failed;
    /// @dev Leaf of each transfer held by the inbound rate limit (zero when not queued).
    mapping(uint256 srcChainId => mapping(uint64 nonce => bytes32 leaf)) internal _queued;
    /// @dev Refunded bitmap on the source side, per destination chain.
    mapping(uint256 dstChainId => mapping(uint256 word => uint256 bits)) internal _refunded;
    /// @dev Last nonce assigned per destination chain (0: none yet, so the first nonce is 1).
    mapping(uint256 dstChainId => uint64 nonce) internal _lastNonce;
    /// @dev Source side: the leaf of each transfer initiated here, recorded at lock / burn. A
    ///      refund must present exactly these fields ({QiaoEndpoint-refund}).
    mapping(uint256 dstChainId => mapping(uint64 nonce => bytes32 leaf)) internal _initiated;
    /// @dev Token on `remoteChainId` paired with a local token.
    mapping(uint256 remoteChainId => mapping(address localToken => address remoteToken)) internal _remoteTokens;
    /// @dev Local token paired with a token on `remoteChainId`.
    mapping(uint256 remoteChainId => mapping(address remoteToken => address localToken)) internal _localTokens;
    /// @dev Rate limit per local token and direction ({RateLimiter}).
    mapping(address token => mapping(QiaoEndpoint.Direction direction => QiaoEndpoint.Bucket bucket)) internal _buckets;
    /// @dev Scheduled RESUME and ROTATE actions, by the action nonce their signature consumed ({SignedActions}).
    mapping(uint64 actionNonce => QiaoEndpoint.PendingAction action) internal _pending;
    /// @dev Release queue per local token (inbound): positions head..tail - 1 hold queued leaves ({RateLimiter}).
    mapping(address token => QiaoEndpoint.Queue queue) internal _queues;
    /// @dev Leaf at each position of a token's release queue (zero once released).
    mapping(address token => mapping(uint256 position => bytes32 leaf)) internal _queueLeaves;
    /// @dev Sentinels registered by the owner: each may curse a route and veto a held transfer ({Sentinels}).
    mapping(address sentinel => bool enabled) internal _sentinels;
    /// @dev Curse state per route, by the remote chain id ({Sentinels}).
    mapping(uint256 remoteChainId => QiaoEndpoint.Curse curse) internal _curses;
    /// @dev Votes toward curse number `round` (the route's curseCount + 1 while it is not cursed).
    mapping(uint256 remoteChainId => mapping(uint64 round => mapping(address sentinel => bool voted))) internal
        _curseVotes;
    /// @dev How many sentinel votes curse a route (k of m; 1 from the constructor).
    uint8 internal _curseQuorum;
    /// @dev Seconds a transfer at or above its token's challenge threshold is held before release.
    uint64 internal _challengePeriod;
    /// @dev Per local token: a transfer of at least this amount is held for the challenge period (0: never).
    mapping(address token => uint256 threshold) internal _challengeThreshold;
    /// @dev Release time of each transfer held for its challenge window (0: not held). A held
    ///      transfer's leaf is in {_queued} too (status Queued) but not in its token's FIFO queue.
    mapping(uint256 srcChainId => mapping(uint64 nonce => uint64 releaseAfter)) internal _heldUntil;
    /// @dev The route a scheduled UNCURSE lifts, by its action nonce (its curseCount is in {_pending}).
    mapping(uint64 actionNonce => uint256 remoteChainId) internal _uncurseRoutes;
}
