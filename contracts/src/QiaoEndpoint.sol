// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {BLS} from "./BLS.sol";
import {KycRegistry} from "./KycRegistry.sol";
import {BatchCodec} from "./endpoint/BatchCodec.sol";
import {Protocol} from "./endpoint/Protocol.sol";
import {EndpointExecution} from "./endpoint/EndpointExecution.sol";
import {KeyEpochs} from "./endpoint/KeyEpochs.sol";
import {RateLimiter} from "./endpoint/RateLimiter.sol";
import {Refunds} from "./endpoint/Refunds.sol";
import {SentinelModule} from "./endpoint/SentinelModule.sol";
import {SignedActions} from "./endpoint/SignedActions.sol";
import {TokenPairs} from "./endpoint/TokenPairs.sol";
import {Views} from "./endpoint/Views.sol";

/// @title QiaoEndpoint
/// @notice The bridge-facing half shared by both Qiao endpoints: the vault on the consortium chain
///         (lock / unlock) and the gateway on Ethereum (burn / mint). The relayer watches and
///         submits to both with one code path; docs/PROTOCOL.md fixes every byte of this interface.
///
/// @dev What an endpoint does, and who may do it:
///      - anyone: {executeBatch} (a committee-signed batch), {executeTransfer} (one transfer of a
///        signed batch with its Merkle proof), {releaseQueued} (a transfer held by the rate limit,
///        once the bucket has room), {refund} (a committee-signed refund of a transfer that failed
///        on its destination), {pauseWithSignature} (immediate), {resume} and {rotateKey} (both
///        scheduled: they take effect through {executePending}, which anyone may call, only
///        {actionDelay} seconds later); the signature is the authorisation of all the signed ones;
///      - the guardian (an operators' multisig): {pause}, immediately; {cancelAllPending} (every
///        scheduled RESUME and ROTATE at once) or {cancelPending} (one) during their delay;
///        {invalidateActions} (while paused) to void action signatures not submitted yet. It
///        never resumes and moves no funds;
///      - the owner (two-step; it can never be renounced): {registerToken}, {setRateLimit}, {setGuardian},
///        and the sentinels' settings (setSentinel, setCurseQuorum, setChallenge, setChallengePeriod);
///      - a registered sentinel: curse (a route) and veto (a transfer held for its challenge
///        window), nothing else; the committee lifts a curse by a signed {uncurse}-style action
///        (UNCURSE, scheduled like RESUME). These run in {SentinelModule} through {fallback}.
///
///      Transfer states on the destination, per (srcChainId, nonce): NONE -> DELIVERED, or
///      NONE -> QUEUED -> DELIVERED | FAILED, or NONE -> FAILED. A nonce leaves NONE once, by a
///      valid committee signature; `isExecuted` is true from then on ("consumed by a signature"),
///      {transferStatus} tells which. On the source, a FAILED transfer can be refunded once
///      (committee-signed), never a DELIVERED one: the committee signs a refund only for a final
///      TransferFailed event; and only exactly the transfer the source recorded at lock / burn
///      ({initiatedLeaf}), charged to the Inbound rate limit.
///
///      There is no initializer: all set-up is in the constructor, which runs once.
///
///      How the endpoint is put together (contracts/src/endpoint/, one part per file, each read
///      whole; contracts/STORAGE.md): {EndpointStorage} (every storage variable, and the layout),
///      {KeyEpochs} (group keys and signature checking), {RateLimiter} (token buckets),
///      {BatchCodec} (leaves, roots, signed messages), {EndpointExecution} (batch and
///      single-transfer execution, the destination's hot path), {SignedActions} (pause, resume,
///      rotate, freeze), {Refunds} and {TokenPairs}. The hot paths (executeBatch,
///      executeTransfer, lock / burn, signature checking) are internal code, inlined here; the
///      rare ones ({SignedActions}, {Refunds}, {TokenPairs}, {RateLimiter-setRateLimit}) are
///      external library functions that run by DELEGATECALL on this contract's storage, which
///      keeps the endpoints well under EIP-170's 24,576 bytes (a deployment links the libraries:
///      relayer/deploy.py). This file is the endpoint's whole interface: its types, constants,
///      events and errors (declared here rather than in an inherited interface, because callers
///      and the tests name them `QiaoEndpoint.X`, which Solidity resolves only for members
///      declared in QiaoEndpoint itself; the parts emit and revert them qualified the same way),
///      and every external function, each a few lines that call into the parts. That is why it
///      is longer than the parts: it is the reference a caller reads.
abstract contract QiaoEndpoint is Ownable2Step, Pausable, ReentrancyGuardTransient, EndpointExecution {
    using KeyEpochs for KeyEpochs.Keys;
    using RateLimiter for Bucket;

    /// @notice One cross-chain transfer, as emitted on the source chain and executed on the destination.
    struct Transfer {
        uint256 srcChainId;
        uint256 dstChainId;
        uint64 nonce;
        address srcToken;
        address dstToken;
        address sender;
        address recipient;
        uint256 amount;
    }

    /// @notice A token pair named once by a {PackedBatch}; its transfers refer to it by index.
    struct TokenPair {
        address srcToken;
        address dstToken;
    }

    /// @notice The fields of one transfer of a {PackedBatch} that are not shared with the others.
    struct PackedTransfer {
        address sender;
        address recipient;
        uint256 amount;
    }

    /// @notice The calldata form of a batch for {executeBatch} and {batchMessage}: what every
    ///         transfer shares is given once. Transfer `i` of the batch is
    ///         `Transfer(srcChainId, dstChainId, firstNonce + i, pairs[k].srcToken, pairs[k].dstToken,
    ///         transfers[i].sender, transfers[i].recipient, transfers[i].amount)` with
    ///         `k = uint8(pairOf[i])`: nonces are contiguous by construction, so a gap, a duplicate
    ///         or a reordering cannot be expressed. The leaves and the signed message are those of
    ///         the eight-field transfers (docs/PROTOCOL.md); only the calldata is shorter.
    /// @dev `pairs` holds 1..256 pairs; `pairOf` has one byte per transfer, each < pairs.length.
    struct PackedBatch {
        uint256 srcChainId;
        uint256 dstChainId;
        uint64 firstNonce;
        TokenPair[] pairs;
        bytes pairOf;
        PackedTransfer[] transfers;
    }

    /// @notice State of a transfer on its destination endpoint.
    enum TransferStatus {
        None,
        Delivered,
        Queued,
        Failed
    }

    /// @notice Why a transfer could not be delivered (event {TransferFailed}). Values are part of
    ///         the wire format (the relayer decodes them): new reasons are only ever appended.
    /// @dev RecipientNotAllowed (1): not allowed or frozen in the destination's registry.
    ///      TokenFrozen (2): (gateway) the whole wrapped token is frozen.
    ///      DeliveryRefused (3): (vault) the asset's `transfer` reverted, returned false, returned
    ///      something that is not a boolean, or the asset has no code.
    ///      UnregisteredTokenPair (4): the transfer's token pair is not registered here.
    ///      ExceedsCapacity (5): the amount is larger than the capacity of the token's Inbound
    ///      rate limit, so it could never pass: failed when it arrives, or when {releaseQueued}
    ///      reaches it at the head of the queue after the capacity was lowered below it.
    ///      Vetoed (6): a sentinel vetoed it inside its challenge window ({veto}).
    enum FailureReason {
        None,
        RecipientNotAllowed,
        TokenFrozen,
        DeliveryRefused,
        UnregisteredTokenPair,
        ExceedsCapacity,
        Vetoed
    }

    /// @notice Direction of a rate limit: tokens leaving this chain (lock, burn) or arriving (unlock, mint).
    enum Direction {
        Outbound,
        Inbound
    }

    /// @notice State of a scheduled committee action (RESUME or ROTATE), per action nonce.
    enum PendingStatus {
        None,
        Pending,
        Executed,
        Cancelled
    }

    /// @notice A committee-signed RESUME, ROTATE or UNCURSE waiting for its delay ({pendingAction}).
    /// @dev `pauseCount`: the pause a RESUME was scheduled in (it lifts only that one), or the
    ///      curse number an UNCURSE lifts (its route is in its signed params); `keyData`: the new key's
    ///      data contract (ROTATE).
    struct PendingAction {
        bytes32 typehash;
        uint64 keyEpoch;
        uint64 executableAt;
        uint64 pauseCount;
        PendingStatus status;
        address keyData;
    }

    /// @notice A token bucket: up to `capacity` units, refilled at `refillPerSecond`; capacity 0 = no limit.
    /// @dev `level` and `updatedAt` share a slot, so every charge is one SSTORE of a changed slot
    ///      whatever the time: its gas does not depend on when the transaction is mined.
    struct Bucket {
        uint128 capacity;
        uint128 refillPerSecond;
        uint128 level;
        uint64 updatedAt;
    }

    /// @notice The curse state of one route ({curse}): `count` curses so far (the current one's
    ///         number while `cursed`), `votes` toward the next one.
    struct Curse {
        uint64 count;
        uint8 votes;
        bool cursed;
    }

    /// @notice Bounds of a token's first-in first-out release queue: positions head..tail - 1 are
    ///         queued; empty when head == tail.
    struct Queue {
        uint64 head;
        uint64 tail;
    }

    /// @notice EIP-712-style type hash of a transfer leaf.
    bytes32 public constant TRANSFER_TYPEHASH = Protocol.TRANSFER_TYPEHASH;
    /// @notice EIP-712-style type hash of the signed batch message.
    bytes32 public constant BATCH_TYPEHASH = Protocol.BATCH_TYPEHASH;
    /// @notice Type hash of a committee-signed refund of a failed transfer (signed for the source endpoint).
    bytes32 public constant REFUND_TYPEHASH = Protocol.REFUND_TYPEHASH;
    /// @notice Type hash of a committee-signed pause.
    bytes32 public constant PAUSE_TYPEHASH = Protocol.PAUSE_TYPEHASH;
    /// @notice Type hash of a committee-signed resume (signed for one pause and until a deadline).
    bytes32 public constant RESUME_TYPEHASH = Protocol.RESUME_TYPEHASH;
    /// @notice Type hash of a key rotation signed by the current key.
    bytes32 public constant ROTATE_TYPEHASH = Protocol.ROTATE_TYPEHASH;
    /// @notice Type hash of a committee-signed freeze of an account (carried from C to E).
    bytes32 public constant FREEZE_TYPEHASH = Protocol.FREEZE_TYPEHASH;
    /// @notice Type hash of a committee-signed lifting of one curse of one route ({uncurse}).
    bytes32 public constant UNCURSE_TYPEHASH = Protocol.UNCURSE_TYPEHASH;
    /// @notice Protocol version, ABI-encoded as a dynamic `string` in every signed message.
    string public constant VERSION = Protocol.VERSION;
    /// @notice The key epoch of the group key given at deployment.
    uint64 public constant INITIAL_KEY_EPOCH = Protocol.INITIAL_KEY_EPOCH;
    /// @notice How long signatures of the previous key epoch stay valid after a rotation.
    uint64 public constant KEY_GRACE_PERIOD = Protocol.KEY_GRACE_PERIOD;
    /// @notice Largest amount a transfer may carry (amounts must fit the rate-limit arithmetic).
    uint256 public constant MAX_AMOUNT = Protocol.MAX_AMOUNT;
    /// @notice Longest nonce range {unexecutedCount} answers for (a relayer asks one batch at a time).
    uint64 public constant MAX_RANGE_QUERY = Protocol.MAX_RANGE_QUERY;
    /// @notice Longest {actionDelay} a deployment may set (the shortest is 1 second).
    uint64 public constant MAX_ACTION_DELAY = Protocol.MAX_ACTION_DELAY;
    /// @notice Most action nonces one {invalidateActions} may skip (the counter can never be run out).
    uint64 public constant MAX_ACTION_NONCE_SKIP = Protocol.MAX_ACTION_NONCE_SKIP;

    /// @notice Seconds between a committee-signed RESUME or ROTATE and the moment {executePending}
    ///         may apply it: the guardian's time to {cancelPending} it. Set at deployment.
    uint64 public immutable actionDelay;

    /// @notice The allow-list of this chain.
    KycRegistry public immutable registry;

    /// @dev The code of the sentinels' functions ({fallback}), created with the endpoint.
    address private immutable _sentinelModule;

    /// @notice Emitted on the source chain by lock (vault) and burn (gateway); srcChainId = block.chainid.
    event TransferInitiated(
        uint256 indexed dstChainId,
        uint64 indexed nonce,
        address indexed sender,
        address srcToken,
        address dstToken,
        address recipient,
        uint256 amount
    );
    /// @notice A transfer was delivered (unlocked or minted) to its recipient.
    event TransferExecuted(uint256 indexed srcChainId, uint64 indexed nonce, address recipient, uint256 amount);
    /// @notice A signed transfer could not be delivered; it is final here and refundable on the source.
    event TransferFailed(uint256 indexed srcChainId, uint64 indexed nonce, FailureReason reason);
    /// @notice A signed transfer exceeds the inbound rate limit; {releaseQueued} delivers it later.
    event TransferQueued(uint256 indexed srcChainId, uint64 indexed nonce, bytes32 leaf, uint256 amount);
    /// @notice A failed transfer was refunded to its sender on this (source) chain.
    event TransferRefunded(uint256 indexed dstChainId, uint64 indexed nonce, address sender, uint256 amount);
    /// @notice Emitted once per batch executed by {executeBatch}.
    event BatchExecuted(uint256 indexed srcChainId, uint64 firstNonce, uint64 lastNonce, bytes32 root, uint64 keyEpoch);
    /// @notice Emitted when a group key is installed for a key epoch.
    event GroupKeySet(uint64 indexed keyEpoch, bytes groupKey);
    /// @notice Emitted when a token pair is registered.
    event TokenRegistered(uint256 indexed remoteChainId, address indexed localToken, address indexed remoteToken);
    /// @notice Emitted when a rate limit is set.
    event RateLimitSet(address indexed token, Direction indexed direction, uint128 capacity, uint128 refillPerSecond);
    /// @notice Emitted when the guardian changes.
    event GuardianSet(address indexed guardian);
    /// @notice Emitted when a committee signature of an action (pause, resume, rotate, freeze) is
    ///         accepted and its action nonce consumed: pause and freeze take effect at once, resume
    ///         and rotate are scheduled ({ActionScheduled}).
    event SignedActionApplied(bytes32 indexed typehash, uint64 indexed actionNonce, uint64 keyEpoch);
    /// @notice A committee-signed RESUME or ROTATE (`newKeyHash`: keccak256 of the new key; zero for
    ///         a RESUME) that {executePending} may apply from `executableAt` unless cancelled.
    event ActionScheduled(
        bytes32 indexed typehash, uint64 indexed actionNonce, uint64 keyEpoch, uint64 executableAt, bytes32 newKeyHash
    );
    /// @notice The guardian cancelled the scheduled action of `actionNonce`.
    event ActionCancelled(bytes32 indexed typehash, uint64 indexed actionNonce);
    /// @notice The scheduled action of `actionNonce` took effect.
    event ActionExecuted(bytes32 indexed typehash, uint64 indexed actionNonce);
    /// @notice The guardian moved the action nonce from `fromNonce` to `toNonce`: action signatures
    ///         for the nonces in between can never be used.
    event ActionsInvalidated(uint64 fromNonce, uint64 toNonce);
    /// @notice The guardian cancelled every scheduled action at once ({cancelAllPending}): none
    ///         of action nonce below `belowActionNonce` can be executed any more.
    event ActionsCancelled(uint64 belowActionNonce);
    /// @notice The owner registered (`enabled`) or removed a sentinel.
    event SentinelSet(address indexed sentinel, bool enabled);
    /// @notice The owner set how many sentinel votes curse a route.
    event CurseQuorumSet(uint8 k);
    /// @notice The owner set `token`'s challenge threshold (0: no transfer of it is held).
    event ChallengeThresholdSet(address indexed token, uint256 threshold);
    /// @notice The owner set the challenge period (seconds a held transfer waits).
    event ChallengePeriodSet(uint64 period);
    /// @notice A sentinel voted to curse the route with `remoteChainId`.
    event CurseVoted(uint256 indexed remoteChainId, address indexed sentinel);
    /// @notice The route with `remoteChainId` is cursed (curse number `curseCount`): every entry
    ///         point of it reverts with {RouteIsCursed} until an UNCURSE of this curse is executed.
    event RouteCursed(uint256 indexed remoteChainId, uint64 curseCount);
    /// @notice A committee-signed UNCURSE lifted curse number `curseCount` of the route.
    event RouteUncursed(uint256 indexed remoteChainId, uint64 curseCount);
    /// @notice A transfer at or above its token's challenge threshold is held until
    ///         `releaseAfter` ({releaseQueued} then); a sentinel may {veto} it before.
    event TransferHeld(uint256 indexed srcChainId, uint64 nonce, bytes32 leaf, uint256 amount, uint64 releaseAfter);
    /// @notice `sentinel` vetoed a held transfer: it failed (FailureReason.Vetoed), refundable on its source.
    event TransferVetoed(uint256 indexed srcChainId, uint64 nonce, address sentinel);

    // --- executeBatch rejections
    /// @notice The batch contains no transfer.
    error EmptyBatch();
    /// @notice No group key is stored for `keyEpoch`.
    error UnknownKeyEpoch(uint64 keyEpoch);
    /// @notice `keyEpoch` is neither the current one nor the previous one within its grace period.
    error KeyEpochExpired(uint64 keyEpoch);
    /// @notice The signature is not 128 bytes (EIP-2537 G1 encoding).
    error InvalidSignatureLength(uint256 length);
    /// @notice The signature is the point at infinity.
    error IdentitySignature();
    /// @notice The signature is not a valid G1 subgroup point or the pairing check failed.
    error InvalidSignature();
    /// @notice The batch (`index` 0: its header holds the destination of all its transfers) or
    ///         the single transfer is for another destination chain than this one.
    error WrongDestinationChain(uint256 index, uint256 dstChainId);
    /// @notice The batch starts at nonce 0, which is never assigned.
    error ZeroNonce();
    /// @notice A batch of `count` transfers from `firstNonce` would run past nonce 2^64 - 1.
    error NonceRangeOverflow(uint64 firstNonce, uint256 count);
    /// @notice A packed batch names no token pair, or more than 256.
    error InvalidPairCount(uint256 count);
    /// @notice A packed batch's `pairOf` does not have one byte per transfer.
    error PairIndexLengthMismatch(uint256 transfers, uint256 indices);
    /// @notice Transfer `index` of a packed batch names pair `pair`, which the batch does not have.
    error PairIndexOutOfRange(uint256 index, uint256 pair);
    /// @notice An address word of a packed batch has bits above the 160 of an address.
    error DirtyAddress(uint256 index);
    /// @notice Transfer (`srcChainId`, `nonce`) was already executed (single-transfer execution).
    error AlreadyExecuted(uint256 srcChainId, uint64 nonce);
    /// @notice Every transfer of the batch was already executed.
    error BatchAlreadyExecuted(uint256 srcChainId, uint64 firstNonce, uint64 lastNonce);
    /// @notice Transfer (`srcChainId`, `nonce`) has the zero address as recipient.
    error TransferZeroRecipient(uint256 srcChainId, uint64 nonce);
    /// @notice Transfer (`srcChainId`, `nonce`) has a zero amount.
    error TransferZeroAmount(uint256 srcChainId, uint64 nonce);
    /// @notice Transfer (`srcChainId`, `nonce`) carries more than {MAX_AMOUNT}.
    error TransferAmountTooLarge(uint256 srcChainId, uint64 nonce);

    // --- single transfer, queue and refund rejections
    /// @notice The transfer's nonce is outside the batch range, or the range is invalid.
    error NonceOutsideBatch(uint64 nonce, uint64 firstNonce, uint64 lastNonce);
    /// @notice A nonce range query with a zero first nonce, an end before its start, or too long.
    error InvalidNonceRange(uint64 firstNonce, uint64 lastNonce);
    /// @notice The Merkle proof does not have the length the batch size and position require.
    error InvalidProofLength(uint256 expected, uint256 given);
    /// @notice The transfer is not queued here with these fields.
    error NotQueued(uint256 srcChainId, uint64 nonce);
    /// @notice The transfer is queued, but behind `headLeaf`: the queue is released in order
    ///         (first in, first out); release the head first ({queueHead}).
    error NotQueueHead(uint256 srcChainId, uint64 nonce, bytes32 headLeaf);
    /// @notice The rate-limit bucket holds `available`, less than `amount`.
    error RateLimited(address token, Direction direction, uint256 available, uint256 amount);
    /// @notice No transfer toward `dstChainId` with `nonce` was initiated here with exactly these
    ///         fields (source chain, tokens, sender, recipient, amount): nothing to refund.
    error NotRefundable(uint256 dstChainId, uint64 nonce);
    /// @notice The transfer was already refunded.
    error AlreadyRefunded(uint256 dstChainId, uint64 nonce);

    // --- lock / burn rejections
    /// @notice `token` is not registered for transfers toward `dstChainId`.
    error UnregisteredToken(uint256 dstChainId, address token);
    /// @notice The recipient is the zero address.
    error ZeroRecipient();
    /// @notice The amount is zero.
    error ZeroAmount();
    /// @notice The amount exceeds {MAX_AMOUNT}.
    error AmountTooLarge(uint256 amount);
    /// @notice `account` is not allowed (or is frozen) in the registry.
    error NotAllowed(address account);

    // --- administration rejections
    /// @notice The remote chain id is zero or this chain's id.
    error InvalidRemoteChain(uint256 remoteChainId);
    /// @notice A token address is the zero address.
    error ZeroTokenAddress();
    /// @notice The local token has no code.
    error TokenHasNoCode(address token);
    /// @notice `token` is already part of a pair for `remoteChainId`.
    error TokenAlreadyRegistered(uint256 remoteChainId, address token);
    /// @notice The caller is not the guardian.
    error NotGuardian(address caller);
    /// @notice An address that must be set is the zero address, or the registry has no code.
    error ZeroAddress();
    /// @notice A rate limit with capacity 0 must also have refill 0 (0/0 means no limit).
    error InvalidRateLimit();
    /// @notice The new group key equals the current one.
    error KeyUnchanged();
    /// @notice A signed action needs the current key epoch.
    error NotCurrentKeyEpoch(uint64 keyEpoch);
    /// @notice The key data contract could not be created.
    error KeyStoreFailed();
    /// @notice The action delay given at deployment is 0 or above {MAX_ACTION_DELAY}.
    error InvalidActionDelay(uint64 delay);
    /// @notice No action is pending under `actionNonce` (never scheduled, executed, or cancelled
    ///         alone or by {cancelAllPending}).
    error NoPendingAction(uint64 actionNonce);
    /// @notice The pending action of `actionNonce` may run from `executableAt` only.
    error ActionNotReady(uint64 actionNonce, uint64 executableAt);
    /// @notice The pending action of `actionNonce` can no longer run: the key epoch that signed it
    ///         is not the current one any more, or (RESUME) the pause it was signed to lift ended.
    error PendingActionStale(uint64 actionNonce);
    /// @notice {invalidateActions} must move the action nonce forward, by at most {MAX_ACTION_NONCE_SKIP}.
    error InvalidActionNonce(uint64 current, uint64 upTo);
    /// @notice The signed action was submitted after `deadline`, the last second it was signed
    ///         for (a RESUME: the operators' proposal expired); the committee signs it again.
    error ActionExpired(uint64 deadline);
    /// @notice The route with `remoteChainId` is cursed by the sentinels: nothing of it moves
    ///         until a committee-signed UNCURSE is executed ({uncurse}). Nothing is lost: wait.
    error RouteIsCursed(uint256 remoteChainId);
    /// @notice The caller is not a registered sentinel.
    error NotSentinel(address caller);
    /// @notice `sentinel` already voted toward the route's next curse.
    error AlreadyVoted(uint256 remoteChainId, address sentinel);
    /// @notice The route is not cursed: there is nothing to lift.
    error RouteNotCursed(uint256 remoteChainId);
    /// @notice An UNCURSE for curse `given` of a route whose current curse is `current`.
    error CurseCountMismatch(uint256 remoteChainId, uint64 current, uint64 given);
    /// @notice The transfer is not held for a challenge window here with these fields.
    error NotHeld(uint256 srcChainId, uint64 nonce);
    /// @notice The held transfer's challenge window runs until `releaseAfter`: release it from then.
    error ChallengeWindowOpen(uint256 srcChainId, uint64 nonce, uint64 releaseAfter);
    /// @notice The held transfer's challenge window ended at `releaseAfter`: too late to veto.
    error ChallengeWindowClosed(uint256 srcChainId, uint64 nonce, uint64 releaseAfter);
    /// @notice A curse quorum must be at least 1.
    error InvalidCurseQuorum(uint8 k);
    /// @notice A challenge period must be 1 to {MAX_CHALLENGE_PERIOD} seconds.
    error InvalidChallengePeriod(uint64 period);
    /// @notice Ownership cannot be renounced: rate limits, registrations and the guardian need an
    ///         owner. Transfer it (two-step) instead.
    error OwnershipCannotBeRenounced();

    /// @param initialOwner Owner (registration, rate limits, guardian; two-step ownership transfer).
    /// @param guardian_ The address that may pause (not zero).
    /// @param groupKeyG2 The committee's group public key, 256-byte EIP-2537 G2, stored as epoch 1.
    ///        Reverts with a {BLS} error if it is not a valid G2 subgroup point or is the identity.
    /// @param registry_ The KYC registry of this chain (a contract).
    /// @param actionDelay_ Seconds a committee-signed RESUME or ROTATE waits before it may take
    ///        effect ({actionDelay}): 1 to {MAX_ACTION_DELAY} (devnet: seconds; a real network: at
    ///        least a day, the guardian's time to react).
    constructor(
        address initialOwner,
        address guardian_,
        bytes memory groupKeyG2,
        KycRegistry registry_,
        uint64 actionDelay_
    ) Ownable(initialOwner) {
        if (guardian_ == address(0) || address(registry_).code.length == 0) revert ZeroAddress();
        if (actionDelay_ == 0 || actionDelay_ > MAX_ACTION_DELAY) revert InvalidActionDelay(actionDelay_);
        actionDelay = actionDelay_;
        registry = registry_;
        // One sentinel's vote curses; a held transfer waits as long as a signed action, until
        // the owner sets a challenge period ({setChallengePeriod}; the deployment does).
        _curseQuorum = 1;
        _challengePeriod = actionDelay_;
        _sentinelModule = address(new SentinelModule());
        _guardian = guardian_;
        emit GuardianSet(guardian_);
        BLS.validatePublicKey(groupKeyG2);
        _keys.keyData[INITIAL_KEY_EPOCH] = KeyEpochs.storeKey(groupKeyG2);
        _keys.current = INITIAL_KEY_EPOCH;
        emit GroupKeySet(INITIAL_KEY_EPOCH, groupKeyG2);
    }

    modifier onlyGuardian() {
        _checkGuardian();
        _;
    }

    // ------------------------------------------------------------------------------------------
    // Administration (owner)
    // ------------------------------------------------------------------------------------------

    /// @notice Registers a permanent token pair between this chain and `remoteChainId`.
    /// @dev Same signature and argument order on the vault and the gateway: local token first.
    ///      Refuses a zero or own chain id, zero addresses, a local token without code, and either
    ///      token already paired for `remoteChainId` (pairs are one-to-one and never change, so a
    ///      transfer in flight always meets the pair it was signed for).
    /// @param remoteChainId The chain id of the other side.
    /// @param localToken The token on this chain (vault: the asset; gateway: its WrappedToken).
    /// @param remoteToken The token on `remoteChainId`.
    function registerToken(uint256 remoteChainId, address localToken, address remoteToken) external onlyOwner {
        TokenPairs.register(_remoteTokens, _localTokens, remoteChainId, localToken, remoteToken);
        _registerLocalToken(remoteChainId, localToken);
    }

    /// @notice Sets the token bucket of `token` in `direction`; owner only. A new limit (where there
    ///         was none) starts full; changing an existing one keeps what the bucket holds: its
    ///         level is refilled at the old rate up to now, then capped at the new capacity
    ///         (`min(level, capacity)`), and refills at the new rate from now. A rate change never
    ///         refills a drained bucket, and a larger capacity fills at the rate, not at once.
    /// @dev capacity = 0 and refillPerSecond = 0 removes the limit; capacity 0 with a refill is refused.
    /// @param token The local token.
    /// @param direction Outbound (lock/burn) or Inbound (unlock/mint).
    /// @param capacity Most units that may pass at once.
    /// @param refillPerSecond Units added back per second, up to `capacity`.
    function setRateLimit(address token, Direction direction, uint128 capacity, uint128 refillPerSecond)
        external
        onlyOwner
    {
        RateLimiter.setRateLimit(_buckets, token, direction, capacity, refillPerSecond);
    }

    /// @notice Replaces the guardian; owner only.
    /// @param guardian_ The new guardian (not zero).
    function setGuardian(address guardian_) external onlyOwner {
        if (guardian_ == address(0)) revert ZeroAddress();
        _guardian = guardian_;
        emit GuardianSet(guardian_);
    }

    /// @notice Always reverts with {OwnershipCannotBeRenounced}: an endpoint without an owner could
    ///         never change a rate limit (transfers queued behind a bucket without refill wait
    ///         for the owner), nor register a token or replace the guardian. Use the two-step {transferOwnership}.
    function renounceOwnership() public pure override {
        revert OwnershipCannotBeRenounced();
    }

    // ------------------------------------------------------------------------------------------
    // Pause, resume, key rotation (guardian and committee)
    // ------------------------------------------------------------------------------------------

    /// @notice Pauses the endpoint at once; guardian only. Only a committee-signed {resume},
    ///         after its delay, undoes it.
    /// @dev Paused: lock/burn, executeBatch, executeTransfer, releaseQueued and refund revert with
    ///      EnforcedPause. Signed actions (pause, resume, rotate, freeze, allow), {executePending},
    ///      {cancelAllPending}, {cancelPending} and {invalidateActions} still work.
    function pause() external onlyGuardian {
        _brake();
    }

    /// @notice Pauses at once with a committee signature on the PAUSE message for the next action nonce.
    /// @param keyEpoch The current key epoch.
    /// @param signature The 128-byte BLS signature.
    function pauseWithSignature(uint64 keyEpoch, bytes calldata signature) external {
        SignedActions.consume(_keys, PAUSE_TYPEHASH, keyEpoch, "", signature);
        _brake();
    }

    /// @notice Schedules a resume, on a committee signature of the RESUME message for the next
    ///         action nonce, the current pause ({pauseCount}) and `deadline`, while paused and
    ///         until `deadline`. It lifts the pause only through {executePending}, from
    ///         {actionDelay} seconds later, unless the guardian cancels it first ({cancelPending}).
    /// @dev Reverts with ExpectedPause when not paused, {ActionExpired} after `deadline`,
    ///      {NotCurrentKeyEpoch}, a signature error ({InvalidSignature} also for a RESUME signed
    ///      during an earlier pause or for another deadline). Emits {SignedActionApplied} and
    ///      {ActionScheduled}. A resume lifts only the pause it was scheduled in, and only while
    ///      its key epoch is current ({PendingActionStale}); the deadline bounds its submission,
    ///      not its execution.
    /// @param keyEpoch The current key epoch.
    /// @param deadline The last second (block timestamp) the RESUME may be submitted, as signed.
    /// @param signature The 128-byte BLS signature.
    /// @return pendingNonce The action nonce the resume is pending under.
    function resume(uint64 keyEpoch, uint64 deadline, bytes calldata signature)
        external
        returns (uint64 pendingNonce)
    {
        _requirePaused();
        return SignedActions.resume(_keys, _pending, keyEpoch, deadline, signature, actionDelay);
    }

    /// @notice Schedules the installation of `newGroupKey` as key epoch current + 1, on a signature
    ///         of the current key. It takes effect only through {executePending}, from
    ///         {actionDelay} seconds later, unless the guardian cancels it first: a stolen key
    ///         cannot lock the committee out before the guardian reacts.
    /// @dev Once executed, the previous epoch's signatures stay valid for batches and refunds for
    ///      {KEY_GRACE_PERIOD}, or not at all if the ROTATE is executed while the endpoint is
    ///      paused (the recovery from a stolen key: the stolen key ends at once); older epochs stop
    ///      at once; every other pending action of the old epoch becomes stale.
    ///      Reverts on an invalid new key, the current key ({KeyUnchanged}), {NotCurrentKeyEpoch},
    ///      a signature error. Emits {SignedActionApplied} and {ActionScheduled}.
    /// @param keyEpoch The current key epoch (the signer).
    /// @param newGroupKey The new 256-byte EIP-2537 G2 key (validated: on curve, in subgroup, not identity).
    /// @param signature BLS signature on the ROTATE message.
    /// @return pendingNonce The action nonce the rotation is pending under.
    function rotateKey(uint64 keyEpoch, bytes calldata newGroupKey, bytes calldata signature)
        external
        returns (uint64 pendingNonce)
    {
        return SignedActions.rotateKey(_keys, _pending, keyEpoch, newGroupKey, signature, actionDelay);
    }

    /// @notice Applies the scheduled RESUME, ROTATE or UNCURSE of `nonce` once its delay has
    ///         passed. Anyone may call it.
    /// @dev Reverts with {NoPendingAction} (never scheduled, executed already, or cancelled,
    ///      alone or by {cancelAllPending}), {ActionNotReady} before `executableAt`, {PendingActionStale} if its key epoch is no
    ///      longer the current one or (RESUME) the endpoint is not in the pause it was scheduled in.
    ///      Works while paused. Emits {ActionExecuted}, then (ROTATE) {GroupKeySet} or (RESUME) Unpaused.
    /// @param nonce The action nonce of the pending action ({ActionScheduled}).
    function executePending(uint64 nonce) external {
        if (SignedActions.executePending(_keys, _pending, _uncurseRoutes, _curses, nonce, paused())) _unpause();
    }

    /// @notice Cancels the scheduled RESUME or ROTATE of `nonce`; guardian only, paused or not.
    /// @dev Reverts with {NoPendingAction} unless it is pending. Emits {ActionCancelled}.
    /// @param nonce The action nonce of the pending action.
    function cancelPending(uint64 nonce) external onlyGuardian {
        SignedActions.cancelPending(_keys, _pending, nonce);
    }

    /// @notice Cancels every scheduled RESUME and ROTATE at once; guardian only, paused or not.
    ///         Every action nonce below {actionNonce} can no longer be executed ({NoPendingAction}),
    ///         however many a thief holding the group key scheduled; actions scheduled afterwards
    ///         are not affected (the committee signs a new RESUME or ROTATE for the next nonce).
    /// @dev One storage write; never reverts for the guardian. Emits {ActionsCancelled}.
    function cancelAllPending() external onlyGuardian {
        SignedActions.cancelAllPending(_keys);
    }

    /// @notice Moves the action nonce forward to `upTo`; guardian only, while paused. Every action
    ///         signature made for a nonce below `upTo` and not submitted yet (a leaked RESUME, a
    ///         ROTATE signed by a stolen key) can then never be used; the committee signs again
    ///         for the new nonce. Scheduled actions are not affected ({cancelPending} them).
    /// @dev Reverts with ExpectedPause when not paused, {InvalidActionNonce} unless
    ///      actionNonce() < upTo <= actionNonce() + {MAX_ACTION_NONCE_SKIP}. Emits {ActionsInvalidated}.
    /// @param upTo The new action nonce.
    function invalidateActions(uint64 upTo) external onlyGuardian whenPaused {
        SignedActions.invalidateActions(_keys, upTo);
    }

    // ------------------------------------------------------------------------------------------
    // Sentinels: curse, veto, the committee's UNCURSE, the challenge window ({SentinelModule})
    // ------------------------------------------------------------------------------------------

    /// @notice Every call this contract does not implement goes to {SentinelModule}, run by
    ///         DELEGATECALL on this endpoint's storage: the sentinels' functions (setSentinel,
    ///         setCurseQuorum, setChallenge, setChallengePeriod, curse, veto, uncurse) and views
    ///         (isSentinel, isCursed, curseCount, curseQuorum, challengeThreshold, challengePeriod,
    ///         heldUntil); call them through `SentinelModule(endpoint)` (its ABI is the endpoint's
    ///         too: relayer/provisioning/deploy.py merges it). A selector neither has reverts
    ///         without data, as before. Not payable.
    /// @dev The module's code is not part of the endpoint's (EIP-170); it is created by the
    ///      constructor, so its address is fixed with the endpoint and nobody can change it.
    fallback() external {
        address module = _sentinelModule;
        assembly ("memory-safe") {
            calldatacopy(0, 0, calldatasize())
            let ok := delegatecall(gas(), module, 0, calldatasize(), 0, 0)
            returndatacopy(0, 0, returndatasize())
            if iszero(ok) { revert(0, returndatasize()) }
            return(0, returndatasize())
        }
    }

    /// @dev Reverts with {RouteIsCursed} while the route with `remoteChainId` is cursed.
    function _requireUncursed(uint256 remoteChainId) internal view {
        if (_curses[remoteChainId].cursed) revert RouteIsCursed(remoteChainId);
    }

    /// @dev Reverts with {NotGuardian} unless the caller is the guardian (a function rather than
    ///      the modifier's body: its code is not repeated in every guardian function).
    function _checkGuardian() private view {
        if (msg.sender != _guardian) revert NotGuardian(msg.sender);
    }

    /// @dev Pauses (reverts with EnforcedPause if paused already) and counts the pause.
    function _brake() private {
        _pause();
        ++_keys.pauseCount;
    }

    // ------------------------------------------------------------------------------------------
    // Destination side
    // ------------------------------------------------------------------------------------------

    /// @notice Executes a batch of transfers signed by the committee. Each transfer not yet
    ///         consumed is delivered (unlock / mint), queued by the inbound rate limit or, on
    ///         the gateway, while its token's asset is suspended ({TransferQueued}), or recorded
    ///         as failed ({TransferFailed}); a failure never reverts the batch. Transfers already consumed (e.g. one executed alone with a
    ///         proof) are skipped.
    /// @dev Reverts as a whole on: a paused endpoint; a cursed route from the batch's source
    ///      ({RouteIsCursed}); an empty batch ({EmptyBatch}); an unknown or
    ///      expired key epoch; a batch for another chain; a first nonce of 0 or a range past
    ///      2^64 - 1; a malformed pair table or index; a zero recipient, zero or too large amount;
    ///      a signature that is not 128 bytes, the identity, not a valid point or failing the
    ///      pairing check; a batch whose transfers were all consumed already
    ///      ({BatchAlreadyExecuted}). A transfer whose token pair is not registered here is
    ///      recorded as failed (FailureReason.UnregisteredTokenPair), one larger than its token's
    ///      Inbound capacity (it could never pass) as failed with FailureReason.ExceedsCapacity;
    ///      neither reverts the batch. One at or above its token's challenge threshold is held
    ///      ({TransferHeld}) for the challenge period: a sentinel may veto it meanwhile.
    /// @param keyEpoch The key epoch whose group key signed the batch.
    /// @param batch The transfers, `firstNonce..firstNonce + n - 1`, in the packed form.
    /// @param signature The 128-byte EIP-2537 G1 BLS signature on {batchMessage}.
    function executeBatch(uint64 keyEpoch, PackedBatch calldata batch, bytes calldata signature)
        external
        nonReentrant
        whenNotPaused
    {
        _requireUncursed(batch.srcChainId);
        // Before the leaves and the pairing check: a relayer that lost the race pays little.
        _revertIfBatchConsumed(batch);
        (bytes32 root, uint64 lastNonce, uint256 sum, uint256 unpaired) = _verifyBatch(keyEpoch, batch, signature);
        _executeVerified(batch, lastNonce, sum, unpaired);
        emit BatchExecuted(batch.srcChainId, batch.firstNonce, lastNonce, root, keyEpoch);
    }

    /// @notice Executes one transfer of a signed batch with its Merkle proof (manual execution when
    ///         no relayer does). Anyone may call it.
    /// @dev The proof follows the rule of docs/PROTOCOL.md (ordered pairs, odd last node carried up
    ///      without a sibling): siblings from the leaf level up, only for levels where the node has
    ///      one. Same checks and outcomes as {executeBatch} for that transfer; reverts with
    ///      {AlreadyExecuted} if it was consumed already.
    /// @param keyEpoch The key epoch that signed the batch.
    /// @param t The transfer.
    /// @param firstNonce The batch's first nonce.
    /// @param lastNonce The batch's last nonce.
    /// @param proof The sibling hashes, leaf level first.
    /// @param signature The batch's 128-byte BLS signature.
    function executeTransfer(
        uint64 keyEpoch,
        Transfer calldata t,
        uint64 firstNonce,
        uint64 lastNonce,
        bytes32[] calldata proof,
        bytes calldata signature
    ) external nonReentrant whenNotPaused {
        _requireUncursed(t.srcChainId);
        if (t.dstChainId != block.chainid) revert WrongDestinationChain(0, t.dstChainId);
        if (firstNonce == 0) revert ZeroNonce();
        if (t.nonce < firstNonce || t.nonce > lastNonce) revert NonceOutsideBatch(t.nonce, firstNonce, lastNonce);
        // Before the proof and the pairing check: a relayer that lost the race pays little.
        if (_bit(_executed[t.srcChainId], t.nonce)) revert AlreadyExecuted(t.srcChainId, t.nonce);
        bytes32 leaf = BatchCodec.transferLeaf(t);
        bytes32 root = BatchCodec.rootFromProof(leaf, t.nonce - firstNonce, uint256(lastNonce) - firstNonce + 1, proof);
        bytes32 message = BatchCodec.batchMessage(t.srcChainId, keyEpoch, firstNonce, lastNonce, root);
        _keys.checkSignature(keyEpoch, message, signature, true);
        _checkValues(t.srcChainId, t.nonce, t.recipient, t.amount);
        if (!_consume(t.srcChainId, t.nonce)) revert AlreadyExecuted(t.srcChainId, t.nonce);
        if (!_isPair(t.srcChainId, t.srcToken, t.dstToken)) {
            _fail(t.srcChainId, t.nonce, FailureReason.UnregisteredTokenPair);
            return;
        }
        _process(t.srcChainId, t.nonce, t.dstToken, t.recipient, t.amount, leaf);
    }

    /// @notice Delivers the transfer at the head of its token's release queue, once the inbound
    ///         bucket has room. Anyone may call it; a transfer is released at most once, and the
    ///         queue in order: first in, first out ({queueHead}). A transfer held for its
    ///         challenge window ({TransferHeld}: not in the FIFO order) is released on its own once
    ///         the window is over ({ChallengeWindowOpen} before), as if it arrived then: delivered,
    ///         or put at the tail of its token's queue, or failed with ExceedsCapacity.
    /// @dev Reverts with {RouteIsCursed} while the route from the transfer's source is cursed,
    ///      {NotQueued} unless (srcChainId, nonce) is queued with exactly these fields, {NotQueueHead} if another transfer of the token is ahead of it, {RateLimited} if
    ///      the bucket holds less than the amount, EnforcedPause when paused. If the recipient
    ///      or the token became undeliverable meanwhile, the transfer is recorded as failed; if its
    ///      amount is now above the bucket's capacity (the owner lowered it), it could never pass:
    ///      it is recorded as failed with FailureReason.ExceedsCapacity (refundable on its source)
    ///      and leaves the queue, so the transfers behind it are not held up.
    /// @param t The queued transfer, with the fields that were signed.
    function releaseQueued(Transfer calldata t) external nonReentrant whenNotPaused {
        if (RateLimiter.release(_curses, _failed, _queued, _heldUntil, _queues, _queueLeaves, _buckets, t)) {
            _deliverOrFail(t.srcChainId, t.nonce, t.dstToken, t.recipient, t.amount);
        }
    }

    // ------------------------------------------------------------------------------------------
    // Source side: refunds
    // ------------------------------------------------------------------------------------------

    /// @notice Refunds a transfer initiated here that failed on its destination, on a committee
    ///         signature of the REFUND message. Pays `amount` of `srcToken` back to `sender`
    ///         (vault: from the locked balance; gateway: mints it back). Anyone may call it.
    /// @dev The transfer must be exactly the one initiated here: its leaf (all eight fields) must
    ///      equal the one recorded at lock / burn ({initiatedLeaf}), so neither the sender nor the
    ///      amount nor anything else can differ from what was locked or burnt, even with the
    ///      committee's key. The refund is charged to the Inbound bucket of `srcToken` (tokens
    ///      arriving back on this chain, like an unlock or a mint) and gives the transfer's Outbound
    ///      charge back. Reverts, with nothing recorded (so it can be sent again later), with
    ///      {RouteIsCursed} (the route toward its destination is cursed),
    ///      {NotRefundable} (no such transfer initiated here), {AlreadyRefunded}, a signature error,
    ///      EnforcedPause, {NotAllowed} while the sender is not allowed or is frozen in this chain's
    ///      registry, {RateLimited} while the Inbound bucket holds less than the amount (a refund
    ///      larger than the capacity waits until the owner raises it), or the token's own error
    ///      (vault: an asset refusing the sender; gateway: a frozen wrapped token).
    /// @param keyEpoch The key epoch that signed (current, or previous within the grace period).
    /// @param t The failed transfer, exactly as emitted by {TransferInitiated}.
    /// @param signature BLS signature on {refundMessage}.
    function refund(uint64 keyEpoch, Transfer calldata t, bytes calldata signature)
        external
        nonReentrant
        whenNotPaused
    {
        Refunds.authorize(_curses, _keys, _initiated, _refunded, _buckets, registry, keyEpoch, t, signature);
        _refundTo(t.srcToken, t.sender, t.amount);
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice Whether transfer (`srcChainId`, `nonce`) was consumed by a valid signature here
    ///         (delivered, queued or failed); see {transferStatus}.
    /// @param srcChainId The source chain id.
    /// @param nonce The transfer's nonce on its route toward this chain.
    /// @return executed True once consumed.
    function isExecuted(uint256 srcChainId, uint64 nonce) external view returns (bool executed) {
        return _bit(_executed[srcChainId], nonce);
    }

    /// @notice How many transfers of the nonce range `firstNonce..lastNonce` from `srcChainId`
    ///         are not consumed here yet. 0 means every transfer of the range was executed, by
    ///         batches, single transfers with a Merkle proof, or both: a relayer asks this of a
    ///         whole batch, since a user may have executed part of it by hand.
    /// @dev Reverts with {InvalidNonceRange} if `firstNonce` is 0, `lastNonce < firstNonce`, or
    ///      the range spans more than {MAX_RANGE_QUERY} nonces. Reads one storage word per 256 nonces.
    /// @param srcChainId The source chain id.
    /// @param firstNonce The first nonce of the range.
    /// @param lastNonce The last nonce of the range (inclusive).
    /// @return count The number of nonces of the range not consumed.
    function unexecutedCount(uint256 srcChainId, uint64 firstNonce, uint64 lastNonce)
        external
        view
        returns (uint256 count)
    {
        return Views.unexecutedCount(_executed[srcChainId], firstNonce, lastNonce);
    }

    /// @notice The state of transfer (`srcChainId`, `nonce`) on this destination.
    /// @param srcChainId The source chain id.
    /// @param nonce The nonce.
    /// @return status None, Delivered, Queued or Failed.
    function transferStatus(uint256 srcChainId, uint64 nonce) external view returns (TransferStatus status) {
        return Views.transferStatus(_executed[srcChainId], _failed[srcChainId], _queued[srcChainId], nonce);
    }

    /// @notice Whether the transfer toward `dstChainId` with `nonce` was refunded on this chain.
    /// @param dstChainId The destination chain id of the transfer.
    /// @param nonce The nonce.
    /// @return refunded True if refunded.
    function isRefunded(uint256 dstChainId, uint64 nonce) external view returns (bool refunded) {
        return _bit(_refunded[dstChainId], nonce);
    }

    /// @notice The message the committee signs for `batch` under `keyEpoch` (docs/PROTOCOL.md),
    ///         with `dstContract = address(this)` and `dstChainId = block.chainid`.
    /// @dev Checks the batch's shape and values as {executeBatch} does (non-empty, this destination
    ///      chain, first nonce at least 1, pair table and indices, recipients and amounts), not
    ///      whether its token pairs are registered.
    /// @param keyEpoch The key epoch that signs.
    /// @param batch The batch in the packed form of {executeBatch}.
    /// @return message The 32-byte message hashed to G1 and signed.
    function batchMessage(uint64 keyEpoch, PackedBatch calldata batch) external view returns (bytes32 message) {
        (bytes32 root, uint64 lastNonce,) = BatchCodec.packedRoot(batch);
        return BatchCodec.batchMessage(batch.srcChainId, keyEpoch, batch.firstNonce, lastNonce, root);
    }

    /// @notice The REFUND message for transfer `t` (initiated on this chain) under `keyEpoch`.
    /// @param keyEpoch The key epoch that signs.
    /// @param t The transfer.
    /// @return message keccak256(abi.encode(REFUND_TYPEHASH, VERSION, block.chainid, this, keyEpoch, leaf)).
    function refundMessage(uint64 keyEpoch, Transfer calldata t) external view returns (bytes32 message) {
        return BatchCodec.refundMessage(keyEpoch, BatchCodec.transferLeaf(t));
    }

    /// @notice The leaf of the transfer toward `dstChainId` with `nonce` initiated here, recorded
    ///         at lock / burn (docs/PROTOCOL.md leaf formula); zero if none. {refund} pays only a
    ///         transfer with exactly this leaf.
    /// @param dstChainId The destination chain id of the transfer.
    /// @param nonce The nonce.
    /// @return leaf The recorded leaf, or zero.
    function initiatedLeaf(uint256 dstChainId, uint64 nonce) external view returns (bytes32 leaf) {
        return _initiated[dstChainId][nonce];
    }

    /// @notice The message of the next signed action of type `typehash` (PAUSE, RESUME, ROTATE,
    ///         FREEZE; ALLOW on the gateway) with its type-specific fields ABI-encoded in `params`.
    /// @param typehash One of the action type hashes.
    /// @param keyEpoch The key epoch that signs.
    /// @param params abi.encode of the extra fields ("" for pause; (pauseCount, deadline) for resume).
    /// @return message The 32-byte message.
    function actionMessage(bytes32 typehash, uint64 keyEpoch, bytes memory params)
        public
        view
        returns (bytes32 message)
    {
        return SignedActions.message(_keys, typehash, keyEpoch, params);
    }

    /// @notice Whether `signature` is a valid committee signature on `message` under `keyEpoch`
    ///         (which must be current, or previous within its grace period). Never reverts on bad input.
    /// @param keyEpoch The key epoch.
    /// @param message The 32-byte message.
    /// @param signature The 128-byte BLS signature.
    /// @return valid True if valid.
    function verifySignature(uint64 keyEpoch, bytes32 message, bytes calldata signature)
        external
        view
        returns (bool valid)
    {
        if (!_keys.usable(keyEpoch, true)) return false;
        return BLS.verify(_keys.loadKey(keyEpoch), message, signature);
    }

    /// @notice The nonce the next transfer toward `dstChainId` will get (1 for the first).
    /// @param dstChainId The destination chain id.
    /// @return nonce The next nonce on the route (this chain -> `dstChainId`).
    function nextNonce(uint256 dstChainId) external view returns (uint64 nonce) {
        return _lastNonce[dstChainId] + 1;
    }

    /// @notice The key epoch of the newest group key.
    /// @return keyEpoch The current key epoch.
    function currentKeyEpoch() external view returns (uint64 keyEpoch) {
        return _keys.current;
    }

    /// @notice Until when (unix seconds) signatures of epoch currentKeyEpoch() - 1 are accepted.
    /// @return validUntil 0 before the first rotation.
    function previousKeyValidUntil() external view returns (uint64 validUntil) {
        return _keys.previousValidUntil;
    }

    /// @notice The scheduled action (RESUME or ROTATE) whose signature consumed `nonce`: its type
    ///         hash, the key epoch that signed it, when {executePending} may apply it, the pause it
    ///         lifts (RESUME), its status (Cancelled too when {cancelAllPending} cancelled it),
    ///         and the new key's data contract (ROTATE).
    /// @param nonce The action nonce.
    /// @return action All zero (status None) if no action was scheduled under this nonce.
    function pendingAction(uint64 nonce) external view returns (PendingAction memory action) {
        action = _pending[nonce];
        if (action.status == PendingStatus.Pending && nonce < _keys.cancelledBelow) {
            action.status = PendingStatus.Cancelled;
        }
    }

    /// @notice The transfer next in `token`'s release queue and how many are queued.
    /// @param token The local token.
    /// @return leaf The leaf of the head transfer (zero when the queue is empty): the one
    ///         {releaseQueued} releases next; its fields are those of its {TransferQueued} event.
    /// @return length How many transfers of `token` are queued.
    function queueHead(address token) external view returns (bytes32 leaf, uint256 length) {
        Queue memory q = _queues[token];
        return (_queueLeaves[token][q.head], q.tail - q.head);
    }

    /// @notice The sequence number the next signed action (pause, resume, rotate, freeze, allow) must carry.
    /// @return nonce The next action nonce.
    function actionNonce() external view returns (uint64 nonce) {
        return _keys.actionNonce;
    }

    /// @notice How many times the endpoint was paused (by the guardian or a signed PAUSE): the
    ///         pause a RESUME is signed for.
    /// @return count The pause count (the current pause's, while paused).
    function pauseCount() external view returns (uint64 count) {
        return _keys.pauseCount;
    }

    /// @notice The guardian, which may pause.
    /// @return guardian_ The guardian address.
    function guardian() external view returns (address guardian_) {
        return _guardian;
    }

    /// @notice The group public key of `keyEpoch`.
    /// @dev Reverts with {UnknownKeyEpoch} for an epoch without a key.
    /// @param keyEpoch The key epoch.
    /// @return key The 256-byte EIP-2537 G2 group public key.
    function groupKey(uint64 keyEpoch) external view returns (bytes memory key) {
        if (_keys.keyData[keyEpoch] == address(0)) revert UnknownKeyEpoch(keyEpoch);
        return _keys.loadKey(keyEpoch);
    }

    /// @notice The rate-limit bucket of `token` in `direction`, with its level refilled to now.
    /// @param token The local token.
    /// @param direction The direction.
    /// @return bucket Capacity, current level, refill rate, last update.
    function rateLimit(address token, Direction direction) external view returns (Bucket memory bucket) {
        bucket = _buckets[token][direction];
        bucket.level = uint128(RateLimiter.refilled(bucket));
    }

    /// @notice How much of `token` can pass in `direction` now (type(uint256).max without a limit).
    /// @param token The local token.
    /// @param direction The direction.
    /// @return available The bucket's level now.
    function availableCapacity(address token, Direction direction) public view returns (uint256 available) {
        return _buckets[token][direction].available();
    }

    /// @notice The token on `remoteChainId` paired with `localToken` (zero if none).
    /// @param remoteChainId The remote chain id.
    /// @param localToken The token on this chain.
    /// @return token The paired remote token.
    function remoteTokenOf(uint256 remoteChainId, address localToken) external view returns (address token) {
        return _remoteTokens[remoteChainId][localToken];
    }

    /// @notice The token on this chain paired with `remoteToken` on `remoteChainId` (zero if none).
    /// @param remoteChainId The remote chain id.
    /// @param remoteToken The token on the remote chain.
    /// @return token The paired local token.
    function localTokenOf(uint256 remoteChainId, address remoteToken) external view returns (address token) {
        return _localTokens[remoteChainId][remoteToken];
    }

    // ------------------------------------------------------------------------------------------
    // Hooks for the subclasses
    // ------------------------------------------------------------------------------------------

    /// @dev Pays a refund of `amount` of local `token` to `to` (vault: transfer out; gateway: mint).
    function _refundTo(address token, address to, uint256 amount) internal virtual;

    /// @dev Extra checks (and records) for a local token registered toward `remoteChainId`.
    ///      Reverts to refuse.
    function _registerLocalToken(uint256 remoteChainId, address token) internal virtual;

    /// @dev Source side, step 1 (before taking the tokens): not paused; sender allowed; amount,
    ///      recipient, registered token; consumes the outbound rate limit.
    /// @return dstToken The token paired with `srcToken` on `dstChainId`.
    function _checkOutgoing(uint256 dstChainId, address srcToken, address recipient, uint256 amount)
        internal
        returns (address dstToken)
    {
        _requireNotPaused();
        _requireUncursed(dstChainId);
        if (amount == 0) revert ZeroAmount();
        if (amount > MAX_AMOUNT) revert AmountTooLarge(amount);
        if (recipient == address(0)) revert ZeroRecipient();
        dstToken = _remoteTokens[dstChainId][srcToken];
        if (dstToken == address(0)) revert UnregisteredToken(dstChainId, srcToken);
        if (!registry.isAllowed(msg.sender)) revert NotAllowed(msg.sender);
        Bucket storage outbound = _buckets[srcToken][Direction.Outbound];
        if (!outbound.take(amount)) revert RateLimited(srcToken, Direction.Outbound, outbound.available(), amount);
    }

    /// @dev Source side, step 2: assigns the next nonce toward `dstChainId`, records the transfer's
    ///      leaf (what a refund must match) and emits {TransferInitiated}.
    /// @return nonce The nonce assigned (the first on a route is 1).
    function _initiate(uint256 dstChainId, address srcToken, address dstToken, address recipient, uint256 amount)
        internal
        returns (uint64 nonce)
    {
        nonce = ++_lastNonce[dstChainId];
        bytes32 typehash = TRANSFER_TYPEHASH;
        address sender = msg.sender;
        bytes32 leaf;
        assembly ("memory-safe") {
            // The leaf preimage (288 bytes) in scratch memory past the free memory pointer.
            let p := mload(0x40)
            let m := 0xffffffffffffffffffffffffffffffffffffffff
            mstore(p, typehash)
            mstore(add(p, 0x20), chainid())
            mstore(add(p, 0x40), dstChainId)
            mstore(add(p, 0x60), nonce)
            mstore(add(p, 0x80), and(srcToken, m))
            mstore(add(p, 0xa0), and(dstToken, m))
            mstore(add(p, 0xc0), and(sender, m))
            mstore(add(p, 0xe0), and(recipient, m))
            mstore(add(p, 0x100), amount)
            leaf := keccak256(p, 0x120)
        }
        _initiated[dstChainId][nonce] = leaf;
        emit TransferInitiated(dstChainId, nonce, msg.sender, srcToken, dstToken, recipient, amount);
    }
}
