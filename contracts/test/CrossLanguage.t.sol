// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoTest} from "./lib/QiaoTest.sol";
import {BLS} from "../src/BLS.sol";

/// @dev External wrapper so a failing precompile shows up as a revert of one call.
contract CrossLanguageHarness {
    function hashToG1(bytes memory message) external view returns (bytes memory) {
        return BLS.hashToG1(message);
    }

    function verify(bytes memory pk, bytes32 message, bytes memory sig) external view returns (bool) {
        return BLS.verify(pk, message, sig);
    }
}

/// @notice Checks the Solidity BLS code against vectors written by the Python committee code
///         (`python -m committee.vectors --out contracts/vectors/bls_vectors.json`).
/// @dev Format: {"dst": string, "cases": [{"message": 0x<32 bytes>, "hashToG1": 0x<128 bytes>,
///      "publicKey": 0x<256 bytes>, "signature": 0x<128 bytes>, "valid": bool}]}.
///      For every case: BLS.hashToG1(message) == hashToG1 (same hash-to-curve in both languages)
///      and BLS.verify(publicKey, message, signature) == valid. A missing or empty file FAILS
///      (vm.readFile reverts); nothing is skipped.
contract CrossLanguageTest is QiaoTest {
    string internal constant VECTORS = "/contracts/vectors/bls_vectors.json";

    CrossLanguageHarness internal h;

    function setUp() public {
        h = new CrossLanguageHarness();
    }

    function test_blsVectors() public {
        string memory json = vm.readFile(string.concat(vm.projectRoot(), VECTORS));
        vm.assertEq(vm.parseJsonString(json, ".dst"), string(BLS.DST), "vector DST differs from BLS.DST");

        uint256 count;
        uint256 valid;
        while (vm.keyExistsJson(json, string.concat(".cases[", vm.toString(count), "]"))) {
            string memory key = string.concat(".cases[", vm.toString(count), "]");
            bytes memory message = vm.parseJsonBytes(json, string.concat(key, ".message"));
            bytes memory expectedH = vm.parseJsonBytes(json, string.concat(key, ".hashToG1"));
            bytes memory pk = vm.parseJsonBytes(json, string.concat(key, ".publicKey"));
            bytes memory sig = vm.parseJsonBytes(json, string.concat(key, ".signature"));
            bool expectedValid = vm.parseJsonBool(json, string.concat(key, ".valid"));

            vm.assertEq(message.length, 32, string.concat(key, ": message is not 32 bytes"));
            vm.assertEq(h.hashToG1(message), expectedH, string.concat(key, ": hashToG1 differs from Python"));
            vm.assertEq(
                // forge-lint: disable-next-line(unsafe-typecast) -- message.length == 32 is asserted above
                h.verify(pk, bytes32(message), sig),
                expectedValid,
                string.concat(key, ": verify differs from Python")
            );
            if (expectedValid) ++valid;
            ++count;
        }
        vm.assertGt(count, 0);
        // At least one valid case, so that the file does prove verify accepts Python's signatures.
        vm.assertGt(valid, 0);
        emit log_named_uint("vector cases", count);
        emit log_named_uint("valid cases", valid);
    }
}
