// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BLS} from "../BLS.sol";
import {QiaoEndpoint} from "../QiaoEndpoint.sol";

/// @title KeyEpochs
/// @notice The committee's group keys, one per key epoch, and the check of a committee signature
///         against them. Internal functions only: signature checking is on the hot path of every
///         batch and stays inlined in the endpoint (docs/GAS.md).
/// @dev Epoch rule: a signature of the current epoch is always usable; one of the previous epoch
///      only where the caller allows it (batches and refunds, not signed actions) and until
///      `previousValidUntil` ({QiaoEndpoint-KEY_GRACE_PERIOD} after the rotation). Keys are
///      stored as the code of a data contract: one EXTCODECOPY reads the 256 bytes instead of
///      nine SLOADs.
library KeyEpochs {
    /// @notice Key epochs, the action nonce, the pause count and the bulk-cancel cutoff. The first
    ///         four counters share one slot.
    struct Keys {
        /// @dev The key epoch of the newest group key.
        uint64 current;
        /// @dev End of the previous epoch's grace period (0 before the first rotation).
        uint64 previousValidUntil;
        /// @dev Sequence number of the next signed action (pause, resume, rotate, freeze).
        uint64 actionNonce;
        /// @dev How many times the endpoint was paused: a RESUME is signed for one pause (its
        ///      message carries this count, {SignedActions-resume}) and lifts only the pause it
        ///      was scheduled in ({SignedActions-executePending}).
        uint64 pauseCount;
        /// @dev Group public key per epoch, as the code of a data contract (0x00 || key).
        mapping(uint64 keyEpoch => address keyData) keyData;
        /// @dev Every action scheduled under a nonce below this one is cancelled (the guardian's
        ///      {SignedActions-cancelAllPending}); 0 until the first bulk cancel.
        uint64 cancelledBelow;
    }

    /// @dev Checks the signature against the key of `keyEpoch`; reverts on any problem.
    function checkSignature(
        Keys storage keys,
        uint64 keyEpoch,
        bytes32 message,
        bytes calldata signature,
        bool allowPrevious
    ) internal view {
        if (keys.keyData[keyEpoch] == address(0)) {
            revert QiaoEndpoint.UnknownKeyEpoch(keyEpoch);
        }
        if (!usable(keys, keyEpoch, allowPrevious)) revert QiaoEndpoint.KeyEpochExpired(keyEpoch);
        if (signature.length != BLS.G1_POINT_LENGTH) revert QiaoEndpoint.InvalidSignatureLength(signature.length);
        bytes memory sig = signature;
        if (BLS.isZero(sig)) revert QiaoEndpoint.IdentitySignature();
        if (!BLS.verify(loadKey(keys, keyEpoch), message, sig)) revert QiaoEndpoint.InvalidSignature();
    }

    /// @dev Current epoch, or (if allowed) the previous one before its grace period ends.
    function usable(Keys storage keys, uint64 keyEpoch, bool allowPrevious) internal view returns (bool) {
        uint64 current = keys.current;
        if (keyEpoch == current) return true;
        // A one-day grace period: the seconds a block producer can shift the time do not matter.
        // forge-lint: disable-next-line(block-timestamp)
        return allowPrevious && keyEpoch != 0 && keyEpoch + 1 == current && block.timestamp <= keys.previousValidUntil;
    }

    /// @dev Reads the key of `keyEpoch` (256 bytes) from its data contract.
    function loadKey(Keys storage keys, uint64 keyEpoch) internal view returns (bytes memory key) {
        address data = keys.keyData[keyEpoch];
        key = new bytes(BLS.G2_POINT_LENGTH);
        assembly ("memory-safe") {
            extcodecopy(data, add(key, 0x20), 1, 256)
        }
    }

    /// @dev Stores `key` as the code of a new data contract: runtime = 0x00 (STOP) || key.
    function storeKey(bytes memory key) internal returns (address data) {
        // Init code (12 bytes): PUSH2 len; DUP1; PUSH1 12; PUSH1 0; CODECOPY; PUSH1 0; RETURN.
        bytes memory runtime = bytes.concat(hex"00", key);
        bytes memory init = bytes.concat(hex"61", bytes2(uint16(runtime.length)), hex"80600c6000396000f3", runtime);
        assembly ("memory-safe") {
            data := create(0, add(init, 0x20), mload(init))
        }
        if (data == address(0)) revert QiaoEndpoint.KeyStoreFailed();
    }
}
