// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {BLS} from "./BLS.sol";
import {KycRegistry} from "./KycRegistry.sol";

/// @title QiaoEndpoint
/// @notice The bridge-facing half shared by both Qiao endpoints: the vault on the consortium chain
///         (lock / unlock) and the gateway on Ethereum (burn / mint). The relayer watches and
///         submits to both with one code path; docs/PROTOCOL.md fixes every byte of this interface.
///
/// @dev What an endpoint does, and who may do it:
///      - anyone: {executeBatch} (a committee-signed batch), {executeTransfer} (one transfer of a
///        signed batch with its Merkle proof), {releaseQueued} (a transfer held by the rate limit,
///        once the bucket has room), {refund} (a committee-signed refund of a transfer that failed
///        on its destination), {pauseWithSignature}, {resume}, {rotateKey}; the signature is the
///        authorisation of all the signed ones;
///      - the guardian (an operators' multisig): {pause}, immediately, never resume;
///      - the owner (two-step; it can never be renounced): {registerToken}, {setRateLimit}, {setGuardian}.
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
abstract contract QiaoEndpoint is Ownable2Step, Pausable, ReentrancyGuardTransient {
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
    enum FailureReason {
        None,
        RecipientNotAllowed,
        TokenFrozen,
        DeliveryRefused,
        UnregisteredTokenPair
    }

    /// @notice Direction of a rate limit: tokens leaving this chain (lock, burn) or arriving (unlock, mint).
    enum Direction {
        Outbound,
        Inbound
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

    /// @notice EIP-712-style type hash of a transfer leaf.
    bytes32 public constant TRANSFER_TYPEHASH = keccak256(
        "QiaoTransfer(uint256 srcChainId,uint256 dstChainId,uint64 nonce,address srcToken,address dstToken,address sender,address recipient,uint256 amount)"
    );
    /// @notice EIP-712-style type hash of the signed batch message.
    bytes32 public constant BATCH_TYPEHASH = keccak256(
        "QiaoBatch(string version,uint256 srcChainId,uint256 dstChainId,address dstContract,uint64 keyEpoch,uint64 firstNonce,uint64 lastNonce,bytes32 root)"
    );
    /// @notice Type hash of a committee-signed refund of a failed transfer (signed for the source endpoint).
    bytes32 public constant REFUND_TYPEHASH = keccak256(
        "QiaoRefund(string version,uint256 chainId,address endpoint,uint64 keyEpoch,bytes32 transferLeaf)"
    );
    /// @notice Type hash of a committee-signed pause.
    bytes32 public constant PAUSE_TYPEHASH =
        keccak256("QiaoPause(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce)");
    /// @notice Type hash of a committee-signed resume.
    bytes32 public constant RESUME_TYPEHASH =
        keccak256("QiaoResume(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce)");
    /// @notice Type hash of a key rotation signed by the current key.
    bytes32 public constant ROTATE_TYPEHASH = keccak256(
        "QiaoRotateKey(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,bytes32 newKeyHash)"
    );
    /// @notice Type hash of a committee-signed freeze of an account (carried from C to E).
    bytes32 public constant FREEZE_TYPEHASH = keccak256(
        "QiaoFreeze(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,address account,bool frozen)"
    );
    /// @notice Protocol version, ABI-encoded as a dynamic `string` in every signed message.
    string public constant VERSION = "QIAO-V1";
    /// @notice The key epoch of the group key given at deployment.
    uint64 public constant INITIAL_KEY_EPOCH = 1;
    /// @notice How long signatures of the previous key epoch stay valid after a rotation.
    uint64 public constant KEY_GRACE_PERIOD = 1 days;
    /// @notice Largest amount a transfer may carry (amounts must fit the rate-limit arithmetic).
    uint256 public constant MAX_AMOUNT = type(uint128).max;
    /// @notice Longest nonce range {unexecutedCount} answers for (a relayer asks one batch at a time).
    uint64 public constant MAX_RANGE_QUERY = 65_536;

    /// @notice The allow-list of this chain.
    KycRegistry public immutable registry;

    /// @dev Current key epoch and the end of the previous epoch's grace period, in one slot.
    uint64 private _currentKeyEpoch;
    uint64 private _previousKeyValidUntil;
    /// @dev Sequence number of the next signed action (pause, resume, rotate, freeze).
    uint64 private _actionNonce;
    /// @dev The guardian, which may pause.
    address private _guardian;
    /// @dev Group public key per epoch, stored as the code of a data contract (one EXTCODECOPY to
    ///      read the 256 bytes instead of nine SLOADs).
    mapping(uint64 keyEpoch => address keyData) private _keyData;
    /// @dev Consumed bitmap: bit (nonce % 256) of word (nonce / 256), per source chain.
    mapping(uint256 srcChainId => mapping(uint256 word => uint256 bits)) private _executed;
    /// @dev Failed bitmap (subset of the consumed one).
    mapping(uint256 srcChainId => mapping(uint256 word => uint256 bits)) private _failed;
    /// @dev Leaf of each transfer held by the inbound rate limit (zero when not queued).
    mapping(uint256 srcChainId => mapping(uint64 nonce => bytes32 leaf)) private _queued;
    /// @dev Refunded bitmap on the source side, per destination chain.
    mapping(uint256 dstChainId => mapping(uint256 word => uint256 bits)) private _refunded;
    /// @dev Last nonce assigned per destination chain (0: none yet, so the first nonce is 1).
    mapping(uint256 dstChainId => uint64 nonce) private _lastNonce;
    /// @dev Source side: the leaf of each transfer initiated here, recorded at lock / burn. A
    ///      refund must present exactly these fields ({refund}).
    mapping(uint256 dstChainId => mapping(uint64 nonce => bytes32 leaf)) private _initiated;
    /// @dev Token on `remoteChainId` paired with a local token.
    mapping(uint256 remoteChainId => mapping(address localToken => address remoteToken)) private _remoteTokens;
    /// @dev Local token paired with a token on `remoteChainId`.
    mapping(uint256 remoteChainId => mapping(address remoteToken => address localToken)) private _localTokens;
    /// @dev Rate limit per local token and direction.
    mapping(address token => mapping(Direction direction => Bucket bucket)) private _buckets;

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
    /// @notice Emitted when a committee-signed action (pause, resume, rotate, freeze) is applied.
    event SignedActionApplied(bytes32 indexed typehash, uint64 indexed actionNonce, uint64 keyEpoch);

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
    /// @notice Ownership cannot be renounced: transfers queued above the capacity, rate limits and
    ///         registrations need an owner. Transfer it (two-step) instead.
    error OwnershipCannotBeRenounced();

    /// @param initialOwner Owner (registration, rate limits, guardian; two-step ownership transfer).
    /// @param guardian_ The address that may pause (not zero).
    /// @param groupKeyG2 The committee's group public key, 256-byte EIP-2537 G2, stored as epoch 1.
    ///        Reverts with a {BLS} error if it is not a valid G2 subgroup point or is the identity.
    /// @param registry_ The KYC registry of this chain (a contract).
    constructor(address initialOwner, address guardian_, bytes memory groupKeyG2, KycRegistry registry_)
        Ownable(initialOwner)
    {
        if (guardian_ == address(0) || address(registry_).code.length == 0) revert ZeroAddress();
        registry = registry_;
        _guardian = guardian_;
        emit GuardianSet(guardian_);
        BLS.validatePublicKey(groupKeyG2);
        _keyData[INITIAL_KEY_EPOCH] = _storeKey(groupKeyG2);
        _currentKeyEpoch = INITIAL_KEY_EPOCH;
        emit GroupKeySet(INITIAL_KEY_EPOCH, groupKeyG2);
    }

    modifier onlyGuardian() {
        if (msg.sender != _guardian) revert NotGuardian(msg.sender);
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
        if (remoteChainId == 0 || remoteChainId == block.chainid) revert InvalidRemoteChain(remoteChainId);
        if (localToken == address(0) || remoteToken == address(0)) revert ZeroTokenAddress();
        if (localToken.code.length == 0) revert TokenHasNoCode(localToken);
        if (_remoteTokens[remoteChainId][localToken] != address(0)) {
            revert TokenAlreadyRegistered(remoteChainId, localToken);
        }
        if (_localTokens[remoteChainId][remoteToken] != address(0)) {
            revert TokenAlreadyRegistered(remoteChainId, remoteToken);
        }
        _registerLocalToken(remoteChainId, localToken);
        _remoteTokens[remoteChainId][localToken] = remoteToken;
        _localTokens[remoteChainId][remoteToken] = localToken;
        emit TokenRegistered(remoteChainId, localToken, remoteToken);
    }

    /// @notice Sets the token bucket of `token` in `direction`; owner only. The bucket starts full.
    /// @dev capacity = 0 and refillPerSecond = 0 removes the limit; capacity 0 with a refill is refused.
    /// @param token The local token.
    /// @param direction Outbound (lock/burn) or Inbound (unlock/mint).
    /// @param capacity Most units that may pass at once.
    /// @param refillPerSecond Units added back per second, up to `capacity`.
    function setRateLimit(address token, Direction direction, uint128 capacity, uint128 refillPerSecond)
        external
        onlyOwner
    {
        if (token == address(0)) revert ZeroTokenAddress();
        if (capacity == 0 && refillPerSecond != 0) revert InvalidRateLimit();
        _buckets[token][direction] = Bucket(capacity, refillPerSecond, capacity, uint64(block.timestamp));
        emit RateLimitSet(token, direction, capacity, refillPerSecond);
    }

    /// @notice Replaces the guardian; owner only.
    /// @param guardian_ The new guardian (not zero).
    function setGuardian(address guardian_) external onlyOwner {
        if (guardian_ == address(0)) revert ZeroAddress();
        _guardian = guardian_;
        emit GuardianSet(guardian_);
    }

    /// @notice Always reverts with {OwnershipCannotBeRenounced}: an endpoint without an owner could
    ///         never raise a capacity for a transfer queued above it (stranded for good), nor
    ///         register a token or replace the guardian. Use the two-step {transferOwnership}.
    function renounceOwnership() public pure override {
        revert OwnershipCannotBeRenounced();
    }

    // ------------------------------------------------------------------------------------------
    // Pause, resume, key rotation (guardian and committee)
    // ------------------------------------------------------------------------------------------

    /// @notice Pauses the endpoint at once; guardian only. Only a committee-signed {resume} undoes it.
    /// @dev Paused: lock/burn, executeBatch, executeTransfer, releaseQueued and refund revert with
    ///      EnforcedPause. Signed actions (resume, rotate, freeze) still work.
    function pause() external onlyGuardian {
        _pause();
    }

    /// @notice Pauses with a committee signature on the PAUSE message for the next action nonce.
    /// @param keyEpoch The current key epoch.
    /// @param signature The 128-byte BLS signature.
    function pauseWithSignature(uint64 keyEpoch, bytes calldata signature) external {
        _consumeAction(PAUSE_TYPEHASH, keyEpoch, "", signature);
        _pause();
    }

    /// @notice Resumes with a committee signature on the RESUME message for the next action nonce.
    /// @param keyEpoch The current key epoch.
    /// @param signature The 128-byte BLS signature.
    function resume(uint64 keyEpoch, bytes calldata signature) external {
        _consumeAction(RESUME_TYPEHASH, keyEpoch, "", signature);
        _unpause();
    }

    /// @notice Installs `newGroupKey` as key epoch current + 1, signed by the current key.
    /// @dev The previous epoch's signatures stay valid for {KEY_GRACE_PERIOD}; older epochs stop at once.
    /// @param keyEpoch The current key epoch (the signer).
    /// @param newGroupKey The new 256-byte EIP-2537 G2 key (validated: on curve, in subgroup, not identity).
    /// @param signature BLS signature on the ROTATE message.
    function rotateKey(uint64 keyEpoch, bytes calldata newGroupKey, bytes calldata signature) external {
        BLS.validatePublicKey(newGroupKey);
        bytes32 newHash = keccak256(newGroupKey);
        if (newHash == keccak256(_loadKey(_currentKeyEpoch))) revert KeyUnchanged();
        _consumeAction(ROTATE_TYPEHASH, keyEpoch, abi.encode(newHash), signature);
        uint64 next = keyEpoch + 1;
        _keyData[next] = _storeKey(newGroupKey);
        _currentKeyEpoch = next;
        _previousKeyValidUntil = uint64(block.timestamp) + KEY_GRACE_PERIOD;
        emit GroupKeySet(next, newGroupKey);
    }

    // ------------------------------------------------------------------------------------------
    // Destination side
    // ------------------------------------------------------------------------------------------

    /// @notice Executes a batch of transfers signed by the committee. Each transfer not yet
    ///         consumed is delivered (unlock / mint), queued by the inbound rate limit
    ///         ({TransferQueued}) or recorded as failed ({TransferFailed}); a failure never
    ///         reverts the batch. Transfers already consumed (e.g. one executed alone with a
    ///         proof) are skipped.
    /// @dev Reverts as a whole on: a paused endpoint; an empty batch ({EmptyBatch}); an unknown or
    ///      expired key epoch; a batch for another chain; a first nonce of 0 or a range past
    ///      2^64 - 1; a malformed pair table or index; a zero recipient, zero or too large amount;
    ///      a signature that is not 128 bytes, the identity, not a valid point or failing the
    ///      pairing check; a batch whose transfers were all consumed already
    ///      ({BatchAlreadyExecuted}). A transfer whose token pair is not registered here is
    ///      recorded as failed (FailureReason.UnregisteredTokenPair), never reverts the batch.
    /// @param keyEpoch The key epoch whose group key signed the batch.
    /// @param batch The transfers, `firstNonce..firstNonce + n - 1`, in the packed form.
    /// @param signature The 128-byte EIP-2537 G1 BLS signature on {batchMessage}.
    function executeBatch(uint64 keyEpoch, PackedBatch calldata batch, bytes calldata signature)
        external
        nonReentrant
        whenNotPaused
    {
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
        if (t.dstChainId != block.chainid) revert WrongDestinationChain(0, t.dstChainId);
        if (firstNonce == 0) revert ZeroNonce();
        if (t.nonce < firstNonce || t.nonce > lastNonce) revert NonceOutsideBatch(t.nonce, firstNonce, lastNonce);
        bytes32 leaf = _leaf(t);
        bytes32 root = _rootFromProof(leaf, t.nonce - firstNonce, uint256(lastNonce) - firstNonce + 1, proof);
        bytes32 message = _batchMessage(t.srcChainId, keyEpoch, firstNonce, lastNonce, root);
        _checkSignature(keyEpoch, message, signature, true);
        _checkValues(t.srcChainId, t.nonce, t.recipient, t.amount);
        if (!_consume(t.srcChainId, t.nonce)) revert AlreadyExecuted(t.srcChainId, t.nonce);
        if (!_isPair(t.srcChainId, t.srcToken, t.dstToken)) {
            _fail(t.srcChainId, t.nonce, FailureReason.UnregisteredTokenPair);
            return;
        }
        _process(t.srcChainId, t.nonce, t.dstToken, t.recipient, t.amount, leaf);
    }

    /// @notice Delivers a transfer that the inbound rate limit queued, once the bucket has room.
    ///         Anyone may call it; a transfer is released at most once.
    /// @dev Reverts with {NotQueued} unless (srcChainId, nonce) is queued with exactly these
    ///      fields, {RateLimited} if the bucket holds less than the amount (a transfer larger than
    ///      the capacity waits until the owner raises it), EnforcedPause when paused. If the
    ///      recipient or the token became undeliverable meanwhile, the transfer is recorded as failed.
    /// @param t The queued transfer, with the fields that were signed.
    function releaseQueued(Transfer calldata t) external nonReentrant whenNotPaused {
        bytes32 leaf = _leaf(t);
        if (_queued[t.srcChainId][t.nonce] != leaf) revert NotQueued(t.srcChainId, t.nonce);
        if (!_take(t.dstToken, Direction.Inbound, t.amount)) {
            revert RateLimited(t.dstToken, Direction.Inbound, availableCapacity(t.dstToken, Direction.Inbound), t.amount);
        }
        delete _queued[t.srcChainId][t.nonce];
        _deliverOrFail(t.srcChainId, t.nonce, t.dstToken, t.recipient, t.amount);
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
        bytes32 leaf = _leaf(t);
        if (t.srcChainId != block.chainid || _initiated[t.dstChainId][t.nonce] != leaf) {
            revert NotRefundable(t.dstChainId, t.nonce);
        }
        uint256 word = t.nonce >> 8;
        uint256 bit = uint256(1) << (t.nonce & 0xff);
        uint256 bits = _refunded[t.dstChainId][word];
        if (bits & bit != 0) revert AlreadyRefunded(t.dstChainId, t.nonce);
        _checkSignature(keyEpoch, _refundMessage(keyEpoch, leaf), signature, true);
        if (!registry.isAllowed(t.sender)) revert NotAllowed(t.sender);
        if (!_take(t.srcToken, Direction.Inbound, t.amount)) {
            revert RateLimited(
                t.srcToken, Direction.Inbound, availableCapacity(t.srcToken, Direction.Inbound), t.amount
            );
        }
        _give(t.srcToken, Direction.Outbound, t.amount);
        _refunded[t.dstChainId][word] = bits | bit;
        emit TransferRefunded(t.dstChainId, t.nonce, t.sender, t.amount);
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
        if (firstNonce == 0 || lastNonce < firstNonce || lastNonce - firstNonce >= MAX_RANGE_QUERY) {
            revert InvalidNonceRange(firstNonce, lastNonce);
        }
        mapping(uint256 => uint256) storage bitmap = _executed[srcChainId];
        uint256 wordIndex = type(uint256).max;
        uint256 bits;
        for (uint256 nonce = firstNonce; nonce <= lastNonce; ++nonce) {
            if (nonce >> 8 != wordIndex) {
                wordIndex = nonce >> 8;
                bits = bitmap[wordIndex];
            }
            if ((bits >> (nonce & 0xff)) & 1 == 0) ++count;
        }
    }

    /// @notice The state of transfer (`srcChainId`, `nonce`) on this destination.
    /// @param srcChainId The source chain id.
    /// @param nonce The nonce.
    /// @return status None, Delivered, Queued or Failed.
    function transferStatus(uint256 srcChainId, uint64 nonce) external view returns (TransferStatus status) {
        if (!_bit(_executed[srcChainId], nonce)) return TransferStatus.None;
        if (_bit(_failed[srcChainId], nonce)) return TransferStatus.Failed;
        if (_queued[srcChainId][nonce] != bytes32(0)) return TransferStatus.Queued;
        return TransferStatus.Delivered;
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
        (bytes32 root, uint64 lastNonce,) = _packedRoot(batch);
        return _batchMessage(batch.srcChainId, keyEpoch, batch.firstNonce, lastNonce, root);
    }

    /// @notice The REFUND message for transfer `t` (initiated on this chain) under `keyEpoch`.
    /// @param keyEpoch The key epoch that signs.
    /// @param t The transfer.
    /// @return message keccak256(abi.encode(REFUND_TYPEHASH, VERSION, block.chainid, this, keyEpoch, leaf)).
    function refundMessage(uint64 keyEpoch, Transfer calldata t) external view returns (bytes32 message) {
        return _refundMessage(keyEpoch, _leaf(t));
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
    ///         FREEZE) with its type-specific fields ABI-encoded in `params`.
    /// @param typehash One of the action type hashes.
    /// @param keyEpoch The key epoch that signs.
    /// @param params abi.encode of the extra fields ("" for pause and resume).
    /// @return message The 32-byte message.
    function actionMessage(bytes32 typehash, uint64 keyEpoch, bytes memory params)
        public
        view
        returns (bytes32 message)
    {
        return keccak256(
            bytes.concat(abi.encode(typehash, VERSION, block.chainid, address(this), keyEpoch, _actionNonce), params)
        );
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
        if (!_epochUsable(keyEpoch, true)) return false;
        return BLS.verify(_loadKey(keyEpoch), message, signature);
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
        return _currentKeyEpoch;
    }

    /// @notice Until when (unix seconds) signatures of epoch currentKeyEpoch() - 1 are accepted.
    /// @return validUntil 0 before the first rotation.
    function previousKeyValidUntil() external view returns (uint64 validUntil) {
        return _previousKeyValidUntil;
    }

    /// @notice The sequence number the next signed action (pause, resume, rotate, freeze) must carry.
    /// @return nonce The next action nonce.
    function actionNonce() external view returns (uint64 nonce) {
        return _actionNonce;
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
        if (_keyData[keyEpoch] == address(0)) revert UnknownKeyEpoch(keyEpoch);
        return _loadKey(keyEpoch);
    }

    /// @notice The rate-limit bucket of `token` in `direction`, with its level refilled to now.
    /// @param token The local token.
    /// @param direction The direction.
    /// @return bucket Capacity, current level, refill rate, last update.
    function rateLimit(address token, Direction direction) external view returns (Bucket memory bucket) {
        bucket = _buckets[token][direction];
        bucket.level = uint128(_refilled(bucket));
    }

    /// @notice How much of `token` can pass in `direction` now (type(uint256).max without a limit).
    /// @param token The local token.
    /// @param direction The direction.
    /// @return available The bucket's level now.
    function availableCapacity(address token, Direction direction) public view returns (uint256 available) {
        Bucket memory b = _buckets[token][direction];
        if (b.capacity == 0) return type(uint256).max;
        return _refilled(b);
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

    /// @dev Delivers a verified transfer if it can (vault: unlock; gateway: mint) and returns
    ///      FailureReason.None, or delivers nothing and returns why. `token` is a registered
    ///      local token; recipient and amount are valid.
    function _tryDeliver(address token, address recipient, uint256 amount) internal virtual returns (FailureReason);

    /// @dev Delivers verified transfers of one registered local `token` (the inbound charge is
    ///      paid): `amounts[j]` to `to[j]` where it can. Returns a bitmap with bit (j % 256) of
    ///      word (j / 256) set for each transfer it did not deliver (exactly ceil(m / 256) words,
    ///      no bit at or past m); `refused`, empty or of the same length, marks those of them the
    ///      token itself refused (reason DeliveryRefused); `reason` is why the others failed.
    ///      Recipients and amounts are valid, m >= 1.
    function _deliverBatch(address token, address[] memory to, uint256[] memory amounts)
        internal
        virtual
        returns (uint256[] memory failed, uint256[] memory refused, FailureReason reason);

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
        if (amount == 0) revert ZeroAmount();
        if (amount > MAX_AMOUNT) revert AmountTooLarge(amount);
        if (recipient == address(0)) revert ZeroRecipient();
        dstToken = _remoteTokens[dstChainId][srcToken];
        if (dstToken == address(0)) revert UnregisteredToken(dstChainId, srcToken);
        if (!registry.isAllowed(msg.sender)) revert NotAllowed(msg.sender);
        if (!_take(srcToken, Direction.Outbound, amount)) {
            revert RateLimited(srcToken, Direction.Outbound, availableCapacity(srcToken, Direction.Outbound), amount);
        }
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

    /// @dev Consumes the next action nonce after checking the committee signature of the action.
    function _consumeAction(bytes32 typehash, uint64 keyEpoch, bytes memory params, bytes calldata signature)
        internal
    {
        if (keyEpoch != _currentKeyEpoch) revert NotCurrentKeyEpoch(keyEpoch);
        _checkSignature(keyEpoch, actionMessage(typehash, keyEpoch, params), signature, false);
        uint64 used = _actionNonce++;
        emit SignedActionApplied(typehash, used, keyEpoch);
    }

    // ------------------------------------------------------------------------------------------
    // Internals
    // ------------------------------------------------------------------------------------------

    /// @dev Queue, deliver or fail a transfer just consumed (`leaf` is its leaf).
    function _process(
        uint256 srcChainId,
        uint64 nonce,
        address token,
        address recipient,
        uint256 amount,
        bytes32 leaf
    ) private {
        if (!_take(token, Direction.Inbound, amount)) {
            _queued[srcChainId][nonce] = leaf;
            emit TransferQueued(srcChainId, nonce, leaf, amount);
            return;
        }
        _deliverOrFail(srcChainId, nonce, token, recipient, amount);
    }

    /// @dev Delivers (the inbound bucket was charged) or records a failure and gives the charge back.
    function _deliverOrFail(uint256 srcChainId, uint64 nonce, address token, address recipient, uint256 amount)
        private
    {
        FailureReason reason = _tryDeliver(token, recipient, amount);
        if (reason == FailureReason.None) {
            emit TransferExecuted(srcChainId, nonce, recipient, amount);
            return;
        }
        _give(token, Direction.Inbound, amount);
        _fail(srcChainId, nonce, reason);
    }

    /// @dev Records a consumed transfer as failed (terminal here, refundable on its source).
    function _fail(uint256 srcChainId, uint64 nonce, FailureReason reason) private {
        _markFailed(srcChainId, nonce);
        emit TransferFailed(srcChainId, nonce, reason);
    }

    function _markFailed(uint256 srcChainId, uint64 nonce) private {
        _failed[srcChainId][nonce >> 8] |= uint256(1) << (nonce & 0xff);
    }

    /// @dev Checks the signature against the key of `keyEpoch`; reverts on any problem.
    function _checkSignature(uint64 keyEpoch, bytes32 message, bytes calldata signature, bool allowPrevious)
        private
        view
    {
        if (_keyData[keyEpoch] == address(0)) revert UnknownKeyEpoch(keyEpoch);
        if (!_epochUsable(keyEpoch, allowPrevious)) revert KeyEpochExpired(keyEpoch);
        if (signature.length != BLS.G1_POINT_LENGTH) revert InvalidSignatureLength(signature.length);
        bytes memory sig = signature;
        if (BLS.isZero(sig)) revert IdentitySignature();
        if (!BLS.verify(_loadKey(keyEpoch), message, sig)) revert InvalidSignature();
    }

    /// @dev Current epoch, or (if allowed) the previous one before its grace period ends.
    function _epochUsable(uint64 keyEpoch, bool allowPrevious) private view returns (bool) {
        uint64 current = _currentKeyEpoch;
        if (keyEpoch == current) return true;
        // A one-day grace period: the seconds a block producer can shift the time do not matter.
        // forge-lint: disable-next-line(block-timestamp)
        return allowPrevious && keyEpoch != 0 && keyEpoch + 1 == current && block.timestamp <= _previousKeyValidUntil;
    }

    /// @dev Reverts on a zero recipient or a zero or too large amount.
    function _checkValues(uint256 srcChainId, uint64 nonce, address recipient, uint256 amount) private pure {
        if (recipient == address(0)) revert TransferZeroRecipient(srcChainId, nonce);
        if (amount == 0) revert TransferZeroAmount(srcChainId, nonce);
        if (amount > MAX_AMOUNT) revert TransferAmountTooLarge(srcChainId, nonce);
    }

    /// @dev Whether (srcToken on srcChainId, dstToken here) is a registered pair.
    function _isPair(uint256 srcChainId, address srcToken, address dstToken) private view returns (bool) {
        return dstToken != address(0) && _localTokens[srcChainId][srcToken] == dstToken;
    }

    /// @dev Everything {executeBatch} checks before any effect: the batch's shape and values, the
    ///      signature. Returns the root, the last nonce, the sum of the amounts, and `unpaired`: bit
    ///      k set when the batch's pair k is not registered here (its transfers are recorded as failed).
    function _verifyBatch(uint64 keyEpoch, PackedBatch calldata batch, bytes calldata signature)
        private
        view
        returns (bytes32 root, uint64 lastNonce, uint256 sum, uint256 unpaired)
    {
        (root, lastNonce, sum) = _packedRoot(batch);
        uint256 srcChainId = batch.srcChainId;
        _checkSignature(
            keyEpoch, _batchMessage(srcChainId, keyEpoch, batch.firstNonce, lastNonce, root), signature, true
        );
        TokenPair[] calldata pairs = batch.pairs;
        for (uint256 k; k < pairs.length; ++k) {
            if (!_isPair(srcChainId, pairs[k].srcToken, pairs[k].dstToken)) unpaired |= uint256(1) << k;
        }
    }

    /// @dev The effects of a verified batch (`unpaired`: see {_verifyBatch}).
    function _executeVerified(PackedBatch calldata batch, uint64 lastNonce, uint256 sum, uint256 unpaired) private {
        uint256 srcChainId = batch.srcChainId;
        uint64 firstNonce = batch.firstNonce;
        // Pass 1 (effects only): set the consumed bits of the whole range (one SSTORE per bitmap
        // word) and find what is new. No external call happens before every bit is set.
        (uint256[] memory before, bool anyConsumed) = _consumeRange(srcChainId, firstNonce, lastNonce);
        (uint256 total, uint256 fresh) = _freshTotal(before, anyConsumed, batch, sum);
        if (total == 0) revert BatchAlreadyExecuted(srcChainId, firstNonce, lastNonce);

        // Pass 2: charge the inbound bucket once for the whole batch when it has one token and
        // fits, and deliver all of it with one call (one mint call into the token); otherwise
        // transfer by transfer (queueing what does not fit, failing what has no registered pair).
        address token = batch.pairs[0].dstToken;
        if (batch.pairs.length == 1 && unpaired == 0 && _take(token, Direction.Inbound, total)) {
            _deliverCharged(srcChainId, token, batch, before, anyConsumed, fresh);
        } else {
            _processEach(srcChainId, batch, before, anyConsumed, unpaired);
        }
    }

    /// @dev Pass 1 of executeBatch: sets the consumed bits of nonces `firstNonce..lastNonce`, one
    ///      SSTORE per bitmap word that changes. Returns the words as they were before (word
    ///      `k` is word `(firstNonce >> 8) + k` of the bitmap) and whether any nonce of the range
    ///      was consumed already.
    function _consumeRange(uint256 srcChainId, uint64 firstNonce, uint64 lastNonce)
        private
        returns (uint256[] memory before, bool anyConsumed)
    {
        mapping(uint256 => uint256) storage bitmap = _executed[srcChainId];
        uint256 w0 = firstNonce >> 8;
        uint256 w1 = lastNonce >> 8;
        before = new uint256[](w1 - w0 + 1);
        for (uint256 w = w0; w <= w1; ++w) {
            uint256 lo = w == w0 ? firstNonce & 0xff : 0;
            uint256 hi = w == w1 ? lastNonce & 0xff : 0xff;
            // bits lo..hi of the word (hi - lo + 1 of them, at most 256)
            uint256 mask = (type(uint256).max >> (0xff - (hi - lo))) << lo;
            uint256 bits = bitmap[w];
            before[w - w0] = bits;
            if (bits & mask != 0) anyConsumed = true;
            if (bits | mask != bits) bitmap[w] = bits | mask;
        }
    }

    /// @dev Whether transfer `i` of a batch from `firstNonce` was new, from {_consumeRange}'s words.
    function _wasFresh(uint256[] memory before, uint64 firstNonce, uint256 i) private pure returns (bool) {
        uint256 nonce = uint256(firstNonce) + i;
        return (before[(nonce >> 8) - (firstNonce >> 8)] >> (nonce & 0xff)) & 1 == 0;
    }

    /// @dev The sum of the amounts of the new transfers of `batch` and how many there are
    ///      (`sum`: the sum of all its amounts, the answer when none was consumed before).
    function _freshTotal(uint256[] memory before, bool anyConsumed, PackedBatch calldata batch, uint256 sum)
        private
        pure
        returns (uint256 total, uint256 fresh)
    {
        PackedTransfer[] calldata ts = batch.transfers;
        if (!anyConsumed) return (sum, ts.length);
        uint64 firstNonce = batch.firstNonce;
        for (uint256 i; i < ts.length; ++i) {
            if (_wasFresh(before, firstNonce, i)) {
                total += ts[i].amount;
                ++fresh;
            }
        }
    }

    /// @dev Pass 2 when the inbound bucket was charged for all `fresh` new transfers of a
    ///      one-token batch: one {_deliverBatch} call, then an event per transfer; what could not
    ///      be delivered is recorded as failed and its charge given back (in one sum).
    function _deliverCharged(
        uint256 srcChainId,
        address token,
        PackedBatch calldata batch,
        uint256[] memory before,
        bool anyConsumed,
        uint256 fresh
    ) private {
        (address[] memory to, uint256[] memory amounts, uint64[] memory nonces) =
            _collectFresh(batch, before, anyConsumed, fresh);
        (uint256[] memory failed, uint256[] memory refused, FailureReason reason) = _deliverBatch(token, to, amounts);
        // The hook's contract ({_deliverBatch}); {_report} reads the bitmaps without bounds checks.
        assert(failed.length == (fresh + 255) >> 8);
        assert(refused.length == 0 || refused.length == failed.length);
        uint256 giveBack = _report(srcChainId, to, amounts, nonces, failed, refused, reason);
        if (giveBack != 0) _give(token, Direction.Inbound, giveBack);
    }

    /// @dev The recipients, amounts and nonces of the `fresh` new transfers of `batch` (its values
    ///      were checked by {_packedRoot}; `fresh` was counted by {_freshTotal} with the same rule).
    function _collectFresh(PackedBatch calldata batch, uint256[] memory before, bool anyConsumed, uint256 fresh)
        private
        pure
        returns (address[] memory to, uint256[] memory amounts, uint64[] memory nonces)
    {
        PackedTransfer[] calldata ts = batch.transfers;
        uint256 n = ts.length;
        uint256 firstNonce = batch.firstNonce;
        to = new address[](fresh);
        amounts = new uint256[](fresh);
        nonces = new uint64[](fresh);
        uint256 j;
        assembly ("memory-safe") {
            let t := ts.offset // transfer i at t + 0x60 * i: sender, recipient, amount
            let w0 := shr(8, firstNonce)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let nonce := add(firstNonce, i)
                // Skip a transfer consumed before this batch: its bit is set in the word as it
                // was, before[(nonce >> 8) - w0] (within the array: nonce is in the batch's range).
                if anyConsumed {
                    let was := mload(add(before, shl(5, add(sub(shr(8, nonce), w0), 1))))
                    if and(shr(and(nonce, 0xff), was), 1) { continue }
                }
                // Never more than `fresh` (see above); if it were, stop before writing past the
                // arrays and fail the assert below.
                if eq(j, fresh) {
                    j := add(fresh, 1)
                    break
                }
                j := add(j, 1) // element j - 1, at offset 0x20 * j past each array's length word
                let at := shl(5, j)
                let ti := add(t, mul(i, 0x60))
                mstore(add(to, at), calldataload(add(ti, 0x20)))
                mstore(add(amounts, at), calldataload(add(ti, 0x40)))
                mstore(add(nonces, at), nonce)
            }
        }
        assert(j == fresh);
    }

    /// @dev One event per new transfer, in nonce order: {TransferExecuted} for a delivered one,
    ///      {TransferFailed} for one `failed` marks (then recorded as failed), with reason
    ///      DeliveryRefused if `refused` marks it too, else `reason`; returns the sum of the failed
    ///      amounts. The arrays have one element per transfer, `failed` its ceil(m / 256) words and
    ///      `refused` as many or none ({_deliverCharged} checks it), so the reads stay inside them.
    function _report(
        uint256 srcChainId,
        address[] memory to,
        uint256[] memory amounts,
        uint64[] memory nonces,
        uint256[] memory failed,
        uint256[] memory refused,
        FailureReason reason
    ) private returns (uint256 giveBack) {
        bytes32 executedTopic = TransferExecuted.selector;
        bytes32 failedTopic = TransferFailed.selector;
        assembly ("memory-safe") {
            let data := mload(0x40) // event data past the free memory pointer, not allocated
            for { let j := 0 } lt(j, mload(to)) { j := add(j, 1) } {
                let at := shl(5, add(j, 1))
                let nonce := mload(add(nonces, at))
                switch and(shr(and(j, 0xff), mload(add(failed, shl(5, add(shr(8, j), 1))))), 1)
                case 0 {
                    // TransferExecuted(srcChainId, nonce, recipient, amount)
                    mstore(data, mload(add(to, at)))
                    mstore(add(data, 0x20), mload(add(amounts, at)))
                    log3(data, 0x40, executedTopic, srcChainId, nonce)
                }
                default {
                    // TransferFailed(srcChainId, nonce, reason), DeliveryRefused (3) where `refused` says so
                    let why := reason
                    if mload(refused) {
                        if and(shr(and(j, 0xff), mload(add(refused, shl(5, add(shr(8, j), 1))))), 1) { why := 3 }
                    }
                    mstore(data, why)
                    log3(data, 0x20, failedTopic, srcChainId, nonce)
                    // No overflow: each amount is below 2^128, fewer than 2^64 of them.
                    giveBack := add(giveBack, mload(add(amounts, at)))
                }
            }
        }
        // Amounts are not zero: nothing to give back means nothing failed.
        if (giveBack == 0) return 0;
        for (uint256 j; j < to.length; ++j) {
            if ((failed[j >> 8] >> (j & 0xff)) & 1 == 1) _markFailed(srcChainId, nonces[j]);
        }
    }

    /// @dev Pass 2 otherwise: each new transfer is failed if its pair is not registered
    ///      (`unpaired`), else charges its own bucket, then is delivered, failed or queued, in nonce order.
    function _processEach(
        uint256 srcChainId,
        PackedBatch calldata batch,
        uint256[] memory before,
        bool anyConsumed,
        uint256 unpaired
    ) private {
        PackedTransfer[] calldata ts = batch.transfers;
        uint64 firstNonce = batch.firstNonce;
        for (uint256 i; i < ts.length; ++i) {
            if (anyConsumed && !_wasFresh(before, firstNonce, i)) continue;
            uint256 k = uint8(batch.pairOf[i]);
            // forge-lint: disable-next-line(unsafe-typecast) -- firstNonce + i <= lastNonce < 2^64
            uint64 nonce = uint64(firstNonce + i);
            if ((unpaired >> k) & 1 == 1) {
                _fail(srcChainId, nonce, FailureReason.UnregisteredTokenPair);
                continue;
            }
            TokenPair calldata pair = batch.pairs[k];
            PackedTransfer calldata t = ts[i];
            bytes32 leaf = keccak256(
                abi.encode(
                    TRANSFER_TYPEHASH,
                    srcChainId,
                    block.chainid,
                    nonce,
                    pair.srcToken,
                    pair.dstToken,
                    t.sender,
                    t.recipient,
                    t.amount
                )
            );
            _process(srcChainId, nonce, pair.dstToken, t.recipient, t.amount, leaf);
        }
    }

    /// @dev Sets the consumed bit; false if it was already set.
    function _consume(uint256 srcChainId, uint64 nonce) private returns (bool) {
        uint256 word = nonce >> 8;
        uint256 bit = uint256(1) << (nonce & 0xff);
        uint256 bits = _executed[srcChainId][word];
        if (bits & bit != 0) return false;
        _executed[srcChainId][word] = bits | bit;
        return true;
    }

    function _bit(mapping(uint256 => uint256) storage bitmap, uint64 nonce) private view returns (bool) {
        return (bitmap[nonce >> 8] >> (nonce & 0xff)) & 1 == 1;
    }

    /// @dev Takes `amount` from the bucket if it holds enough (always true without a limit).
    function _take(address token, Direction direction, uint256 amount) private returns (bool) {
        Bucket storage s = _buckets[token][direction];
        Bucket memory b = s;
        if (b.capacity == 0) return true;
        uint256 level = _refilled(b);
        if (level < amount) return false;
        _setLevel(s, level - amount);
        return true;
    }

    /// @dev Gives `amount` back to the bucket (a failed delivery), never above capacity.
    function _give(address token, Direction direction, uint256 amount) private {
        Bucket storage s = _buckets[token][direction];
        Bucket memory b = s;
        if (b.capacity == 0) return;
        uint256 level = _refilled(b) + amount;
        if (level > b.capacity) level = b.capacity;
        _setLevel(s, level);
    }

    /// @dev Writes level and time in one SSTORE (they share a slot). `level` <= capacity < 2^128.
    ///      The time never moves back: on a chain whose block time stepped back (a devnet reorg, a
    ///      misbehaving consortium validator) the bucket keeps its later time, so no second is
    ///      refilled twice.
    function _setLevel(Bucket storage s, uint256 level) private {
        assembly ("memory-safe") {
            // slot of {level, updatedAt} is the struct's second slot: level in the low 128 bits,
            // updatedAt (uint64) above it.
            let slot := add(s.slot, 1)
            let previous := and(shr(128, sload(slot)), 0xffffffffffffffff)
            let at := timestamp()
            if lt(at, previous) { at := previous }
            sstore(slot, or(level, shl(128, at)))
        }
    }

    /// @dev The bucket's level now: refilled for the seconds since its last charge (none if the
    ///      block time is earlier than that charge, rather than an arithmetic panic that would stop
    ///      every transfer of the token until the clock caught up).
    function _refilled(Bucket memory b) private view returns (uint256) {
        uint256 elapsed = block.timestamp > b.updatedAt ? block.timestamp - b.updatedAt : 0;
        uint256 level = uint256(b.level) + elapsed * uint256(b.refillPerSecond);
        return level > b.capacity ? b.capacity : level;
    }

    /// @dev Validates a packed batch and returns its Merkle root, its last nonce and the sum of its
    ///      amounts. Reverts on: no transfer; another destination chain; first nonce 0 or a range
    ///      past 2^64 - 1; 0 or more than 256 pairs; not one pair index per transfer, or one out of
    ///      range; an address word with bits above 160; a zero recipient; a zero amount or one above
    ///      MAX_AMOUNT. Token pairs are not looked up here (see {_verifyBatch}).
    function _packedRoot(PackedBatch calldata batch)
        private
        view
        returns (bytes32 root, uint64 lastNonce, uint256 sum)
    {
        uint256 n = batch.transfers.length;
        if (n == 0) revert EmptyBatch();
        if (batch.dstChainId != block.chainid) revert WrongDestinationChain(0, batch.dstChainId);
        uint64 firstNonce = batch.firstNonce;
        if (firstNonce == 0) revert ZeroNonce();
        // In uint256, so that a range running past 2^64 - 1 is refused rather than wrapping.
        if (uint256(firstNonce) + n - 1 > type(uint64).max) revert NonceRangeOverflow(firstNonce, n);
        // forge-lint: disable-next-line(unsafe-typecast) -- checked just above
        lastNonce = uint64(uint256(firstNonce) + n - 1);
        uint256 pairCount = batch.pairs.length;
        if (pairCount == 0 || pairCount > 256) revert InvalidPairCount(pairCount);
        if (batch.pairOf.length != n) revert PairIndexLengthMismatch(n, batch.pairOf.length);

        bytes32[] memory nodes = new bytes32[](n);
        uint256 bad;
        {
            // Solidity checks, on access, that each array lies inside the calldata.
            uint256 pairsOffset;
            uint256 pairOfOffset;
            uint256 transfersOffset;
            {
                TokenPair[] calldata pairs = batch.pairs;
                assembly ("memory-safe") {
                    pairsOffset := pairs.offset
                }
            }
            {
                bytes calldata pairOf = batch.pairOf;
                assembly ("memory-safe") {
                    pairOfOffset := pairOf.offset
                }
            }
            {
                PackedTransfer[] calldata ts = batch.transfers;
                assembly ("memory-safe") {
                    transfersOffset := ts.offset
                }
            }
            uint256 p = _leafPreimage(batch.srcChainId, firstNonce);
            (sum, bad) = _hashLeaves(pairsOffset, pairCount, pairOfOffset, transfersOffset, nodes, p);
        }
        if (bad != 0) _revertBadTransfer(batch.srcChainId, firstNonce, batch.pairOf, (bad >> 8) - 1, bad & 0xff);
        root = _merkleRoot(nodes);
    }

    /// @dev Allocates the 288-byte leaf preimage of a batch (once per batch, reused for every
    ///      leaf) and returns where: typehash, srcChainId, dstChainId, nonce, then the tokens,
    ///      sender, recipient and amount that {_hashLeaves} writes. Allocated, not left past the
    ///      free memory pointer: it lives across two assembly blocks, which "memory-safe" only
    ///      allows for allocated memory (temporary memory past the pointer is valid within one block).
    function _leafPreimage(uint256 srcChainId, uint64 firstNonce) private view returns (uint256 p) {
        bytes32 typehash = TRANSFER_TYPEHASH;
        assembly ("memory-safe") {
            p := mload(0x40)
            mstore(0x40, add(p, 0x120))
            mstore(p, typehash)
            mstore(add(p, 0x20), srcChainId)
            mstore(add(p, 0x40), chainid())
            mstore(add(p, 0x60), firstNonce)
        }
    }

    /// @dev Hashes the leaves of a packed batch into `nodes` (one per transfer, nodes.length of
    ///      them) with the preimage at `p` ({_leafPreimage}), checking each transfer's values.
    ///      `pairsOffset`, `pairOfOffset` and `transfersOffset` are the calldata offsets of the
    ///      batch's arrays, which Solidity has checked lie inside the calldata; `pairOf` has
    ///      nodes.length bytes and the transfers nodes.length elements of three words, so every read
    ///      is in bounds. Returns the sum of the amounts and, if a transfer is bad, `bad` =
    ///      (1 + its index) << 8 | why (1: pair index out of range; 2: an address with bits above
    ///      160; 3: zero recipient; 4: zero amount; 5: amount above MAX_AMOUNT), else 0.
    function _hashLeaves(
        uint256 pairsOffset,
        uint256 pairCount,
        uint256 pairOfOffset,
        uint256 transfersOffset,
        bytes32[] memory nodes,
        uint256 p
    ) private pure returns (uint256 sum, uint256 bad) {
        uint256 maxAmount = MAX_AMOUNT;
        assembly ("memory-safe") {
            let current := 0x100 // the pair index whose tokens are in the preimage: none yet
            for { let i := 0 } lt(i, mload(nodes)) { i := add(i, 1) } {
                let k := byte(0, calldataload(add(pairOfOffset, i)))
                if iszero(eq(k, current)) {
                    if iszero(lt(k, pairCount)) {
                        bad := or(shl(8, add(i, 1)), 1)
                        break
                    }
                    // the pair's two words: srcToken, dstToken
                    calldatacopy(add(p, 0x80), add(pairsOffset, shl(6, k)), 0x40)
                    if shr(160, or(mload(add(p, 0x80)), mload(add(p, 0xa0)))) {
                        bad := or(shl(8, add(i, 1)), 2)
                        break
                    }
                    current := k
                }
                // the transfer's three words: sender, recipient, amount
                let t := add(p, 0xc0)
                calldatacopy(t, add(transfersOffset, mul(i, 0x60)), 0x60)
                if shr(160, or(mload(t), mload(add(t, 0x20)))) {
                    bad := or(shl(8, add(i, 1)), 2)
                    break
                }
                if iszero(mload(add(t, 0x20))) {
                    bad := or(shl(8, add(i, 1)), 3)
                    break
                }
                t := mload(add(t, 0x40)) // the amount
                if iszero(t) {
                    bad := or(shl(8, add(i, 1)), 4)
                    break
                }
                if gt(t, maxAmount) {
                    bad := or(shl(8, add(i, 1)), 5)
                    break
                }
                // No overflow: fewer than 2^64 transfers fit in calldata, each below 2^128.
                sum := add(sum, t)
                mstore(add(nodes, shl(5, add(i, 1))), keccak256(p, 0x120))
                mstore(add(p, 0x60), add(mload(add(p, 0x60)), 1)) // the next transfer's nonce
            }
        }
    }

    /// @dev The revert for transfer `i` of a packed batch that {_packedRoot} found bad.
    function _revertBadTransfer(uint256 srcChainId, uint64 firstNonce, bytes calldata pairOf, uint256 i, uint256 why)
        private
        pure
    {
        // forge-lint: disable-next-line(unsafe-typecast) -- i < n and firstNonce + n - 1 < 2^64
        uint64 nonce = uint64(firstNonce + i);
        if (why == 1) revert PairIndexOutOfRange(i, uint8(pairOf[i]));
        if (why == 2) revert DirtyAddress(i);
        if (why == 3) revert TransferZeroRecipient(srcChainId, nonce);
        if (why == 4) revert TransferZeroAmount(srcChainId, nonce);
        revert TransferAmountTooLarge(srcChainId, nonce);
    }

    function _batchMessage(uint256 srcChainId, uint64 keyEpoch, uint64 firstNonce, uint64 lastNonce, bytes32 root)
        private
        view
        returns (bytes32)
    {
        return keccak256(
            abi.encode(
                BATCH_TYPEHASH,
                VERSION,
                srcChainId,
                block.chainid,
                address(this),
                keyEpoch,
                firstNonce,
                lastNonce,
                root
            )
        );
    }

    /// @dev The REFUND message of the transfer whose leaf is `leaf` (docs/PROTOCOL.md).
    function _refundMessage(uint64 keyEpoch, bytes32 leaf) private view returns (bytes32) {
        return keccak256(abi.encode(REFUND_TYPEHASH, VERSION, block.chainid, address(this), keyEpoch, leaf));
    }

    /// @dev leaf = keccak256(abi.encode(TRANSFER_TYPEHASH, ...all eight fields...)), 288 bytes hashed.
    function _leaf(Transfer calldata t) private pure returns (bytes32 leaf) {
        bytes32 typehash = TRANSFER_TYPEHASH;
        assembly ("memory-safe") {
            // The scratch area past the free memory pointer, not allocated: no memory growth per leaf.
            let p := mload(0x40)
            mstore(p, typehash)
            calldatacopy(add(p, 0x20), t, 0x100)
            leaf := keccak256(p, 0x120)
        }
    }

    /// @dev Ordered binary Merkle root, in place: node = keccak256(left || right); an odd last node
    ///      is carried up unchanged. `nodes` must be non-empty; one leaf is its own root.
    function _merkleRoot(bytes32[] memory nodes) private pure returns (bytes32 root) {
        assembly ("memory-safe") {
            let base := add(nodes, 0x20)
            let count := mload(nodes)
            for {} gt(count, 1) {} {
                let pairs := shr(1, count)
                // node i of the next level = keccak256(node 2i || node 2i + 1): the two are
                // adjacent in memory, and are read before node i (i <= 2i) is overwritten.
                for { let i := 0 } lt(i, pairs) { i := add(i, 1) } {
                    mstore(add(base, shl(5, i)), keccak256(add(base, shl(6, i)), 0x40))
                }
                // an odd last node is carried up unchanged
                if and(count, 1) { mstore(add(base, shl(5, pairs)), mload(add(base, shl(5, sub(count, 1))))) }
                count := add(pairs, and(count, 1))
            }
            root := mload(base)
        }
    }

    /// @dev Root from a leaf at `index` of a batch of `count` leaves and its siblings (same rule).
    function _rootFromProof(bytes32 leaf, uint256 index, uint256 count, bytes32[] calldata proof)
        private
        pure
        returns (bytes32 node)
    {
        node = leaf;
        uint256 used;
        while (count > 1) {
            if (index == count - 1 && count % 2 == 1) {
                // Odd last node: carried up, no sibling at this level.
            } else {
                if (used >= proof.length) revert InvalidProofLength(used + 1, proof.length);
                bytes32 sibling = proof[used++];
                node = index % 2 == 0 ? _hashPair(node, sibling) : _hashPair(sibling, node);
            }
            index /= 2;
            count = (count + 1) / 2;
        }
        if (used != proof.length) revert InvalidProofLength(used, proof.length);
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32 h) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            h := keccak256(0x00, 0x40)
        }
    }

    /// @dev Stores `key` as the code of a new data contract: runtime = 0x00 (STOP) || key.
    function _storeKey(bytes memory key) private returns (address data) {
        // Init code (12 bytes): PUSH2 len; DUP1; PUSH1 12; PUSH1 0; CODECOPY; PUSH1 0; RETURN.
        bytes memory runtime = bytes.concat(hex"00", key);
        bytes memory init = bytes.concat(hex"61", bytes2(uint16(runtime.length)), hex"80600c6000396000f3", runtime);
        assembly ("memory-safe") {
            data := create(0, add(init, 0x20), mload(init))
        }
        if (data == address(0)) revert KeyStoreFailed();
    }

    /// @dev Reads the key of `keyEpoch` (256 bytes) from its data contract.
    function _loadKey(uint64 keyEpoch) private view returns (bytes memory key) {
        address data = _keyData[keyEpoch];
        key = new bytes(BLS.G2_POINT_LENGTH);
        assembly ("memory-safe") {
            extcodecopy(data, add(key, 0x20), 1, 256)
        }
    }
}
