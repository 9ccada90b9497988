// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BLS} from "../BLS.sol";
import {QiaoEndpoint} from "../QiaoEndpoint.sol";
import {Protocol} from "./Protocol.sol";
import {KeyEpochs} from "./KeyEpochs.sol";

/// @title SignedActions
/// @notice Committee-signed actions (PAUSE, RESUME, ROTATE, FREEZE): each is signed for the next
///         action nonce under the current key epoch, and consumes that nonce when accepted.
/// @dev External functions: they run by DELEGATECALL on the endpoint's storage (`keys` is the
///      endpoint's {KeyEpochs-Keys}), so their code (and their copy of the BLS verification) is
///      not part of the endpoint's runtime code. What an action does to the pause flag is done
///      by the endpoint (OpenZeppelin's Pausable keeps it private).
library SignedActions {
    using KeyEpochs for KeyEpochs.Keys;

    /// @notice Checks a committee signature of the action `typehash` with `params` for the next
    ///         action nonce under the current key epoch, then consumes the nonce.
    /// @dev Reverts with {QiaoEndpoint-NotCurrentKeyEpoch} or a signature error. Emits
    ///      {QiaoEndpoint-SignedActionApplied}.
    /// @return used The action nonce consumed.
    function consume(
        KeyEpochs.Keys storage keys,
        bytes32 typehash,
        uint64 keyEpoch,
        bytes memory params,
        bytes calldata signature
    ) public returns (uint64 used) {
        if (keyEpoch != keys.current) revert QiaoEndpoint.NotCurrentKeyEpoch(keyEpoch);
        keys.checkSignature(keyEpoch, message(keys, typehash, keyEpoch, params), signature, false);
        used = keys.actionNonce++;
        emit QiaoEndpoint.SignedActionApplied(typehash, used, keyEpoch);
    }

    /// @notice Installs `newGroupKey` as key epoch current + 1 on a ROTATE signed by the current key.
    /// @dev Validates the key (on curve, in subgroup, not identity; a {BLS} error otherwise),
    ///      refuses the current key ({QiaoEndpoint-KeyUnchanged}), consumes the action nonce, then
    ///      starts the previous epoch's grace period. Emits {QiaoEndpoint-GroupKeySet}.
    function rotateKey(
        KeyEpochs.Keys storage keys,
        uint64 keyEpoch,
        bytes calldata newGroupKey,
        bytes calldata signature
    ) external {
        BLS.validatePublicKey(newGroupKey);
        bytes32 newHash = keccak256(newGroupKey);
        if (newHash == keccak256(keys.loadKey(keys.current))) revert QiaoEndpoint.KeyUnchanged();
        consume(keys, Protocol.ROTATE_TYPEHASH, keyEpoch, abi.encode(newHash), signature);
        uint64 next = keyEpoch + 1;
        keys.keyData[next] = KeyEpochs.storeKey(newGroupKey);
        keys.current = next;
        keys.previousValidUntil = uint64(block.timestamp) + Protocol.KEY_GRACE_PERIOD;
        emit QiaoEndpoint.GroupKeySet(next, newGroupKey);
    }

    /// @notice The message of the next signed action of type `typehash` with its type-specific
    ///         fields ABI-encoded in `params` (docs/PROTOCOL.md).
    function message(KeyEpochs.Keys storage keys, bytes32 typehash, uint64 keyEpoch, bytes memory params)
        public
        view
        returns (bytes32)
    {
        return keccak256(
            bytes.concat(
                abi.encode(typehash, Protocol.VERSION, block.chainid, address(this), keyEpoch, keys.actionNonce), params
            )
        );
    }
}
