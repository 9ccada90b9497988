// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BridgeFixture} from "./lib/BridgeFixture.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {IUnexecutedCount, UnexecutedCounts} from "../src/reader/UnexecutedCounts.sol";

/// @notice The read helper the relayer runs by `eth_call` without deploying it: its constructor's
///         reply (the would-be runtime code) is `abi.encode(uint256[])`, one count per range in
///         order, each the endpoint's own `unexecutedCount`; it reverts as a whole on a bad range
///         or an endpoint without code, and its reply is bounded by EIP-170.
contract UnexecutedCountsTest is BridgeFixture {
    function _counts(UnexecutedCounts.Range[] memory ranges) internal returns (uint256[] memory) {
        UnexecutedCounts reader = new UnexecutedCounts(IUnexecutedCount(address(gateway)), ranges);
        return abi.decode(address(reader).code, (uint256[]));
    }

    function _range(uint256 src, uint64 first, uint64 last) internal pure returns (UnexecutedCounts.Range memory) {
        return UnexecutedCounts.Range({srcChainId: src, firstNonce: first, lastNonce: last});
    }

    function test_reader_answersEachRangeInOrder_asTheEndpointDoes() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(7);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        UnexecutedCounts.Range[] memory ranges = new UnexecutedCounts.Range[](4);
        ranges[0] = _range(CHAIN_C, 1, 7);
        ranges[1] = _range(CHAIN_C, 1, 1);
        ranges[2] = _range(CHAIN_E, 1, 7); // another source: nothing executed from it
        ranges[3] = _range(CHAIN_C, 5, 300); // across a bitmap word's end
        uint256[] memory before = _counts(ranges);
        vm.assertEq(before.length, 4);
        vm.assertEq(before[0], 7);
        vm.assertEq(before[1], 1);
        vm.assertEq(before[2], 7);
        vm.assertEq(before[3], 296);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        uint256[] memory afterwards = _counts(ranges);
        vm.assertEq(afterwards[0], 0);
        vm.assertEq(afterwards[1], 0);
        vm.assertEq(afterwards[2], 7);
        vm.assertEq(afterwards[3], 296 - 3);
        for (uint256 i; i < ranges.length; ++i) {
            vm.assertEq(
                afterwards[i], gateway.unexecutedCount(ranges[i].srcChainId, ranges[i].firstNonce, ranges[i].lastNonce)
            );
        }
    }

    function test_reader_answersNoRangesWithNoCounts() public {
        vm.assertEq(_counts(new UnexecutedCounts.Range[](0)).length, 0);
    }

    function test_reader_revertsAsAWhole_onAnInvalidRange() public {
        UnexecutedCounts.Range[] memory ranges = new UnexecutedCounts.Range[](2);
        ranges[0] = _range(CHAIN_C, 1, 7);
        ranges[1] = _range(CHAIN_C, 5, 4);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidNonceRange.selector, 5, 4));
        new UnexecutedCounts(IUnexecutedCount(address(gateway)), ranges);
        ranges[1] = _range(CHAIN_C, 0, 4);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidNonceRange.selector, 0, 4));
        new UnexecutedCounts(IUnexecutedCount(address(gateway)), ranges);
    }

    function test_reader_reverts_onAnEndpointWithoutCode() public {
        UnexecutedCounts.Range[] memory ranges = new UnexecutedCounts.Range[](1);
        ranges[0] = _range(CHAIN_C, 1, 7);
        vm.expectRevert();
        new UnexecutedCounts(IUnexecutedCount(address(0xdead)), ranges);
    }

    /// @dev 501 ranges: the most whose call fits EIP-3860's 49,152 bytes of creation code (a
    ///      node refuses one more: tests/integration/test_submitter_notices.py runs it on anvil;
    ///      forge's test EVM does not check `new`'s arguments against it).
    function test_reader_answers501Ranges() public {
        UnexecutedCounts.Range[] memory ranges = new UnexecutedCounts.Range[](501);
        for (uint256 i; i < ranges.length; ++i) {
            ranges[i] = _range(CHAIN_C, 1, 1);
        }
        uint256[] memory counts = _counts(ranges);
        vm.assertEq(counts.length, 501);
        vm.assertEq(counts[500], 1);
        vm.assertTrue(type(UnexecutedCounts).creationCode.length + 96 + 96 * 501 <= 49_152);
        vm.assertTrue(type(UnexecutedCounts).creationCode.length + 96 + 96 * 502 > 49_152);
    }
}
