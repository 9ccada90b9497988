// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title WrappedToken
/// @notice ERC-20 (18 decimals) on Ethereum representing an asset locked in the QiaoVault on the
///         consortium chain. Only its gateway, fixed at construction, can mint and burn.
contract WrappedToken is ERC20 {
    /// @notice The QiaoGateway allowed to mint and burn; set once, never changes.
    address public immutable gateway;

    /// @notice The caller is not the gateway.
    error OnlyGateway(address caller);
    /// @notice The gateway given to the constructor is the zero address.
    error ZeroGateway();

    /// @param name_ ERC-20 name.
    /// @param symbol_ ERC-20 symbol.
    /// @param gateway_ The QiaoGateway that mints and burns (deploy it first).
    constructor(string memory name_, string memory symbol_, address gateway_) ERC20(name_, symbol_) {
        if (gateway_ == address(0)) revert ZeroGateway();
        gateway = gateway_;
    }

    modifier onlyGateway() {
        if (msg.sender != gateway) revert OnlyGateway(msg.sender);
        _;
    }

    /// @notice Mints `amount` to `to`; gateway only (delivery of a signed C -> E transfer).
    /// @param to The receiver (not the zero address; ERC20 refuses it).
    /// @param amount The amount.
    function mint(address to, uint256 amount) external onlyGateway {
        _mint(to, amount);
    }

    /// @notice Burns `amount` from `from`; gateway only (start of an E -> C transfer by `from`).
    ///         No allowance is needed: the gateway only burns from the account that called it.
    /// @param from The holder whose tokens are burnt.
    /// @param amount The amount.
    function burn(address from, uint256 amount) external onlyGateway {
        _burn(from, amount);
    }
}
