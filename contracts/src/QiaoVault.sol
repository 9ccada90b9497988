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
///      the registry, or that the asset itself refuses (its `transfer` reverts, returns false or
///      something that is not a boolean, or it has no code), is recorded as failed, and
///      refundable on Ethereum: one refused delivery never reverts a batch.
///
///      Gas given to the asset: each delivery calls `transfer` with exactly {DELIVERY_GAS}. Under
///      EIP-150 a call gets at most 63/64 of the gas left, so a relayer that sent too little gas
///      could otherwise make the asset run out and have the transfer recorded as failed; the vault
///      therefore checks, before each delivery, that the asset will get all of {DELIVERY_GAS}
///      and reverts the whole transaction ({InsufficientGasForDelivery}) if not. An asset that
///      runs out of {DELIVERY_GAS} by itself (one that burns every unit it is given) is refusing
///      the delivery: recorded as failed. An asset whose `transfer` needs more is not supported.
contract QiaoVault is QiaoEndpoint {
    using SafeERC20 for IERC20;

    /// @notice The vault received `received` tokens where the lock asked for `expected`.
    error TransferAmountMismatch(uint256 expected, uint256 received);
    /// @notice The registry answered a batched KYC query with a mask of the wrong length.
    error InvalidRegistryReply();
    /// @notice Less gas is left (`available`) than a delivery needs to give the asset all of
    ///         {DELIVERY_GAS} (`required`): send the transaction with more gas.
    error InsufficientGasForDelivery(uint256 available, uint256 required);

    /// @notice Gas given to the asset's `transfer` for one delivery (unlock).
    uint256 public constant DELIVERY_GAS = 300_000;
    /// @dev Gas left needed before a delivery's call so that the asset gets all of DELIVERY_GAS
    ///      (63/64 rule) after the call's own costs (a cold account, 2,600, and a few opcodes).
    uint256 private constant DELIVERY_GAS_NEEDED = DELIVERY_GAS + DELIVERY_GAS / 63 + 5_000;

    /// @param initialOwner Owner (registration, rate limits, guardian; two-step ownership transfer).
    /// @param guardian_ The address that may pause.
    /// @param groupKeyG2 The committee's 256-byte EIP-2537 G2 group public key (key epoch 1).
    /// @param registry_ The KYC registry of the consortium chain.
    /// @param actionDelay_ Seconds a committee-signed RESUME or ROTATE waits ({QiaoEndpoint-actionDelay}).
    constructor(
        address initialOwner,
        address guardian_,
        bytes memory groupKeyG2,
        KycRegistry registry_,
        uint64 actionDelay_
    ) QiaoEndpoint(initialOwner, guardian_, groupKeyG2, registry_, actionDelay_) {}

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
        if (!_transferOut(token, recipient, amount)) return FailureReason.DeliveryRefused;
        return FailureReason.None;
    }

    /// @dev The unlocks of a batch: one registry call for every recipient's KYC status
    ///      ({KycRegistry-allowedMask}), then a transfer out per allowed recipient; one the asset
    ///      refuses is marked in `refused` as well as `failed`.
    function _deliverBatch(address token, address[] memory to, uint256[] memory amounts)
        internal
        override
        returns (uint256[] memory failed, uint256[] memory refused, FailureReason reason)
    {
        uint256 m = to.length;
        uint256 words = (m + 255) >> 8;
        failed = new uint256[](words);
        refused = new uint256[](words);
        uint256[] memory allowed = registry.allowedMask(to);
        if (allowed.length != words) revert InvalidRegistryReply();
        for (uint256 j; j < m; ++j) {
            uint256 bit = uint256(1) << (j & 0xff);
            if ((allowed[j >> 8] >> (j & 0xff)) & 1 == 0) {
                failed[j >> 8] |= bit;
            } else if (!_transferOut(token, to[j], amounts[j])) {
                failed[j >> 8] |= bit;
                refused[j >> 8] |= bit;
            }
        }
        return (failed, refused, FailureReason.RecipientNotAllowed);
    }

    /// @dev `token.transfer(to, amount)` with exactly {DELIVERY_GAS}; true if it succeeded the way
    ///      SafeERC20 accepts: no return data from an account with code, or a first word of 1.
    ///      Reverts ({InsufficientGasForDelivery}) unless the token will get all of DELIVERY_GAS,
    ///      so a caller cannot make a delivery fail by sending too little gas. The return data is
    ///      never copied past one word (a token returning a huge reply costs nothing here).
    function _transferOut(address token, address to, uint256 amount) private returns (bool ok) {
        uint256 left = gasleft();
        if (left < DELIVERY_GAS_NEEDED) revert InsufficientGasForDelivery(left, DELIVERY_GAS_NEEDED);
        bytes4 selector = IERC20.transfer.selector;
        uint256 gasGiven = DELIVERY_GAS;
        assembly ("memory-safe") {
            let p := mload(0x40) // the call's 68 bytes past the free memory pointer, not allocated
            mstore(p, selector)
            mstore(add(p, 0x04), and(to, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 0x24), amount)
            mstore(0x00, 0)
            let success := call(gasGiven, token, 0, p, 0x44, 0x00, 0x20)
            switch returndatasize()
            case 0 { ok := and(success, gt(extcodesize(token), 0)) }
            default { ok := and(success, and(gt(returndatasize(), 0x1f), eq(mload(0x00), 1))) }
        }
    }

    /// @dev Refund of a lock that failed on Ethereum: the locked asset goes back to the sender.
    function _refundTo(address token, address to, uint256 amount) internal override {
        IERC20(token).safeTransfer(to, amount);
    }

    /// @dev Any ERC-20 with code may be registered on the vault, toward several remote chains
    ///      (one pool of the real asset backs every route's wrapped supply, each wrapped token
    ///      having one home chain: {QiaoGateway}).
    function _registerLocalToken(uint256, address) internal override {}
}
