// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;
import {Test} from "forge-std/Test.sol";
contract ToolchainTest is Test {
    function test_g1add_precompile_exists() public view {
        bytes memory input = new bytes(256);
        (bool ok, bytes memory out) = address(0x0b).staticcall(input);
        assertTrue(ok);
        assertEq(out.length, 128);
    }
}
