// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoTest} from "./lib/QiaoTest.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MultisigReceiver} from "../src/reference/MultisigReceiver.sol";

/// @notice The reference m-of-n ECDSA receiver that docs/GAS.md measures beside the BLS verifier:
///         it must really verify (every refusal below), or the comparison would flatter it.
contract MultisigReceiverTest is QiaoTest {
    uint256 internal constant N = 7;
    uint256 internal constant M = 4;
    MultisigReceiver internal receiver;
    uint256[] internal keys; // ascending by address
    address internal alice = address(0xA11CE);

    function setUp() public {
        address[] memory signers = new address[](N);
        for (uint256 i = 0; i < N; ++i) {
            keys.push(0x1000 + i);
        }
        // sort the keys by their address (insertion sort, N is small)
        for (uint256 i = 1; i < N; ++i) {
            for (uint256 j = i; j > 0 && vm.addr(keys[j]) < vm.addr(keys[j - 1]); --j) {
                (keys[j], keys[j - 1]) = (keys[j - 1], keys[j]);
            }
        }
        for (uint256 i = 0; i < N; ++i) {
            signers[i] = vm.addr(keys[i]);
        }
        receiver = new MultisigReceiver(signers, M);
    }

    function _transfer(uint64 nonce) internal view returns (MultisigReceiver.Signed memory) {
        return MultisigReceiver.Signed(7001, nonce, alice, 5 ether);
    }

    function _sig(uint256 key, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        return abi.encodePacked(r, s, v);
    }

    /// @dev Signatures of the signers at `idx` (in that order) on `t`'s digest.
    function _sign(MultisigReceiver.Signed memory t, uint256[] memory idx) internal view returns (bytes memory out) {
        bytes32 digest = receiver.digestOf(t);
        for (uint256 i = 0; i < idx.length; ++i) {
            out = bytes.concat(out, _sig(keys[idx[i]], digest));
        }
    }

    function _idx(uint256 a, uint256 b, uint256 c, uint256 d) internal pure returns (uint256[] memory idx) {
        idx = new uint256[](4);
        (idx[0], idx[1], idx[2], idx[3]) = (a, b, c, d);
    }

    function test_delivers_on_m_ascending_signatures_once() public {
        MultisigReceiver.Signed memory t = _transfer(3);
        bytes memory sigs = _sign(t, _idx(0, 2, 4, 6));
        receiver.deliver(t, sigs);
        vm.assertEq(receiver.balanceOf(alice), 5 ether);
        vm.assertTrue(receiver.delivered(7001, 3));
        vm.expectRevert(abi.encodeWithSelector(MultisigReceiver.AlreadyDelivered.selector, 7001, uint64(3)));
        receiver.deliver(t, sigs);
        vm.assertEq(receiver.balanceOf(alice), 5 ether);
    }

    function test_refuses_too_few_signatures() public {
        MultisigReceiver.Signed memory t = _transfer(1);
        uint256[] memory three = new uint256[](3);
        (three[0], three[1], three[2]) = (0, 1, 2);
        bytes memory sigs = _sign(t, three);
        vm.expectRevert(abi.encodeWithSelector(MultisigReceiver.NotEnoughSignatures.selector, 3, M));
        receiver.deliver(t, sigs);
        vm.assertFalse(receiver.delivered(7001, 1));
    }

    function test_refuses_a_ragged_signature_list() public {
        MultisigReceiver.Signed memory t = _transfer(1);
        bytes memory sigs = bytes.concat(_sign(t, _idx(0, 1, 2, 3)), hex"00");
        vm.expectRevert(abi.encodeWithSelector(MultisigReceiver.NotEnoughSignatures.selector, 4, M));
        receiver.deliver(t, sigs);
    }

    function test_refuses_a_repeated_signer() public {
        MultisigReceiver.Signed memory t = _transfer(1);
        bytes memory sigs = _sign(t, _idx(0, 1, 1, 2));
        vm.expectRevert(abi.encodeWithSelector(MultisigReceiver.InvalidSigner.selector, vm.addr(keys[1])));
        receiver.deliver(t, sigs);
        vm.assertEq(receiver.balanceOf(alice), 0);
    }

    function test_refuses_signers_out_of_order() public {
        MultisigReceiver.Signed memory t = _transfer(1);
        bytes memory sigs = _sign(t, _idx(0, 2, 1, 3));
        vm.expectRevert(abi.encodeWithSelector(MultisigReceiver.InvalidSigner.selector, vm.addr(keys[1])));
        receiver.deliver(t, sigs);
    }

    function test_refuses_an_outsider() public {
        MultisigReceiver.Signed memory t = _transfer(1);
        bytes32 digest = receiver.digestOf(t);
        uint256 outsider = 0xBAD;
        bytes memory sigs = _sign(t, _idx(0, 1, 2, 3));
        bytes memory mixed = bytes.concat(_sig(keys[0], digest), _sig(keys[1], digest), _sig(keys[2], digest));
        mixed = bytes.concat(mixed, _sig(outsider, digest));
        // refused as an outsider, whatever its place in the order
        vm.expectRevert(abi.encodeWithSelector(MultisigReceiver.InvalidSigner.selector, vm.addr(outsider)));
        receiver.deliver(t, mixed);
        receiver.deliver(t, sigs); // the honest set still delivers
        vm.assertEq(receiver.balanceOf(alice), 5 ether);
    }

    function test_refuses_a_signature_on_another_transfer() public {
        MultisigReceiver.Signed memory t = _transfer(1);
        bytes memory sigs = _sign(t, _idx(0, 1, 2, 3));
        t.amount = 6 ether;
        vm.expectRevert(); // recovers unrelated addresses: not signers (or out of order)
        receiver.deliver(t, sigs);
        vm.assertEq(receiver.balanceOf(alice), 0);
    }

    function test_refuses_a_malleable_signature() public {
        MultisigReceiver.Signed memory t = _transfer(1);
        bytes32 digest = receiver.digestOf(t);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(keys[0], digest);
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        bytes memory high = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        bytes memory sigs = bytes.concat(high, _sig(keys[1], digest), _sig(keys[2], digest), _sig(keys[3], digest));
        vm.expectRevert(abi.encodeWithSelector(ECDSA.ECDSAInvalidSignatureS.selector, bytes32(n - uint256(s))));
        receiver.deliver(t, sigs);
    }

    function test_refuses_a_committee_that_is_none() public {
        address[] memory signers = new address[](2);
        (signers[0], signers[1]) = (address(1), address(2));
        vm.expectRevert(MultisigReceiver.InvalidCommittee.selector);
        new MultisigReceiver(signers, 0);
        vm.expectRevert(MultisigReceiver.InvalidCommittee.selector);
        new MultisigReceiver(signers, 3);
        signers[1] = address(1);
        vm.expectRevert(MultisigReceiver.InvalidCommittee.selector);
        new MultisigReceiver(signers, 1);
        signers[1] = address(0);
        vm.expectRevert(MultisigReceiver.InvalidCommittee.selector);
        new MultisigReceiver(signers, 1);
    }
}
