// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title TestAsset
/// @notice Plain ERC-20 (18 decimals) standing for the consortium asset on the devnet; its owner mints.
contract TestAsset is ERC20, Ownable {
    /// @param name_ ERC-20 name.
    /// @param symbol_ ERC-20 symbol.
    /// @param initialOwner The account allowed to mint.
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
}
