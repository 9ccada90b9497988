// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoTest} from "./lib/QiaoTest.sol";
import {BLS} from "../src/BLS.sol";

/// @dev Exposes the internal library functions so that tests can call them (and expect reverts).
contract BLSHarness {
    function hashToG1(bytes memory message) external view returns (bytes memory) {
        return BLS.hashToG1(message);
    }

    function hashToG1WithDst(bytes memory message, bytes memory dst) external view returns (bytes memory) {
        return BLS.hashToG1(message, dst);
    }

    function expandMessageXmd(bytes memory message, bytes memory dst, uint256 len)
        external
        pure
        returns (bytes memory)
    {
        return BLS.expandMessageXmd(message, dst, len);
    }

    function verify(bytes memory pk, bytes32 message, bytes memory sig) external view returns (bool) {
        return BLS.verify(pk, message, sig);
    }

    function validatePublicKey(bytes memory pk) external view {
        BLS.validatePublicKey(pk);
    }

    function isZero(bytes memory data) external pure returns (bool) {
        return BLS.isZero(data);
    }
}

contract BLSTest is QiaoTest {
    BLSHarness internal h;

    bytes internal constant QUUX_DST = "QUUX-V01-CS02-with-BLS12381G1_XMD:SHA-256_SSWU_RO_";

    function setUp() public {
        h = new BLSHarness();
    }

    // --- expand_message_xmd: RFC 9380 appendix K.1 (expander SHA-256, DST QUUX-V01-CS02-with-expander-SHA256-128)

    function test_expandMessageXmd_rfc9380_vectors() public view {
        bytes memory dst = "QUUX-V01-CS02-with-expander-SHA256-128";
        vm.assertEq(
            h.expandMessageXmd("", dst, 0x20), hex"68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"
        );
        vm.assertEq(
            h.expandMessageXmd("abc", dst, 0x20), hex"d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"
        );
    }

    function test_expandMessageXmd_rejectsBadParameters() public {
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidExpandParameters.selector, 0, 32));
        h.expandMessageXmd("", "", 32);
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidExpandParameters.selector, 3, 0));
        h.expandMessageXmd("", "dst", 0);
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidExpandParameters.selector, 3, 255 * 32 + 1));
        h.expandMessageXmd("", "dst", 255 * 32 + 1);
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidExpandParameters.selector, 256, 32));
        h.expandMessageXmd("", new bytes(256), 32);
    }

    // --- hash_to_curve: RFC 9380 appendix J.9.1 (BLS12381G1_XMD:SHA-256_SSWU_RO_), values re-derived with py_ecc

    function test_hashToG1_rfc9380_emptyMessage() public view {
        vm.assertEq(
            h.hashToG1WithDst("", QUUX_DST),
            hex"00000000000000000000000000000000052926add2207b76ca4fa57a8734416c8dc95e24501772c814278700eed6d1e4e8cf62d9c09db0fac349612b759e79a1"
            hex"0000000000000000000000000000000008ba738453bfed09cb546dbb0783dbb3a5f1f566ed67bb6be0e8c67e2e81a4cc68ee29813bb7994998f3eae0c9c6a265"
        );
    }

    function test_hashToG1_rfc9380_abc() public view {
        vm.assertEq(
            h.hashToG1WithDst("abc", QUUX_DST),
            hex"0000000000000000000000000000000003567bc5ef9c690c2ab2ecdf6a96ef1c139cc0b2f284dca0a9a7943388a49a3aee664ba5379a7655d3c68900be2f6903"
            hex"000000000000000000000000000000000b9c15f3fe6e5cf4211f346271d7b01c8f3b28be689c8429c85b67af215533311f0b8dfaaa154fa6b88176c229f2885d"
        );
    }

    // --- hash_to_curve with the Qiao DST (expected values from py_ecc hash_to_G1)

    function test_hashToG1_qiaoDst_zeroMessage() public view {
        vm.assertEq(
            h.hashToG1(abi.encodePacked(bytes32(0))),
            hex"000000000000000000000000000000000bc2a89425db864ebde15538657a317a59a983a4fd135d4823330cf30472996fc224272a3a68f429e46c69fe8f1b672b"
            hex"000000000000000000000000000000000dbf0060686e060bbd627d80378883d2e9a3a9e7f354116747a7e4496b9e0c2a6d41553f28bc98927237c69df4696b74"
        );
    }

    function test_hashToG1_qiaoDst_counterMessage() public view {
        vm.assertEq(
            h.hashToG1(hex"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"),
            hex"0000000000000000000000000000000012bc932b1ddf4060ed4e5d842d6a526daca0e94df4e93694e187688226a4f526741c13c9ad9b0d252ee73134b163657f"
            hex"000000000000000000000000000000000b6247401b2ab092016db0b2f3ad55c579e905c7688723086b696b0c62deffb7148a6a4a17f485fae28808721e3139e0"
        );
    }

    function test_hashToG1_dstIsQiao() public pure {
        vm.assertEq(BLS.DST, bytes("QIAO-V1_BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_"));
        vm.assertEq(BLS.DST.length, 51);
    }

    function testFuzz_hashToG1_isInSubgroup(bytes32 message) public view {
        bytes memory p = h.hashToG1(abi.encodePacked(message));
        // G1MSM subgroup-checks its input: r * P must be the identity for a subgroup point.
        vm.assertTrue(BLS.isZero(g1Mul(p, CURVE_ORDER)));
        vm.assertFalse(BLS.isZero(p));
    }

    // --- verify

    function test_verify_valid() public view {
        bytes32 m = keccak256("qiao");
        vm.assertTrue(h.verify(blsPublicKey(GROUP_SK), m, blsSign(GROUP_SK, m)));
    }

    function testFuzz_verify_validForAnyKeyAndMessage(uint256 sk, bytes32 m) public view {
        sk = bound(sk, 1, CURVE_ORDER - 1);
        vm.assertTrue(h.verify(blsPublicKey(sk), m, blsSign(sk, m)));
    }

    function test_verify_rejectsOtherKey() public view {
        bytes32 m = keccak256("qiao");
        vm.assertFalse(h.verify(blsPublicKey(GROUP_SK), m, blsSign(OTHER_SK, m)));
    }

    function test_verify_rejectsOtherMessage() public view {
        vm.assertFalse(h.verify(blsPublicKey(GROUP_SK), keccak256("a"), blsSign(GROUP_SK, keccak256("b"))));
    }

    function test_verify_rejectsIdentitySignature() public view {
        bytes32 m = keccak256("qiao");
        vm.assertFalse(h.verify(blsPublicKey(GROUP_SK), m, new bytes(128)));
    }

    function test_verify_rejectsIdentityKeyWithIdentitySignature() public view {
        // e(O, -G2) * e(H, O) == 1 would hold: both identities must be refused up front.
        vm.assertFalse(h.verify(new bytes(256), keccak256("qiao"), new bytes(128)));
        vm.assertFalse(h.verify(new bytes(256), keccak256("qiao"), blsSign(GROUP_SK, keccak256("qiao"))));
    }

    function test_verify_rejectsWrongLengths() public view {
        bytes32 m = keccak256("qiao");
        bytes memory sig = blsSign(GROUP_SK, m);
        bytes memory pk = blsPublicKey(GROUP_SK);
        vm.assertFalse(h.verify(pk, m, bytes.concat(sig, hex"00")));
        vm.assertFalse(h.verify(pk, m, new bytes(48)));
        vm.assertFalse(h.verify(pk, m, ""));
        vm.assertFalse(h.verify(bytes.concat(pk, hex"00"), m, sig));
        vm.assertFalse(h.verify(new bytes(96), m, sig));
    }

    function test_verify_rejectsSignatureNotOnCurve() public view {
        bytes32 m = keccak256("qiao");
        bytes memory sig = blsSign(GROUP_SK, m);
        sig[127] = bytes1(uint8(sig[127]) ^ 1); // y changed: off the curve
        vm.assertFalse(h.verify(blsPublicKey(GROUP_SK), m, sig));
    }

    function test_verify_rejectsNonCanonicalEncoding() public view {
        bytes32 m = keccak256("qiao");
        bytes memory sig = blsSign(GROUP_SK, m);
        sig[0] = 0x01; // the 16 padding bytes must be zero
        vm.assertFalse(h.verify(blsPublicKey(GROUP_SK), m, sig));
    }

    function test_nonSubgroupPoint_isOnCurveButNotInSubgroup() public view {
        // G1ADD only checks the curve equation: it accepts the point.
        (bool okAdd,) = address(0x0b).staticcall(bytes.concat(G1_NOT_IN_SUBGROUP, new bytes(128)));
        vm.assertTrue(okAdd);
        // G1MSM checks subgroup membership: it refuses the point.
        (bool okMsm,) = address(0x0c).staticcall(bytes.concat(G1_NOT_IN_SUBGROUP, bytes32(uint256(1))));
        vm.assertFalse(okMsm);
    }

    function test_verify_rejectsSignatureNotInSubgroup() public view {
        vm.assertFalse(h.verify(blsPublicKey(GROUP_SK), keccak256("qiao"), G1_NOT_IN_SUBGROUP));
    }

    function test_verify_rejectsSignaturePlusTorsionComponent() public view {
        // A valid signature shifted by a non-subgroup point is on the curve but not in the subgroup.
        bytes32 m = keccak256("qiao");
        bytes memory sig = g1Add(blsSign(GROUP_SK, m), G1_NOT_IN_SUBGROUP);
        vm.assertFalse(h.verify(blsPublicKey(GROUP_SK), m, sig));
    }

    function test_verify_rejectsMalformedPublicKey() public view {
        bytes32 m = keccak256("qiao");
        bytes memory pk = blsPublicKey(GROUP_SK);
        pk[255] = bytes1(uint8(pk[255]) ^ 1);
        vm.assertFalse(h.verify(pk, m, blsSign(GROUP_SK, m)));
    }

    function test_verify_gas() public {
        bytes32 m = keccak256("qiao");
        bytes memory pk = blsPublicKey(GROUP_SK);
        bytes memory sig = blsSign(GROUP_SK, m);
        uint256 before = gasleft();
        bool ok = BLS.verify(pk, m, sig);
        uint256 used = before - gasleft();
        vm.assertTrue(ok);
        emit log_named_uint("BLS.verify gas (incl. hashToG1)", used);
        before = gasleft();
        BLS.hashToG1(abi.encodePacked(m));
        emit log_named_uint("BLS.hashToG1 gas", before - gasleft());
    }

    // --- validatePublicKey

    function test_validatePublicKey_acceptsValidKey() public view {
        h.validatePublicKey(blsPublicKey(GROUP_SK));
        h.validatePublicKey(G2_GENERATOR);
    }

    function test_validatePublicKey_rejectsWrongLength() public {
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidPublicKeyLength.selector, 96));
        h.validatePublicKey(new bytes(96));
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidPublicKeyLength.selector, 0));
        h.validatePublicKey("");
        vm.expectRevert(abi.encodeWithSelector(BLS.BLSInvalidPublicKeyLength.selector, 257));
        h.validatePublicKey(bytes.concat(G2_GENERATOR, hex"00"));
    }

    function test_validatePublicKey_rejectsIdentity() public {
        vm.expectRevert(BLS.BLSIdentityPublicKey.selector);
        h.validatePublicKey(new bytes(256));
    }

    function test_validatePublicKey_rejectsNotOnCurve() public {
        bytes memory pk = blsPublicKey(GROUP_SK);
        pk[255] = bytes1(uint8(pk[255]) ^ 1);
        vm.expectRevert(BLS.BLSInvalidPublicKey.selector);
        h.validatePublicKey(pk);
    }

    function test_validatePublicKey_rejectsNonCanonical() public {
        bytes memory pk = blsPublicKey(GROUP_SK);
        pk[64] = 0x01;
        vm.expectRevert(BLS.BLSInvalidPublicKey.selector);
        h.validatePublicKey(pk);
    }

    function test_g2NonSubgroupPoint_isOnCurveButNotInSubgroup() public view {
        (bool okAdd,) = address(0x0d).staticcall(bytes.concat(G2_NOT_IN_SUBGROUP, new bytes(256)));
        vm.assertTrue(okAdd);
        (bool okMsm,) = address(0x0e).staticcall(bytes.concat(G2_NOT_IN_SUBGROUP, bytes32(uint256(1))));
        vm.assertFalse(okMsm);
    }

    function test_verify_rejectsPublicKeyNotInSubgroup() public view {
        vm.assertFalse(h.verify(G2_NOT_IN_SUBGROUP, keccak256("qiao"), blsSign(GROUP_SK, keccak256("qiao"))));
    }

    function test_validatePublicKey_rejectsNotInSubgroup() public {
        vm.expectRevert(BLS.BLSInvalidPublicKey.selector);
        h.validatePublicKey(G2_NOT_IN_SUBGROUP);
    }

    function test_isZero() public view {
        vm.assertTrue(h.isZero(""));
        vm.assertTrue(h.isZero(new bytes(33)));
        bytes memory b = new bytes(33);
        b[32] = 0x01;
        vm.assertFalse(h.isZero(b));
        b = new bytes(31);
        b[30] = 0x01;
        vm.assertFalse(h.isZero(b));
    }
}
