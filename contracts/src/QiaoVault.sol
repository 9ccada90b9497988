// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {QiaoEndpoint} from "./QiaoEndpoint.sol";

/// @title QiaoVault
/// @notice Qiao endpoint on the consortium chain (C): `lock` holds the asset and starts a transfer
///         toward Ethereum; a committee-signed batch from Ethereum unlocks it (see {QiaoEndpoint}).
/// @dev Register pairs with `registerToken(remoteChainId, localAsset, remoteWrappedToken)`.
///      Fee-on-transfer and rebasing tokens are not supported: a lock whose received amount differs
///      from `amount` is refused.
contract QiaoVault is QiaoEndpoint {
    using SafeERC20 for IERC20;

    /// @notice The vault received `received` tokens where the lock asked for `expected`.
    error TransferAmountMismatch(uint256 expected, uint256 received);

    /// @param initialOwner Owner (token registration; two-step ownership transfer).
    /// @param groupKeyG2 The committee's 256-byte EIP-2537 G2 group public key (key epoch 1).
    constructor(address initialOwner, bytes memory groupKeyG2) QiaoEndpoint(initialOwner, groupKeyG2) {}

    /// @notice Locks `amount` of `token` from the caller (who must have approved the vault) and
    ///         starts a transfer of it to `recipient` on `dstChainId`.
    /// @dev Reverts with {ZeroAmount}, {ZeroRecipient}, {UnregisteredToken} (also for any address
    ///      never registered, e.g. one without code), {TransferAmountMismatch} if the vault's
    ///      balance did not grow by exactly `amount`, or the token's own error.
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

    /// @dev Unlock: pays the locked asset out to the recipient.
    function _deliver(Transfer calldata t) internal override {
        IERC20(t.dstToken).safeTransfer(t.recipient, t.amount);
    }

    /// @dev Any ERC-20 with code may be registered on the vault.
    function _validateLocalToken(address) internal view override {}
}
