// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "./QiaoEndpoint.sol";
import {WrappedToken} from "./WrappedToken.sol";

/// @title QiaoGateway
/// @notice Qiao endpoint on Ethereum (E): a committee-signed batch from the consortium chain mints
///         WrappedToken; `burn` destroys it and starts a transfer back (see {QiaoEndpoint}).
/// @dev Register pairs with `registerToken(remoteChainId, localWrappedToken, remoteAsset)`; the
///      wrapped token must name this gateway as its minter.
contract QiaoGateway is QiaoEndpoint {
    /// @notice `token` is not a WrappedToken whose gateway is this contract.
    error NotGatewayToken(address token);

    /// @param initialOwner Owner (token registration; two-step ownership transfer).
    /// @param groupKeyG2 The committee's 256-byte EIP-2537 G2 group public key (key epoch 1).
    constructor(address initialOwner, bytes memory groupKeyG2) QiaoEndpoint(initialOwner, groupKeyG2) {}

    /// @notice Burns `amount` of `wrappedToken` from the caller and starts a transfer of the
    ///         underlying asset to `recipient` on `dstChainId`. No approval is needed.
    /// @dev Reverts with {ZeroAmount}, {ZeroRecipient}, {UnregisteredToken} or the token's
    ///      ERC20InsufficientBalance. Emits {TransferInitiated} with srcToken = `wrappedToken` and
    ///      dstToken = the registered asset on `dstChainId`.
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

    /// @dev Mint of the wrapped token to the recipient.
    function _deliver(Transfer calldata t) internal override {
        WrappedToken(t.dstToken).mint(t.recipient, t.amount);
    }

    /// @dev Only a WrappedToken minted and burnt by this gateway can be registered.
    function _validateLocalToken(address token) internal view override {
        try WrappedToken(token).gateway() returns (address g) {
            if (g != address(this)) revert NotGatewayToken(token);
        } catch {
            revert NotGatewayToken(token);
        }
    }
}
