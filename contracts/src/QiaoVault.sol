// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {QiaoEndpoint} from "./QiaoEndpoint.sol";
import {KycRegistry} from "./KycRegistry.sol";

/// @title QiaoVault
/// @notice Qiao endpoint on the consortium chain (C): `lock` holds the asset and starts a transfer
///         toward Ethereum; a committee-signed batch from Ethereum unlocks it (see {QiaoEndpoint}).
/// @dev Register pairs with `registerToken(remoteChainId, localAsset, remoteWrappedToken)`.
///      Fee-on-transfer and rebasing tokens are not supported: a lock whose received amount differs
///      from `amount` is refused. An unlock to a recipient that is not allowed (or is frozen) in
///      the registry is recorded as failed, and refundable on Ethereum.
contract QiaoVault is QiaoEndpoint {
    using SafeERC20 for IERC20;

    /// @notice The vault received `received` tokens where the lock asked for `expected`.
    error TransferAmountMismatch(uint256 expected, uint256 received);
    /// @notice The registry answered a batched KYC query with a mask of the wrong length.
    error InvalidRegistryReply();

    /// @param initialOwner Owner (registration, rate limits, guardian; two-step ownership transfer).
    /// @param guardian_ The address that may pause.
    /// @param groupKeyG2 The committee's 256-byte EIP-2537 G2 group public key (key epoch 1).
    /// @param registry_ The KYC registry of the consortium chain.
    constructor(address initialOwner, address guardian_, bytes memory groupKeyG2, KycRegistry registry_)
        QiaoEndpoint(initialOwner, guardian_, groupKeyG2, registry_)
    {}

    /// @notice Locks `amount` of `token` from the caller (who must be allowed in the registry and
    ///         have approved the vault) and starts a transfer of it to `recipient` on `dstChainId`.
    /// @dev Reverts with EnforcedPause, {ZeroAmount}, {AmountTooLarge}, {ZeroRecipient},
    ///      {UnregisteredToken} (also for any address never registered, e.g. one without code or
    ///      the zero address), {NotAllowed}, {RateLimited} (outbound bucket), {TransferAmountMismatch}
    ///      if the vault's balance did not grow by exactly `amount`, or the token's own error.
    ///      Emits {TransferInitiated} with srcToken = `token` and dstToken = its registered pair.
    /// @param token The registered asset on this chain.
    /// @param dstChainId The destination chain id.
    /// @param recipient The receiver on the destination chain.
    /// @param amount The amount, in the token's units.
    /// @return nonce The nonce of the transfer on the route (this chain -> `dstChainId`).
    function lock(address token, uint256 dstChainId, address recipient, uint256 amount)
        external
        nonReentrant
        returns (uint64 nonce)
    {
        address dstToken = _checkOutgoing(dstChainId, token, recipient, amount);
        IERC20 asset = IERC20(token);
        uint256 before = asset.balanceOf(address(this));
        asset.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = asset.balanceOf(address(this)) - before;
        if (received != amount) revert TransferAmountMismatch(amount, received);
        nonce = _initiate(dstChainId, token, dstToken, recipient, amount);
    }

    /// @dev Unlock: pays the locked asset out to an allowed recipient, else reports the failure.
    function _tryDeliver(address token, address recipient, uint256 amount) internal override returns (FailureReason) {
        if (!registry.isAllowed(recipient)) return FailureReason.RecipientNotAllowed;
        IERC20(token).safeTransfer(recipient, amount);
        return FailureReason.None;
    }

    /// @dev The unlocks of a batch: one registry call for every recipient's KYC status
    ///      ({KycRegistry-allowedMask}), then a transfer out per allowed recipient.
    function _deliverBatch(address token, address[] memory to, uint256[] memory amounts)
        internal
        override
        returns (uint256[] memory failed, FailureReason reason)
    {
        uint256 m = to.length;
        failed = new uint256[]((m + 255) >> 8);
        uint256[] memory allowed = registry.allowedMask(to);
        if (allowed.length != failed.length) revert InvalidRegistryReply();
        for (uint256 j; j < m; ++j) {
            if ((allowed[j >> 8] >> (j & 0xff)) & 1 == 1) {
                IERC20(token).safeTransfer(to[j], amounts[j]);
            } else {
                failed[j >> 8] |= uint256(1) << (j & 0xff);
            }
        }
        return (failed, FailureReason.RecipientNotAllowed);
    }

    /// @dev Refund of a lock that failed on Ethereum: the locked asset goes back to the sender.
    function _refundTo(address token, address to, uint256 amount) internal override {
        IERC20(token).safeTransfer(to, amount);
    }

    /// @dev Any ERC-20 with code may be registered on the vault.
    function _validateLocalToken(address) internal view override {}
}
