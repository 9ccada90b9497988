// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BridgeFixture} from "./lib/BridgeFixture.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";

interface VmSnapshots {
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
}

/// @notice Audit of the packed executeBatch: hand-crafted calldata (arrays moved, put before
///         the struct with negative offsets, lengths that lie, dirty header words) either reverts
///         or executes exactly the transfers that were signed, never others.
contract AuditTest is BridgeFixture {
    VmSnapshots internal constant snap_ = VmSnapshots(address(uint160(uint256(keccak256("hevm cheat code")))));

    function _signed(uint256 n) internal returns (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) {
        ts = lockMany(n);
        sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
    }

    function _pairsData(QiaoEndpoint.PackedBatch memory b) internal pure returns (bytes memory d) {
        d = abi.encodePacked(b.pairs.length);
        for (uint256 k; k < b.pairs.length; ++k) {
            d = bytes.concat(d, abi.encode(b.pairs[k].srcToken, b.pairs[k].dstToken));
        }
    }

    function _pairOfData(QiaoEndpoint.PackedBatch memory b) internal pure returns (bytes memory) {
        return bytes.concat(abi.encode(b.pairOf.length), b.pairOf, new bytes((32 - b.pairOf.length % 32) % 32));
    }

    function _transfersData(QiaoEndpoint.PackedBatch memory b) internal pure returns (bytes memory d) {
        d = abi.encodePacked(b.transfers.length);
        for (uint256 i; i < b.transfers.length; ++i) {
            QiaoEndpoint.PackedTransfer memory t = b.transfers[i];
            d = bytes.concat(d, abi.encode(t.sender, t.recipient, t.amount));
        }
    }

    /// @dev executeBatch calldata with the arrays in the order transfers, pairOf, pairs (the
    ///      reverse of the encoder's), each offset relative to the struct as the ABI says.
    function _reordered(QiaoEndpoint.PackedBatch memory b, bytes memory sig) internal pure returns (bytes memory) {
        bytes memory tr = _transfersData(b);
        bytes memory po = _pairOfData(b);
        bytes memory pa = _pairsData(b);
        bytes memory head = abi.encode(
            b.srcChainId, b.dstChainId, b.firstNonce, 0xc0 + tr.length + po.length, 0xc0 + tr.length, uint256(0xc0)
        );
        bytes memory batch = bytes.concat(head, tr, po, pa);
        bytes memory sigData = bytes.concat(abi.encode(sig.length), sig);
        return bytes.concat(
            QiaoEndpoint.executeBatch.selector, abi.encode(EPOCH, uint256(0x60), 0x60 + batch.length), batch, sigData
        );
    }

    /// @dev The same with every array placed before the struct (negative relative offsets).
    function _backwards(QiaoEndpoint.PackedBatch memory b, bytes memory sig) internal pure returns (bytes memory) {
        bytes memory tr = _transfersData(b);
        bytes memory po = _pairOfData(b);
        bytes memory pa = _pairsData(b);
        uint256 batchAt = 0x60 + tr.length + po.length + pa.length; // relative to the arguments
        bytes memory head;
        unchecked {
            head = abi.encode(
                b.srcChainId,
                b.dstChainId,
                b.firstNonce,
                uint256(0x60 + tr.length + po.length) - batchAt,
                uint256(0x60 + tr.length) - batchAt,
                uint256(0x60) - batchAt
            );
        }
        bytes memory sigData = bytes.concat(abi.encode(sig.length), sig);
        return bytes.concat(
            QiaoEndpoint.executeBatch.selector,
            abi.encode(EPOCH, batchAt, batchAt + 0xc0),
            tr,
            po,
            pa,
            head,
            sigData
        );
    }

    function _state(uint256 n) internal view returns (bytes32 h) {
        for (uint64 nonce = 1; nonce <= n; ++nonce) {
            h = keccak256(abi.encode(h, gateway.transferStatus(CHAIN_C, nonce)));
        }
        h = keccak256(abi.encode(h, wrapped.balanceOf(bob), wrapped.totalSupply()));
    }

    function test_audit_movedArrays_executeExactlyTheSignedBatch() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(3);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        (bool ok,) = address(gateway).call(_reordered(b, sig));
        vm.assertTrue(ok);
        vm.assertEq(wrapped.balanceOf(bob), 6 ether);
        vm.assertEq(wrapped.totalSupply(), 6 ether);
    }

    function test_audit_arraysBeforeTheStruct_negativeOffsets_executeExactlyTheSignedBatch() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(3);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        (bool ok,) = address(gateway).call(_backwards(b, sig));
        vm.assertTrue(ok);
        vm.assertEq(wrapped.balanceOf(bob), 6 ether);
        vm.assertEq(wrapped.totalSupply(), 6 ether);
    }

    function test_audit_tamperedOrLyingCalldata_neverExecutesAnythingElse() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(3);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        bytes memory call = _reordered(b, sig);
        // struct at 4 + 0x60: src, dst, first, offPairs, offPairOf, offTransfers; transfers at +0xc0
        uint256 at = 4 + 0x60;
        bytes32 clean = _state(3);
        // every single byte of the batch region flipped, one at a time: either it reverts, or the
        // state is that of the signed batch (nothing else was executed)
        uint256 end = call.length - 0x20 - 128;
        for (uint256 i = at; i < end; ++i) {
            bytes memory bad = bytes.concat(call);
            bad[i] = bytes1(uint8(bad[i]) ^ 0x80);
            uint256 snap = snap_.snapshotState();
            (bool ok,) = address(gateway).call(bad);
            if (ok) {
                vm.assertEq(wrapped.balanceOf(bob), 6 ether, "a tampered batch delivered something else");
                vm.assertEq(wrapped.totalSupply(), 6 ether);
            } else {
                vm.assertEq(_state(3), clean);
            }
            snap_.revertToState(snap);
        }
    }

    /// @dev 300 transfers: the new ones' failure bitmap spans two words, the consumed ones sit on
    ///      both sides of a bitmap word boundary; every nonce must end in the state of its own
    ///      recipient, and the bucket must be charged for the delivered ones only.
    function test_audit_failureBitmapAcrossWords_mapsToTheRightNonces() public {
        address dave = address(0xDA7E); // not allowed on E
        uint256 n = 300;
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 1_000_000 ether, 0);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](n);
        for (uint256 i; i < n; ++i) {
            bool bad = i == 0 || i == 254 || i == 255 || i == 256 || i == 299 || i % 37 == 5;
            ts[i] = lockOnC(alice, bad ? dave : bob, (i + 1) * 1 ether);
        }
        bytes memory sig = signForGateway(ts);
        // consumed before: nonces 3, 256 (dave), 257 (dave), 258
        uint256[4] memory pre = [uint256(2), 255, 256, 257];
        for (uint256 k; k < pre.length; ++k) {
            QiaoEndpoint.Transfer[] memory o = one(ts[pre[k]]);
            executeOnE(o, signForGateway(o));
        }
        executeOnE(ts, sig);
        uint256 delivered;
        for (uint256 i; i < n; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
            uint8 status = uint8(gateway.transferStatus(CHAIN_C, uint64(i + 1)));
            if (ts[i].recipient == dave) {
                vm.assertEq(status, uint8(QiaoEndpoint.TransferStatus.Failed), "dave's transfer not failed");
            } else {
                vm.assertEq(status, uint8(QiaoEndpoint.TransferStatus.Delivered), "bob's transfer not delivered");
                delivered += ts[i].amount;
            }
        }
        vm.assertEq(wrapped.balanceOf(bob), delivered);
        vm.assertEq(wrapped.totalSupply(), delivered);
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 1_000_000 ether - delivered);
        vm.assertEq(gateway.unexecutedCount(CHAIN_C, 1, uint64(n)), 0);
    }
}
