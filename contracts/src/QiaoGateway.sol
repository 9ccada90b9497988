// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "./QiaoEndpoint.sol";
import {WrappedToken} from "./WrappedToken.sol";
import {KycRegistry} from "./KycRegistry.sol";

/// @title QiaoGateway
/// @notice Qiao endpoint on Ethereum (E): a committee-signed batch from the consortium chain mints
///         WrappedToken; `burn` destroys it and starts a transfer back (see {QiaoEndpoint}). A
///         committee-signed FREEZE or ALLOW carries a freeze or an allow-list change decided on
///         the consortium chain to this chain's registry (applyFreeze, applyAllow and
///         ALLOW_TYPEHASH: in {IssuerModule}, run from the fallback; the gateway is at EIP-170's
///         limit). While the issuer has suspended a token's asset, its transfers wait in the
///         token's release queue ({_deliveryWaits}).
/// @dev Register pairs with `registerToken(remoteChainId, localWrappedToken, remoteAsset)`; the
///      wrapped token must name this gateway as its minter. For applyFreeze and applyAllow
///      the gateway needs the registry's FREEZER_ROLE.
contract QiaoGateway is QiaoEndpoint {
    /// @notice `token` is not a WrappedToken whose gateway is this contract.
    error NotGatewayToken(address token);
    /// @notice `token` answered a batch mint with a report that does not fit the batch.
    error InvalidMintReport(address token);
    /// @notice `token` is already paired with a token on `remoteChainId`; a wrapped token has one
    ///         home chain (else tokens minted from one chain could unlock another chain's vault).
    error TokenPairedWithAnotherChain(address token, uint256 remoteChainId);

    /// @dev The remote chain each registered wrapped token is paired with (its home chain).
    mapping(address wrappedToken => uint256 remoteChainId) private _homeChain;

    /// @dev {WrappedToken-mintBatchChecked} outcomes (the token's MINTED and TOKEN_FROZEN).
    uint8 private constant MINTED = 0;
    uint8 private constant TOKEN_FROZEN = 2;
    /// @dev {WrappedToken-assetStatus} of a suspended asset (the token's ASSET_SUSPENDED).
    uint8 private constant ASSET_SUSPENDED = 1;

    /// @param initialOwner Owner (registration, rate limits, guardian; two-step ownership transfer).
    /// @param guardian_ The address that may pause.
    /// @param groupKeyG2 The committee's 256-byte EIP-2537 G2 group public key (key epoch 1).
    /// @param registry_ The KYC registry of Ethereum (the one the wrapped tokens consult).
    /// @param actionDelay_ Seconds a committee-signed RESUME or ROTATE waits ({QiaoEndpoint-actionDelay}).
    constructor(
        address initialOwner,
        address guardian_,
        bytes memory groupKeyG2,
        KycRegistry registry_,
        uint64 actionDelay_
    ) QiaoEndpoint(initialOwner, guardian_, groupKeyG2, registry_, actionDelay_) {}

    /// @notice Burns `amount` of `wrappedToken` from the caller and starts a transfer of the
    ///         underlying asset to `recipient` on `dstChainId`. No approval is needed.
    /// @dev Reverts with EnforcedPause, {ZeroAmount}, {AmountTooLarge}, {ZeroRecipient},
    ///      {UnregisteredToken}, {NotAllowed}, {RateLimited} (outbound bucket) or the token's errors
    ///      (ERC20InsufficientBalance, TokenIsFrozen, AddressIsFrozen, AmountAboveFreeBalance: only
    ///      the free balance burns). Emits {TransferInitiated} with srcToken =
    ///      `wrappedToken` and dstToken = the registered asset on `dstChainId`.
    /// @param wrappedToken The registered WrappedToken.
    /// @param dstChainId The destination chain id.
    /// @param recipient The receiver on the destination chain.
    /// @param amount The amount.
    /// @return nonce The nonce of the transfer on the route (this chain -> `dstChainId`).
    function burn(address wrappedToken, uint256 dstChainId, address recipient, uint256 amount)
        external
        nonReentrant
        returns (uint64 nonce)
    {
        address dstToken = _checkOutgoing(dstChainId, wrappedToken, recipient, amount);
        WrappedToken(wrappedToken).burn(msg.sender, amount);
        nonce = _initiate(dstChainId, wrappedToken, dstToken, recipient, amount);
    }

    /// @notice The remote chain whose asset `wrappedToken` represents (0 if not registered).
    /// @param wrappedToken A wrapped token of this gateway.
    /// @return remoteChainId Its home chain.
    function homeChainOf(address wrappedToken) external view returns (uint256 remoteChainId) {
        return _homeChain[wrappedToken];
    }

    /// @dev A transfer of a token whose asset the issuer suspended waits in the token's release
    ///      queue (the token refuses every mint until the suspension is lifted: {releaseQueued}
    ///      reverts with its AssetSuspended meanwhile); the other transfers of its batch go on.
    function _deliveryWaits(address token) internal view override returns (bool) {
        return WrappedToken(token).assetStatus() == ASSET_SUSPENDED;
    }

    /// @dev Mint of the wrapped token to the recipient, unless it or the token is frozen / not allowed.
    function _tryDeliver(address token, address recipient, uint256 amount) internal override returns (FailureReason) {
        uint8 outcome = WrappedToken(token).mintChecked(recipient, amount);
        if (outcome == MINTED) return FailureReason.None;
        return outcome == TOKEN_FROZEN ? FailureReason.TokenFrozen : FailureReason.RecipientNotAllowed;
    }

    /// @dev All the mints of a batch in one call into the token ({WrappedToken-mintBatchChecked}),
    ///      whose report is checked before it is believed: one bit per transfer (ceil(m / 256)
    ///      words, none past m); MINTED with the refused recipients' bits, or TOKEN_FROZEN with
    ///      every bit set (nothing minted). Any other report reverts the batch ({InvalidMintReport}).
    function _deliverBatch(address token, address[] memory to, uint256[] memory amounts)
        internal
        override
        returns (uint256[] memory failed, uint256[] memory refused, FailureReason reason)
    {
        uint8 outcome;
        (outcome, failed) = WrappedToken(token).mintBatchChecked(to, amounts);
        uint256 m = to.length;
        uint256 words = (m + 255) >> 8;
        if (failed.length != words) revert InvalidMintReport(token);
        uint256 tail = m & 0xff; // bits used in the last word (0: all 256)
        uint256 lastMask = tail == 0 ? type(uint256).max : (uint256(1) << tail) - 1;
        if (failed[words - 1] & ~lastMask != 0) revert InvalidMintReport(token);
        if (outcome == MINTED) return (failed, refused, FailureReason.RecipientNotAllowed);
        if (outcome != TOKEN_FROZEN) revert InvalidMintReport(token);
        for (uint256 k; k + 1 < words; ++k) {
            if (failed[k] != type(uint256).max) revert InvalidMintReport(token);
        }
        if (failed[words - 1] != lastMask) revert InvalidMintReport(token);
        return (failed, refused, FailureReason.TokenFrozen);
    }

    /// @dev Refund of a burn that failed on the consortium chain: mints the burnt amount back.
    function _refundTo(address token, address to, uint256 amount) internal override {
        WrappedToken(token).mint(to, amount);
    }

    /// @dev Only a WrappedToken minted and burnt by this gateway can be registered, and toward
    ///      one remote chain only ({TokenPairedWithAnotherChain}).
    function _registerLocalToken(uint256 remoteChainId, address token) internal override {
        try WrappedToken(token).gateway() returns (address g) {
            if (g != address(this)) revert NotGatewayToken(token);
        } catch {
            revert NotGatewayToken(token);
        }
        uint256 home = _homeChain[token];
        if (home != 0 && home != remoteChainId) revert TokenPairedWithAnotherChain(token, home);
        _homeChain[token] = remoteChainId;
    }
}
