// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title BLS
/// @notice BLS12-381 signature verification for Qiao through the EIP-2537 precompiles.
/// @dev Scheme ("minimal signature size"): signatures in G1, public keys in G2.
///      Verification: e(sig, G2) == e(H(m), PK), computed as one pairing check
///      e(sig, -G2) * e(H(m), PK) == 1.
///
///      Hash to curve: RFC 9380 suite BLS12381G1_XMD:SHA-256_SSWU_RO_ with the Qiao DST
///      "QIAO-V1_BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_":
///        uniform = expand_message_xmd(msg, DST, 128)            (SHA-256)
///        u_i     = OS2IP(uniform[64*i : 64*(i+1)]) mod p, i = 0,1 (MODEXP precompile, exponent 1)
///        Q_i     = MAP_FP_TO_G1(u_i)                          (SSWU + isogeny + cofactor clearing)
///        H(msg)  = Q_0 + Q_1                                  (G1ADD)
///      Cofactor clearing is a group homomorphism, so clear(Q0' + Q1') = clear(Q0') + clear(Q1'),
///      which is why adding the two already-cleared precompile outputs equals RFC 9380's
///      clear_cofactor(Q0' + Q1').
///
///      Point encoding (EIP-2537): a base field element is 64 bytes, 16 zero bytes then the 48-byte
///      big-endian value, which must be < p. A G1 point is x || y (128 bytes); a G2 point is
///      x.c0 || x.c1 || y.c0 || y.c1 (256 bytes). The point at infinity is all zeros.
///
///      What the precompiles check (EIP-2537): every precompile rejects (fails the call) on a wrong
///      input length, a non-canonical field element or a point not on the curve. G1ADD and G2ADD do
///      NOT check subgroup membership; G1MSM, G2MSM and PAIRING_CHECK do. MAP_FP_TO_G1 always
///      returns a point of the prime-order subgroup.
///
///      Error policy:
///        - `hashToG1` and `expandMessageXmd` depend only on the message: a failing precompile there
///          means the chain does not provide EIP-2537 / MODEXP as specified, so they revert with
///          {BLSPrecompileCallFailed} or {BLSPrecompileBadOutput}.
///        - `verify` never reverts because of its signature or public key: a wrong length, the
///          identity, a point not on the curve or not in the subgroup, a failing pairing precompile
///          call, or a pairing that does not hold all return `false`.
///        - `validatePublicKey` reverts with a specific error for each reason a key is refused.
library BLS {
    /// @dev EIP-2537 precompile addresses.
    address internal constant G1_ADD = address(0x0b);
    address internal constant G1_MSM = address(0x0c);
    address internal constant G2_ADD = address(0x0d);
    address internal constant G2_MSM = address(0x0e);
    address internal constant PAIRING_CHECK = address(0x0f);
    address internal constant MAP_FP_TO_G1 = address(0x10);
    /// @dev EIP-198 big-integer modular exponentiation.
    address internal constant MODEXP = address(0x05);

    uint256 internal constant FP_LENGTH = 64;
    uint256 internal constant G1_POINT_LENGTH = 128;
    uint256 internal constant G2_POINT_LENGTH = 256;
    uint256 internal constant MSM_SCALAR_LENGTH = 32;

    /// @notice Gas given to the pairing precompile in {verify}. EIP-2537 (Prague) prices a check of
    ///         k pairs at 32,600 * k + 37,700: 102,900 for the two pairs of a verification. A call
    ///         that fails (a point not on the curve or not in the subgroup) consumes all the gas it
    ///         was given, so without a cap an invalid signature burns 63/64 of the transaction's gas
    ///         limit; with it, at most this much. The margin (about 45%) leaves room for a chain
    ///         that prices the pairing higher; one above the cap would refuse every signature,
    ///         which the deployment's first verification shows at once.
    uint256 internal constant PAIRING_GAS_CAP = 150_000;

    /// @notice Domain separation tag of Qiao signatures (RFC 9380 section 3.1).
    bytes internal constant DST = "QIAO-V1_BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";

    /// @dev The base field modulus p as a 64-byte big-endian value (high word, low word).
    bytes32 internal constant P_HI = 0x000000000000000000000000000000001a0111ea397fe69a4b1ba7b6434bacd7;
    bytes32 internal constant P_LO = 0x64774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaab;

    /// @dev The negated G2 generator -G2 in EIP-2537 encoding (x unchanged, y = p - y).
    bytes internal constant NEG_G2_GENERATOR = hex"00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8"
        hex"0000000000000000000000000000000013e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
        hex"000000000000000000000000000000000d1b3cc2c7027888be51d9ef691d77bcb679afda66c73f17f9ee3837a55024f78c71363275a75d75d86bab79f74782aa"
        hex"0000000000000000000000000000000013fa4d4a0ad8b1ce186ed5061789213d993923066dddaf1040bc3ff59f825c78df74f2d75467e25e0f55f8a00fa030ed";

    /// @notice A precompile call failed (it reverted or ran out of gas).
    /// @param precompile The precompile address.
    error BLSPrecompileCallFailed(address precompile);
    /// @notice A precompile returned a number of bytes different from the EIP's specification.
    /// @param precompile The precompile address.
    /// @param length The number of bytes returned.
    error BLSPrecompileBadOutput(address precompile, uint256 length);
    /// @notice expand_message_xmd parameters outside RFC 9380's limits (DST 1..255 bytes, ell <= 255).
    error BLSInvalidExpandParameters(uint256 dstLength, uint256 lenInBytes);
    /// @notice Less gas is left than the pairing check needs ({PAIRING_GAS_CAP}): the transaction's
    ///         gas limit is too low, which says nothing about the signature. Send it with more gas.
    error BLSInsufficientGas(uint256 needed, uint256 left);
    /// @notice A public key is not 256 bytes long.
    error BLSInvalidPublicKeyLength(uint256 length);
    /// @notice A public key is the point at infinity.
    error BLSIdentityPublicKey();
    /// @notice A public key is not a canonical encoding of a G2 point of the prime-order subgroup.
    error BLSInvalidPublicKey();

    // ------------------------------------------------------------------------------------------
    // Hash to curve
    // ------------------------------------------------------------------------------------------

    /// @notice Hashes `message` to a G1 point with the Qiao DST (RFC 9380, BLS12381G1_XMD:SHA-256_SSWU_RO_).
    /// @param message The message (Qiao signs the 32-byte batch message).
    /// @return point The 128-byte EIP-2537 encoding of H(message), a point of the prime-order subgroup.
    function hashToG1(bytes memory message) internal view returns (bytes memory point) {
        return hashToG1(message, DST);
    }

    /// @notice Hashes `message` to G1 with an arbitrary domain separation tag (RFC 9380 hash_to_curve).
    /// @dev Exposed with a DST parameter so that the RFC 9380 test vectors (DST "QUUX-V01-CS02-with-
    ///      BLS12381G1_XMD:SHA-256_SSWU_RO_") can be checked against this implementation.
    /// @param message The message.
    /// @param dst The domain separation tag, 1 to 255 bytes.
    /// @return point The 128-byte EIP-2537 encoding of the hashed point.
    function hashToG1(bytes memory message, bytes memory dst) internal view returns (bytes memory point) {
        bytes memory uniform = expandMessageXmd(message, dst, 2 * FP_LENGTH);
        bytes memory q0 = _mapFpToG1(_reduceModP(uniform, 0));
        bytes memory q1 = _mapFpToG1(_reduceModP(uniform, FP_LENGTH));
        point = _callPrecompile(G1_ADD, bytes.concat(q0, q1), G1_POINT_LENGTH);
    }

    /// @notice RFC 9380 section 5.3.1 expand_message_xmd with SHA-256.
    /// @param message The message.
    /// @param dst The domain separation tag, 1 to 255 bytes.
    /// @param lenInBytes The number of bytes to produce, 1 to 255 * 32.
    /// @return uniform `lenInBytes` pseudo-random bytes.
    function expandMessageXmd(bytes memory message, bytes memory dst, uint256 lenInBytes)
        internal
        pure
        returns (bytes memory uniform)
    {
        uint256 ell = (lenInBytes + 31) / 32;
        if (dst.length == 0 || dst.length > 255 || lenInBytes == 0 || ell > 255) {
            revert BLSInvalidExpandParameters(dst.length, lenInBytes);
        }
        bytes memory dstPrime = bytes.concat(dst, bytes1(uint8(dst.length)));
        // msg_prime = Z_pad (64 zero bytes, the SHA-256 block size) || msg || I2OSP(len, 2) || I2OSP(0, 1) || DST_prime
        // casting to 'uint16' is safe because lenInBytes <= ell * 32 <= 8160 (checked above)
        // forge-lint: disable-next-line(unsafe-typecast)
        bytes32 b0 = sha256(abi.encodePacked(bytes32(0), bytes32(0), message, uint16(lenInBytes), uint8(0), dstPrime));
        uniform = new bytes(ell * 32);
        // b_1 = H(b_0 || I2OSP(1, 1) || DST_prime); b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime)
        bytes32 bi = sha256(abi.encodePacked(b0, uint8(1), dstPrime));
        _storeWord(uniform, 0, bi);
        for (uint256 i = 2; i <= ell; ++i) {
            // casting to 'uint8' is safe because i <= ell <= 255 (checked above)
            // forge-lint: disable-next-line(unsafe-typecast)
            bi = sha256(abi.encodePacked(b0 ^ bi, uint8(i), dstPrime));
            _storeWord(uniform, (i - 1) * 32, bi);
        }
        // Truncate to lenInBytes (only shortens the length field; ell * 32 >= lenInBytes).
        assembly ("memory-safe") {
            mstore(uniform, lenInBytes)
        }
    }

    // ------------------------------------------------------------------------------------------
    // Verification and key validation
    // ------------------------------------------------------------------------------------------

    /// @notice Verifies a BLS signature on a 32-byte message.
    /// @dev Returns false (never reverts because of its inputs) when: the key is not 256 bytes or the
    ///      signature not 128 bytes; either is the identity; either is not a canonical point on the
    ///      curve in the prime-order subgroup (the pairing precompile fails on those); the pairing
    ///      precompile returns anything but a 32-byte word; or the pairing equation does not hold.
    ///      The key is expected to have been checked once with {validatePublicKey} when stored.
    ///      The pairing precompile gets at most {PAIRING_GAS_CAP} gas; it reverts with
    ///      {BLSInsufficientGas} (not `false`) when less than that is left, so that a valid
    ///      signature sent with too little gas is not reported as invalid.
    /// @param publicKey The 256-byte EIP-2537 G2 public key.
    /// @param message The 32-byte message that was signed (hashed with {hashToG1}).
    /// @param signature The 128-byte EIP-2537 G1 signature.
    /// @return valid True if and only if the signature is valid for the message under the key.
    function verify(bytes memory publicKey, bytes32 message, bytes memory signature)
        internal
        view
        returns (bool valid)
    {
        if (publicKey.length != G2_POINT_LENGTH || signature.length != G1_POINT_LENGTH) {
            return false;
        }
        if (isZero(publicKey) || isZero(signature)) return false;
        bytes memory h = hashToG1(abi.encodePacked(message));
        bytes memory input = bytes.concat(signature, NEG_G2_GENERATOR, h, publicKey);
        // The callee gets at most 63/64 of what is left (EIP-150): make sure that is the whole cap.
        uint256 needed = PAIRING_GAS_CAP + PAIRING_GAS_CAP / 63 + 2_000;
        if (gasleft() < needed) revert BLSInsufficientGas(needed, gasleft());
        (bool ok, bytes memory out) = PAIRING_CHECK.staticcall{gas: PAIRING_GAS_CAP}(input);
        if (!ok || out.length != 32) return false;
        // casting to 'bytes32' is safe because out.length == 32 (checked above)
        // forge-lint: disable-next-line(unsafe-typecast)
        return uint256(bytes32(out)) == 1;
    }

    /// @notice Reverts unless `publicKey` is a valid group public key: 256 bytes, not the identity,
    ///         a canonical encoding of a point on the G2 curve, in the prime-order subgroup.
    /// @dev The on-curve and subgroup checks are done by G2MSM with the scalar 1, which EIP-2537
    ///      requires to subgroup-check its input; the result must equal the input.
    /// @param publicKey The 256-byte EIP-2537 G2 point.
    function validatePublicKey(bytes memory publicKey) internal view {
        if (publicKey.length != G2_POINT_LENGTH) revert BLSInvalidPublicKeyLength(publicKey.length);
        if (isZero(publicKey)) revert BLSIdentityPublicKey();
        (bool ok, bytes memory out) = G2_MSM.staticcall(bytes.concat(publicKey, bytes32(uint256(1))));
        if (!ok) revert BLSInvalidPublicKey();
        if (out.length != G2_POINT_LENGTH) revert BLSPrecompileBadOutput(G2_MSM, out.length);
        if (keccak256(out) != keccak256(publicKey)) revert BLSInvalidPublicKey();
    }

    /// @notice True if every byte of `data` is zero (the EIP-2537 encoding of the point at infinity
    ///         when `data` has a point's length).
    /// @param data The bytes to inspect.
    /// @return zero True if all bytes are zero (also for empty input).
    function isZero(bytes memory data) internal pure returns (bool zero) {
        uint256 acc;
        uint256 len = data.length;
        assembly ("memory-safe") {
            let start := add(data, 0x20)
            let full := and(len, not(31))
            for { let i := 0 } lt(i, full) { i := add(i, 0x20) } { acc := or(acc, mload(add(start, i))) }
            let rest := sub(len, full)
            if rest {
                // Keep only the `rest` leading bytes of the last, partial word.
                let word := mload(add(start, full))
                acc := or(acc, shr(mul(sub(32, rest), 8), word))
            }
        }
        return acc == 0;
    }

    // ------------------------------------------------------------------------------------------
    // Private helpers
    // ------------------------------------------------------------------------------------------

    /// @dev OS2IP(uniform[offset : offset + 64]) mod p through MODEXP (base^1 mod p), returned as a
    ///      64-byte EIP-2537 field element (the result is < p < 2^381, so its top 16 bytes are zero).
    function _reduceModP(bytes memory uniform, uint256 offset) private view returns (bytes memory fe) {
        bytes32 hi;
        bytes32 lo;
        assembly ("memory-safe") {
            let src := add(add(uniform, 0x20), offset)
            hi := mload(src)
            lo := mload(add(src, 0x20))
        }
        // EIP-198 input: len(base)=64, len(exp)=1, len(mod)=64, base, exp=0x01, mod=p.
        bytes memory input =
            abi.encodePacked(uint256(FP_LENGTH), uint256(1), uint256(FP_LENGTH), hi, lo, uint8(1), P_HI, P_LO);
        fe = _callPrecompile(MODEXP, input, FP_LENGTH);
    }

    /// @dev MAP_FP_TO_G1 of one 64-byte field element.
    function _mapFpToG1(bytes memory fe) private view returns (bytes memory point) {
        point = _callPrecompile(MAP_FP_TO_G1, fe, G1_POINT_LENGTH);
    }

    /// @dev Static call to a precompile; reverts unless it succeeds and returns exactly `outLength` bytes.
    function _callPrecompile(address precompile, bytes memory input, uint256 outLength)
        private
        view
        returns (bytes memory out)
    {
        bool ok;
        (ok, out) = precompile.staticcall(input);
        if (!ok) revert BLSPrecompileCallFailed(precompile);
        if (out.length != outLength) revert BLSPrecompileBadOutput(precompile, out.length);
    }

    /// @dev Writes a 32-byte word into `data` at byte `offset` (caller guarantees bounds).
    function _storeWord(bytes memory data, uint256 offset, bytes32 word) private pure {
        assembly ("memory-safe") {
            mstore(add(add(data, 0x20), offset), word)
        }
    }
}
