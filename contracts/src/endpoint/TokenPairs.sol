// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoEndpoint} from "../QiaoEndpoint.sol";

/// @title TokenPairs
/// @notice Registration of the permanent, one-to-one token pairs between this chain and a remote one.
/// @dev External: runs by DELEGATECALL on the endpoint's storage (the two mappings are the
///      endpoint's); the owner check and the subclass's own check of the local token are the
///      endpoint's ({QiaoEndpoint-registerToken}).
library TokenPairs {
    /// @notice Records the pair (`localToken` here, `remoteToken` on `remoteChainId`) both ways.
    /// @dev Refuses a zero or own chain id, zero addresses, a local token without code, and either
    ///      token already paired for `remoteChainId`. Emits {QiaoEndpoint-TokenRegistered}.
    function register(
        mapping(uint256 => mapping(address => address)) storage remoteTokens,
        mapping(uint256 => mapping(address => address)) storage localTokens,
        uint256 remoteChainId,
        address localToken,
        address remoteToken
    ) external {
        if (remoteChainId == 0 || remoteChainId == block.chainid) {
            revert QiaoEndpoint.InvalidRemoteChain(remoteChainId);
        }
        if (localToken == address(0) || remoteToken == address(0)) revert QiaoEndpoint.ZeroTokenAddress();
        if (localToken.code.length == 0) revert QiaoEndpoint.TokenHasNoCode(localToken);
        if (remoteTokens[remoteChainId][localToken] != address(0)) {
            revert QiaoEndpoint.TokenAlreadyRegistered(remoteChainId, localToken);
        }
        if (localTokens[remoteChainId][remoteToken] != address(0)) {
            revert QiaoEndpoint.TokenAlreadyRegistered(remoteChainId, remoteToken);
        }
        remoteTokens[remoteChainId][localToken] = remoteToken;
        localTokens[remoteChainId][remoteToken] = localToken;
        emit QiaoEndpoint.TokenRegistered(remoteChainId, localToken, remoteToken);
    }
}
