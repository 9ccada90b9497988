// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Vm} from "./lib/Vm.sol";

contract Reverter {
    error Boom(uint256 x);

    function boom(uint256 x) external pure {
        revert Boom(x);
    }
}

/// @notice Toolchain self-test: every cheatcode declared in lib/Vm.sol resolves in this forge, and
///         the EIP-2537 precompiles exist under evm_version = prague.
contract CheatcodesTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
    event log_named_uint(string key, uint256 val);

    function test_eip2537_precompilesExist() public view {
        (bool ok, bytes memory out) = address(0x0b).staticcall(new bytes(256));
        vm.assertTrue(ok);
        vm.assertEq(out.length, 128);
        (ok, out) = address(0x10).staticcall(new bytes(64));
        vm.assertTrue(ok);
        vm.assertEq(out.length, 128);
    }

    function test_all() public {
        Reverter r0 = new Reverter();
        vm.prank(address(1));
        try r0.boom(0) {} catch {}
        vm.startPrank(address(2));
        vm.stopPrank();
        vm.deal(address(3), 1 ether);
        vm.assertEq(address(3).balance, 1 ether);
        vm.warp(1000);
        vm.chainId(77);
        vm.assertEq(block.chainid, 77);
        vm.label(address(3), "x");
        vm.assertEq(vm.addr(1), 0x7E5F4552091A69125d5DfCb7b8C2659029395Bdf);
        Reverter r = new Reverter();
        vm.expectRevert(abi.encodeWithSelector(Reverter.Boom.selector, 5));
        r.boom(5);
        vm.expectPartialRevert(Reverter.Boom.selector);
        r.boom(6);
        vm.expectRevert();
        r.boom(7);
        string memory root = vm.projectRoot();
        vm.assertFalse(vm.exists(string.concat(root, "/contracts/vectors/__nope__.json")));
        string memory j =
            '{"a":"0x0102","c":[{"m":"0x03","v":true},{"m":"0x04","v":false}],"s":"hi","arr":["0x05","0x06"]}';
        vm.assertEq(vm.parseJsonBytes(j, ".a"), hex"0102");
        vm.assertTrue(vm.keyExistsJson(j, ".c[1]"));
        vm.assertFalse(vm.keyExistsJson(j, ".c[2]"));
        vm.assertEq(vm.parseJsonBool(j, ".c[0].v"), true);
        vm.assertEq(vm.parseJsonString(j, ".s"), "hi");
        bytes[] memory arr = vm.parseJsonBytesArray(j, ".arr");
        vm.assertEq(arr.length, 2);
        vm.assertEq(vm.toString(uint256(12)), "12");
        vm.assertEq(bytes32(uint256(1)), bytes32(uint256(1)), "x");
        vm.assertLt(1, 2);
        vm.assertGt(2, 1);
        vm.assertNotEq(bytes32(0), bytes32(uint256(1)));
        vm.recordLogs();
        emit log_named_uint("gas", 5);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        vm.assertEq(logs.length, 1);
    }
}
