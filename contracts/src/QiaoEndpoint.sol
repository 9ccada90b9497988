// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {BLS} from "./BLS.sol";

/// @title QiaoEndpoint
/// @notice The bridge-facing half shared by both Qiao endpoints: the vault on the consortium chain
///         (lock / unlock) and the gateway on Ethereum (burn / mint). The relayer watches and
///         submits to both with one code path; docs/PROTOCOL.md fixes every byte of this interface.
///
/// @dev Interface summary (identical on QiaoVault and QiaoGateway):
///
///      constructor(address owner, bytes groupKeyG2)
///          `groupKeyG2` (256-byte EIP-2537 G2 point) is validated and stored as key epoch 1.
///
///      registerToken(uint256 remoteChainId, address localToken, address remoteToken)   onlyOwner
///          ONE argument order on both contracts: the token that lives on THIS chain first, then
///          its counterpart on `remoteChainId`. On the vault: (E chain id, TestAsset on C,
///          WrappedToken on E). On the gateway: (C chain id, WrappedToken on E, TestAsset on C).
///          A pair is permanent: neither token can be registered again for that remote chain.
///
///      executeBatch(uint64 keyEpoch, Transfer[] transfers, bytes signature)
///      isExecuted(uint256 srcChainId, uint64 nonce), nextNonce(uint256 dstChainId),
///      currentKeyEpoch(), groupKey(uint64 keyEpoch), batchMessage(uint64 keyEpoch, Transfer[])
///      remoteTokenOf(uint256 remoteChainId, address localToken), localTokenOf(uint256, address remoteToken)
///
///      Signed message (docs/PROTOCOL.md):
///        leaf    = keccak256(abi.encode(TRANSFER_TYPEHASH, srcChainId, dstChainId, nonce, srcToken,
///                                       dstToken, sender, recipient, amount))
///        root    = ordered pairwise keccak over the leaves, odd last node carried up unchanged
///        message = keccak256(abi.encode(BATCH_TYPEHASH, "QIAO-V1", srcChainId, dstChainId,
///                                       address(this), keyEpoch, firstNonce, lastNonce, root))
///      and the batch executes if `signature` is a BLS signature (see {BLS}) on `message` under the
///      group key of `keyEpoch`.
///
///      Not implemented in v1 (see DESIGN.md section 6): key rotation, pause, rate limits, refunds,
///      single-transfer execution with a Merkle proof. Only key epoch 1 exists.
abstract contract QiaoEndpoint is Ownable2Step, ReentrancyGuard {
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

    /// @dev What {_batchHeader} derives from a batch.
    struct BatchHeader {
        uint256 srcChainId;
        uint64 firstNonce;
        uint64 lastNonce;
        bytes32 root;
        bytes32 message;
    }

    /// @notice EIP-712-style type hash of a transfer leaf.
    bytes32 public constant TRANSFER_TYPEHASH = keccak256(
        "QiaoTransfer(uint256 srcChainId,uint256 dstChainId,uint64 nonce,address srcToken,address dstToken,address sender,address recipient,uint256 amount)"
    );
    /// @notice EIP-712-style type hash of the signed batch message.
    bytes32 public constant BATCH_TYPEHASH = keccak256(
        "QiaoBatch(string version,uint256 srcChainId,uint256 dstChainId,address dstContract,uint64 keyEpoch,uint64 firstNonce,uint64 lastNonce,bytes32 root)"
    );
    /// @notice Protocol version, ABI-encoded as a dynamic `string` in the batch message.
    string public constant VERSION = "QIAO-V1";
    /// @notice The key epoch of the group key given at deployment.
    uint64 public constant INITIAL_KEY_EPOCH = 1;

    /// @dev Group public key (256-byte EIP-2537 G2) per key epoch; empty for unknown epochs.
    mapping(uint64 keyEpoch => bytes groupKey) private _groupKeys;
    /// @dev The epoch of the most recently installed group key.
    uint64 private _currentKeyEpoch;
    /// @dev Executed bitmap: bit (nonce % 256) of word (nonce / 256), per source chain.
    mapping(uint256 srcChainId => mapping(uint256 word => uint256 bits)) private _executed;
    /// @dev Last nonce assigned per destination chain (0: none yet, so the first nonce is 1).
    mapping(uint256 dstChainId => uint64 nonce) private _lastNonce;
    /// @dev Token on `remoteChainId` paired with a local token.
    mapping(uint256 remoteChainId => mapping(address localToken => address remoteToken)) private _remoteTokens;
    /// @dev Local token paired with a token on `remoteChainId`.
    mapping(uint256 remoteChainId => mapping(address remoteToken => address localToken)) private _localTokens;

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
    /// @notice Emitted on the destination chain for each transfer delivered by {executeBatch}.
    event TransferExecuted(uint256 indexed srcChainId, uint64 indexed nonce, address recipient, uint256 amount);
    /// @notice Emitted once per batch executed by {executeBatch}.
    event BatchExecuted(uint256 indexed srcChainId, uint64 firstNonce, uint64 lastNonce, bytes32 root, uint64 keyEpoch);
    /// @notice Emitted when a group key is installed for a key epoch.
    event GroupKeySet(uint64 indexed keyEpoch, bytes groupKey);
    /// @notice Emitted when a token pair is registered.
    event TokenRegistered(uint256 indexed remoteChainId, address indexed localToken, address indexed remoteToken);

    // --- executeBatch rejections
    /// @notice The batch contains no transfer.
    error EmptyBatch();
    /// @notice No group key is stored for `keyEpoch`.
    error UnknownKeyEpoch(uint64 keyEpoch);
    /// @notice The signature is not 128 bytes (EIP-2537 G1 encoding).
    error InvalidSignatureLength(uint256 length);
    /// @notice The signature is the point at infinity.
    error IdentitySignature();
    /// @notice The signature is not a valid G1 subgroup point or the pairing check failed.
    error InvalidSignature();
    /// @notice Transfer `index` has a destination chain other than this one.
    error WrongDestinationChain(uint256 index, uint256 dstChainId);
    /// @notice Transfer `index` comes from another source chain than transfer 0.
    error MixedSourceChains(uint256 index, uint256 expectedSrcChainId, uint256 srcChainId);
    /// @notice The batch starts at nonce 0, which is never assigned.
    error ZeroNonce();
    /// @notice Transfer `index` does not carry the nonce that follows its predecessor's.
    error NonContiguousNonce(uint256 index, uint256 expectedNonce, uint64 nonce);
    /// @notice Transfer (`srcChainId`, `nonce`) was already executed.
    error AlreadyExecuted(uint256 srcChainId, uint64 nonce);
    /// @notice (`srcToken` on `srcChainId`, `dstToken` here) is not a registered pair.
    error UnregisteredTokenPair(uint256 srcChainId, address srcToken, address dstToken);
    /// @notice Transfer (`srcChainId`, `nonce`) has the zero address as recipient.
    error TransferZeroRecipient(uint256 srcChainId, uint64 nonce);
    /// @notice Transfer (`srcChainId`, `nonce`) has a zero amount.
    error TransferZeroAmount(uint256 srcChainId, uint64 nonce);

    // --- lock / burn rejections
    /// @notice `token` is not registered for transfers toward `dstChainId`.
    error UnregisteredToken(uint256 dstChainId, address token);
    /// @notice The recipient is the zero address.
    error ZeroRecipient();
    /// @notice The amount is zero.
    error ZeroAmount();

    // --- registration rejections
    /// @notice The remote chain id is zero or this chain's id.
    error InvalidRemoteChain(uint256 remoteChainId);
    /// @notice A token address is the zero address.
    error ZeroTokenAddress();
    /// @notice The local token has no code.
    error TokenHasNoCode(address token);
    /// @notice `token` is already part of a pair for `remoteChainId`.
    error TokenAlreadyRegistered(uint256 remoteChainId, address token);

    /// @param initialOwner Owner (token registration; two-step ownership transfer).
    /// @param groupKeyG2 The committee's group public key, 256-byte EIP-2537 G2, stored as epoch 1.
    ///        Reverts with a {BLS} error if it is not a valid G2 subgroup point or is the identity.
    constructor(address initialOwner, bytes memory groupKeyG2) Ownable(initialOwner) {
        BLS.validatePublicKey(groupKeyG2);
        _groupKeys[INITIAL_KEY_EPOCH] = groupKeyG2;
        _currentKeyEpoch = INITIAL_KEY_EPOCH;
        emit GroupKeySet(INITIAL_KEY_EPOCH, groupKeyG2);
    }

    // ------------------------------------------------------------------------------------------
    // Administration
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
        _validateLocalToken(localToken);
        _remoteTokens[remoteChainId][localToken] = remoteToken;
        _localTokens[remoteChainId][remoteToken] = localToken;
        emit TokenRegistered(remoteChainId, localToken, remoteToken);
    }

    // ------------------------------------------------------------------------------------------
    // Destination side
    // ------------------------------------------------------------------------------------------

    /// @notice Executes a batch of transfers signed by the committee: every transfer is delivered
    ///         (unlock on the vault, mint on the gateway) exactly once.
    /// @dev Reverts as a whole on: an empty batch ({EmptyBatch}); an unknown key epoch
    ///      ({UnknownKeyEpoch}); a transfer for another chain ({WrongDestinationChain}); mixed source
    ///      chains ({MixedSourceChains}); a first nonce of 0 ({ZeroNonce}); non-contiguous nonces
    ///      ({NonContiguousNonce}); a zero recipient or amount ({TransferZeroRecipient},
    ///      {TransferZeroAmount}); an unregistered token pair ({UnregisteredTokenPair}); any transfer
    ///      already executed ({AlreadyExecuted}); a signature that is not 128 bytes
    ///      ({InvalidSignatureLength}), the identity ({IdentitySignature}), not a valid point, or
    ///      failing the pairing check ({InvalidSignature}). All transfers are marked executed
    ///      before any is delivered. Anyone may call it: the signature is the authorisation.
    /// @param keyEpoch The key epoch whose group key signed the batch.
    /// @param transfers The transfers, in nonce order, `firstNonce..lastNonce` without gaps.
    /// @param signature The 128-byte EIP-2537 G1 BLS signature on {batchMessage}.
    function executeBatch(uint64 keyEpoch, Transfer[] calldata transfers, bytes calldata signature)
        external
        nonReentrant
    {
        bytes memory key = _groupKeys[keyEpoch];
        if (key.length == 0) revert UnknownKeyEpoch(keyEpoch);
        if (signature.length != BLS.G1_POINT_LENGTH) revert InvalidSignatureLength(signature.length);
        bytes memory sig = signature;
        if (BLS.isZero(sig)) revert IdentitySignature();

        BatchHeader memory header = _batchHeader(keyEpoch, transfers);
        _checkDeliverable(header.srcChainId, transfers);
        if (!BLS.verify(key, header.message, sig)) revert InvalidSignature();

        // Effects: mark the whole batch before any external call.
        uint256 n = transfers.length;
        for (uint256 i; i < n; ++i) {
            _markExecuted(header.srcChainId, transfers[i].nonce);
        }
        emit BatchExecuted(header.srcChainId, header.firstNonce, header.lastNonce, header.root, keyEpoch);

        // Interactions.
        for (uint256 i; i < n; ++i) {
            Transfer calldata t = transfers[i];
            emit TransferExecuted(header.srcChainId, t.nonce, t.recipient, t.amount);
            _deliver(t);
        }
    }

    /// @notice Whether transfer (`srcChainId`, `nonce`) has been executed on this endpoint.
    /// @param srcChainId The source chain id.
    /// @param nonce The transfer's nonce on its route toward this chain.
    /// @return executed True if executed.
    function isExecuted(uint256 srcChainId, uint64 nonce) external view returns (bool executed) {
        return _isExecuted(srcChainId, nonce);
    }

    /// @notice The message the committee signs for `transfers` under `keyEpoch` (docs/PROTOCOL.md),
    ///         with `dstContract = address(this)` and `dstChainId = block.chainid`.
    /// @dev Checks only the batch's shape (non-empty, one source chain, this destination chain,
    ///      contiguous nonces from at least 1); it does not check the key epoch, tokens, recipients,
    ///      amounts or execution state.
    /// @param keyEpoch The key epoch that signs.
    /// @param transfers The transfers in nonce order.
    /// @return message The 32-byte message hashed to G1 and signed.
    function batchMessage(uint64 keyEpoch, Transfer[] calldata transfers) external view returns (bytes32 message) {
        return _batchHeader(keyEpoch, transfers).message;
    }

    // ------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------

    /// @notice The nonce the next transfer toward `dstChainId` will get (1 for the first).
    /// @param dstChainId The destination chain id.
    /// @return nonce The next nonce on the route (this chain -> `dstChainId`).
    function nextNonce(uint256 dstChainId) external view returns (uint64 nonce) {
        return _lastNonce[dstChainId] + 1;
    }

    /// @notice The key epoch of the newest group key.
    /// @return keyEpoch The current key epoch (1 in v1).
    function currentKeyEpoch() external view returns (uint64 keyEpoch) {
        return _currentKeyEpoch;
    }

    /// @notice The group public key of `keyEpoch`.
    /// @dev Reverts with {UnknownKeyEpoch} for an epoch without a key.
    /// @param keyEpoch The key epoch.
    /// @return key The 256-byte EIP-2537 G2 group public key.
    function groupKey(uint64 keyEpoch) external view returns (bytes memory key) {
        key = _groupKeys[keyEpoch];
        if (key.length == 0) revert UnknownKeyEpoch(keyEpoch);
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
    // Hooks and internals for the subclasses
    // ------------------------------------------------------------------------------------------

    /// @dev Delivers one verified, not yet executed transfer (already marked executed): the vault
    ///      unlocks, the gateway mints. `t.dstToken` is a registered local token and `t.recipient`
    ///      and `t.amount` are non-zero.
    function _deliver(Transfer calldata t) internal virtual;

    /// @dev Extra checks on a local token at registration (the gateway checks it is its own
    ///      WrappedToken). Reverts to refuse.
    function _validateLocalToken(address token) internal view virtual;

    /// @dev Source side, step 1 (before taking the tokens): checks `amount`, `recipient` and that
    ///      `srcToken` is registered toward `dstChainId`.
    /// @return dstToken The token paired with `srcToken` on `dstChainId`.
    function _checkOutgoing(uint256 dstChainId, address srcToken, address recipient, uint256 amount)
        internal
        view
        returns (address dstToken)
    {
        if (amount == 0) revert ZeroAmount();
        if (recipient == address(0)) revert ZeroRecipient();
        dstToken = _remoteTokens[dstChainId][srcToken];
        if (dstToken == address(0)) revert UnregisteredToken(dstChainId, srcToken);
    }

    /// @dev Source side, step 2 (after `amount` of `srcToken` was locked or burnt from `msg.sender`):
    ///      assigns the next nonce toward `dstChainId` and emits {TransferInitiated}. Arguments must
    ///      have passed {_checkOutgoing}.
    /// @return nonce The nonce assigned (the first on a route is 1).
    function _initiate(uint256 dstChainId, address srcToken, address dstToken, address recipient, uint256 amount)
        internal
        returns (uint64 nonce)
    {
        nonce = ++_lastNonce[dstChainId];
        emit TransferInitiated(dstChainId, nonce, msg.sender, srcToken, dstToken, recipient, amount);
    }

    function _isExecuted(uint256 srcChainId, uint64 nonce) private view returns (bool) {
        return (_executed[srcChainId][nonce >> 8] >> (nonce & 0xff)) & 1 == 1;
    }

    function _markExecuted(uint256 srcChainId, uint64 nonce) private {
        _executed[srcChainId][nonce >> 8] |= uint256(1) << (nonce & 0xff);
    }

    /// @dev Per-transfer checks of executeBatch beyond the batch's shape: non-zero recipient and
    ///      amount, registered token pair, not yet executed.
    function _checkDeliverable(uint256 srcChainId, Transfer[] calldata transfers) private view {
        uint256 n = transfers.length;
        for (uint256 i; i < n; ++i) {
            Transfer calldata t = transfers[i];
            if (t.recipient == address(0)) revert TransferZeroRecipient(srcChainId, t.nonce);
            if (t.amount == 0) revert TransferZeroAmount(srcChainId, t.nonce);
            if (t.dstToken == address(0) || _localTokens[srcChainId][t.srcToken] != t.dstToken) {
                revert UnregisteredTokenPair(srcChainId, t.srcToken, t.dstToken);
            }
            if (_isExecuted(srcChainId, t.nonce)) revert AlreadyExecuted(srcChainId, t.nonce);
        }
    }

    /// @dev Validates the batch's shape and computes leaves, root and message.
    function _batchHeader(uint64 keyEpoch, Transfer[] calldata transfers)
        private
        view
        returns (BatchHeader memory header)
    {
        uint256 n = transfers.length;
        if (n == 0) revert EmptyBatch();
        uint256 srcChainId = transfers[0].srcChainId;
        uint64 firstNonce = transfers[0].nonce;
        if (firstNonce == 0) revert ZeroNonce();

        bytes32[] memory nodes = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            Transfer calldata t = transfers[i];
            if (t.dstChainId != block.chainid) revert WrongDestinationChain(i, t.dstChainId);
            if (t.srcChainId != srcChainId) revert MixedSourceChains(i, srcChainId, t.srcChainId);
            // In uint256 so that a batch running past 2^64 - 1 is refused rather than overflowing.
            if (uint256(t.nonce) != uint256(firstNonce) + i) {
                revert NonContiguousNonce(i, uint256(firstNonce) + i, t.nonce);
            }
            nodes[i] = _leaf(t);
        }
        header.srcChainId = srcChainId;
        header.firstNonce = firstNonce;
        header.lastNonce = transfers[n - 1].nonce;
        header.root = _merkleRoot(nodes);
        header.message = keccak256(
            abi.encode(
                BATCH_TYPEHASH,
                VERSION,
                srcChainId,
                block.chainid,
                address(this),
                keyEpoch,
                firstNonce,
                header.lastNonce,
                header.root
            )
        );
    }

    /// @dev leaf = keccak256(abi.encode(TRANSFER_TYPEHASH, ...all eight fields...)), 288 bytes hashed.
    function _leaf(Transfer calldata t) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                TRANSFER_TYPEHASH,
                t.srcChainId,
                t.dstChainId,
                t.nonce,
                t.srcToken,
                t.dstToken,
                t.sender,
                t.recipient,
                t.amount
            )
        );
    }

    /// @dev Ordered binary Merkle root, in place: node = keccak256(left || right); an odd last node
    ///      is carried up unchanged. `nodes` must be non-empty; one leaf is its own root.
    function _merkleRoot(bytes32[] memory nodes) private pure returns (bytes32) {
        uint256 count = nodes.length;
        while (count > 1) {
            uint256 pairs = count / 2;
            for (uint256 i; i < pairs; ++i) {
                nodes[i] = keccak256(abi.encodePacked(nodes[2 * i], nodes[2 * i + 1]));
            }
            if (count % 2 == 1) nodes[pairs] = nodes[count - 1];
            count = pairs + count % 2;
        }
        return nodes[0];
    }
}
