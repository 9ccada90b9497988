// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title RestrictedTestAsset
/// @notice Test and devnet stand-in for a restricted consortium asset (ERC-3643 style): its owner
///         mints and can block an address, and any transfer to a blocked address reverts, whoever
///         sends it. It shows what the vault does when the asset itself refuses a recipient that
///         the bridge's registry allows.
contract RestrictedTestAsset is ERC20, Ownable {
    /// @notice Addresses the asset refuses to credit.
    mapping(address account => bool blocked) public blocked;

    /// @notice `account` was blocked (true) or unblocked (false).
    event BlockedSet(address indexed account, bool blocked);

    /// @notice The asset refuses to credit `account`.
    error RecipientBlocked(address account);

    /// @param name_ ERC-20 name.
    /// @param symbol_ ERC-20 symbol.
    /// @param initialOwner The account that mints and blocks.
    constructor(string memory name_, string memory symbol_, address initialOwner)
        ERC20(name_, symbol_)
        Ownable(initialOwner)
    {}

    /// @notice Mints `amount` to `to`; owner only.
    /// @param to The receiver.
    /// @param amount The amount.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Blocks (true) or unblocks (false) `account` as a recipient; owner only.
    /// @param account The address.
    /// @param isBlocked The new state.
    function setBlocked(address account, bool isBlocked) external onlyOwner {
        blocked[account] = isBlocked;
        emit BlockedSet(account, isBlocked);
    }

    /// @dev Every credit to a blocked address reverts.
    function _update(address from, address to, uint256 value) internal override {
        if (to != address(0) && blocked[to]) revert RecipientBlocked(to);
        super._update(from, to, value);
    }
}
