// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title IAgentRole
/// @notice The agent role of ERC-3643 (T-REX): the owner appoints and removes agents.
/// @dev Its ERC-165 id is the XOR of the three selectors below.
interface IAgentRole {
    /// @notice `agent` became an agent.
    event AgentAdded(address indexed agent);
    /// @notice `agent` is no longer an agent.
    event AgentRemoved(address indexed agent);

    /// @notice Makes `agent` an agent; owner only.
    function addAgent(address agent) external;
    /// @notice Removes `agent` from the agents; owner only.
    function removeAgent(address agent) external;
    /// @notice Whether `agent` is an agent.
    function isAgent(address agent) external view returns (bool);
}

/// @title IERC3643
/// @notice The token interface of ERC-3643 (T-REX, https://eips.ethereum.org/EIPS/eip-3643),
///         declared here from the standard's text: the functions the standard lists besides
///         ERC-20's, with its events. Its ERC-165 id (`type(IERC3643).interfaceId`) is the XOR of
///         these 28 selectors only (inherited ERC-20 functions are not part of it), the id the
///         standard's tooling asks for.
/// @dev Return types that the standard gives as contract types (IIdentityRegistry, ICompliance)
///      are addresses here: the selector and the ABI encoding are the same.
interface IERC3643 {
    /// @notice The token's name, symbol, decimals, version or ONCHAINID changed.
    event UpdatedTokenInformation(
        string newName, string newSymbol, uint8 newDecimals, string newVersion, address newOnchainID
    );
    /// @notice The identity registry of the token was set.
    event IdentityRegistryAdded(address indexed identityRegistry);
    /// @notice The compliance contract of the token was set.
    event ComplianceAdded(address indexed compliance);
    /// @notice The balance (and freezes) of `lostWallet` moved to `newWallet`.
    event RecoverySuccess(address lostWallet, address newWallet, address investorOnchainID);
    /// @notice `userAddress` was frozen (`isFrozen` true) or unfrozen by the agent `owner`.
    event AddressFrozen(address indexed userAddress, bool indexed isFrozen, address indexed owner);
    /// @notice `amount` more of `userAddress`'s balance is frozen.
    event TokensFrozen(address indexed userAddress, uint256 amount);
    /// @notice `amount` of `userAddress`'s frozen balance is free again.
    event TokensUnfrozen(address indexed userAddress, uint256 amount);
    /// @notice `userAddress` paused the token.
    event Paused(address userAddress);
    /// @notice `userAddress` unpaused the token.
    event Unpaused(address userAddress);

    // getters
    function onchainID() external view returns (address);
    function version() external view returns (string memory);
    function identityRegistry() external view returns (address);
    function compliance() external view returns (address);
    function paused() external view returns (bool);
    function isFrozen(address userAddress) external view returns (bool);
    function getFrozenTokens(address userAddress) external view returns (uint256);

    // setters
    function setName(string calldata name) external;
    function setSymbol(string calldata symbol) external;
    function setOnchainID(address onchainID) external;
    function pause() external;
    function unpause() external;
    function setAddressFrozen(address userAddress, bool freeze) external;
    function freezePartialTokens(address userAddress, uint256 amount) external;
    function unfreezePartialTokens(address userAddress, uint256 amount) external;
    function setIdentityRegistry(address identityRegistry) external;
    function setCompliance(address compliance) external;

    // transfer actions
    function forcedTransfer(address from, address to, uint256 amount) external returns (bool);
    function mint(address to, uint256 amount) external;
    function burn(address userAddress, uint256 amount) external;
    function recoveryAddress(address lostWallet, address newWallet, address investorOnchainID) external returns (bool);

    // batch functions
    function batchTransfer(address[] calldata toList, uint256[] calldata amounts) external;
    function batchForcedTransfer(address[] calldata fromList, address[] calldata toList, uint256[] calldata amounts)
        external;
    function batchMint(address[] calldata toList, uint256[] calldata amounts) external;
    function batchBurn(address[] calldata userAddresses, uint256[] calldata amounts) external;
    function batchSetAddressFrozen(address[] calldata userAddresses, bool[] calldata freeze) external;
    function batchFreezePartialTokens(address[] calldata userAddresses, uint256[] calldata amounts) external;
    function batchUnfreezePartialTokens(address[] calldata userAddresses, uint256[] calldata amounts) external;
}

/// @title IERC3643Verifier
/// @notice The part of ERC-3643's identity registry that the token and the issuers' tools
///         consult: whether a wallet is verified (may hold and receive the token) and whether the
///         registry knows it. {KycRegistry} implements it over its allow-list.
interface IERC3643Verifier {
    /// @notice Whether `userAddress` may hold and receive the token.
    function isVerified(address userAddress) external view returns (bool);
    /// @notice Whether the registry has an entry for `userAddress`.
    function contains(address userAddress) external view returns (bool);
}
