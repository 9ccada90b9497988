// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {Vm} from "./Vm.sol";
import {BLS} from "../../src/BLS.sol";

/// @title QiaoTest
/// @notice Minimal test base (forge-std is unavailable offline): the cheatcode handle, a DSTest-style
///         log event that forge prints, and BLS helpers that make real signatures with the EIP-2537
///         precompiles (sk * G2 for keys, sk * H(m) for signatures).
abstract contract QiaoTest {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @dev Printed by forge under "Logs:" with -vv.
    event log_named_uint(string key, uint256 val);

    /// @dev Order r of the prime-order subgroups of BLS12-381.
    uint256 internal constant CURVE_ORDER = 0x73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001;

    bytes internal constant G1_GENERATOR = hex"0000000000000000000000000000000017f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb"
        hex"0000000000000000000000000000000008b3f481e3aaa0f1a09e30ed741d8ae4fcf5e095d5d00af600db18cb2c04b3edd03cc744a2888ae40caa232946c5e7e1";

    bytes internal constant G2_GENERATOR = hex"00000000000000000000000000000000024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8"
        hex"0000000000000000000000000000000013e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e"
        hex"000000000000000000000000000000000ce5d527727d6e118cc9cdc6da2e351aadfd9baa8cbdd3a76d429a695160d12c923ac9cc3baca289e193548608b82801"
        hex"000000000000000000000000000000000606c4a02ea734cc32acd2b02bc28b99cb3e287e85a763af267492ab572e99ab3f370d275cec1da1aaa9075ff05f79be";

    /// @dev A point on the G1 curve (x = 4) that is NOT in the prime-order subgroup; computed with
    ///      py_ecc (r * P != O) and re-checked on-chain in BLS.t.sol (G1ADD accepts it, G1MSM refuses it).
    bytes internal constant G1_NOT_IN_SUBGROUP = hex"00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000004"
        hex"000000000000000000000000000000000a989badd40d6212b33cffc3f3763e9bc760f988c9926b26da9dd85e928483446346b8ed00e1de5d5ea93e354abe706c";

    /// @dev A point on the G2 twist curve that is NOT in the prime-order subgroup (py_ecc
    ///      map_to_curve_G2 of (5, 7) before cofactor clearing; r * P != O).
    bytes internal constant G2_NOT_IN_SUBGROUP = hex"0000000000000000000000000000000000c85d5ad55709df9f7add6bbc1dab8537bca1f7a08dda2803047fb0ec79bc4fb114440efcc4459cb41400ed6d01d98c"
        hex"0000000000000000000000000000000000b383ec2171a4820ffb284d92c5c046080227eb5b60ed71db04d7d0e78fb20889f265ae5e061669811569a6a6c4918a"
        hex"00000000000000000000000000000000148b911d5344771d62d920b03cd0b46e1a1e58c02eea292d068c59b6a20e73726f24bb5323dbcf1322299d5bb8cca539"
        hex"00000000000000000000000000000000015973f0ea10e3a66091f305bf042d84688a13c9baefc6cef4d83bf1e34b66b205d53d208d0748fc3e6e09eb2e1ea694";

    /// @dev The committee's group secret in the tests; any scalar in [1, r) works.
    uint256 internal constant GROUP_SK = 0x2a5f1d3c4b6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7;
    /// @dev An unrelated secret (a different committee, or an attacker).
    uint256 internal constant OTHER_SK = 0x1234567890abcdef1234567890abcdef1234567890abcdef1234567890abcdef;

    /// @notice sk * G2: the EIP-2537 public key of `sk`.
    function blsPublicKey(uint256 sk) internal view returns (bytes memory) {
        return g2Mul(G2_GENERATOR, sk);
    }

    /// @notice sk * H(message): the EIP-2537 signature of `message` under `sk`.
    function blsSign(uint256 sk, bytes32 message) internal view returns (bytes memory) {
        return g1Mul(BLS.hashToG1(abi.encodePacked(message)), sk);
    }

    function g1Mul(bytes memory point, uint256 scalar) internal view returns (bytes memory out) {
        bool ok;
        (ok, out) = address(0x0c).staticcall(bytes.concat(point, bytes32(scalar)));
        require(ok && out.length == 128, "G1MSM failed");
    }

    function g2Mul(bytes memory point, uint256 scalar) internal view returns (bytes memory out) {
        bool ok;
        (ok, out) = address(0x0e).staticcall(bytes.concat(point, bytes32(scalar)));
        require(ok && out.length == 256, "G2MSM failed");
    }

    function g1Add(bytes memory a, bytes memory b) internal view returns (bytes memory out) {
        bool ok;
        (ok, out) = address(0x0b).staticcall(bytes.concat(a, b));
        require(ok && out.length == 128, "G1ADD failed");
    }

    /// @notice Foundry-style bound without forge-std: maps `x` into [min, max].
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min + 1;
        if (size == 0) return x; // full range
        return min + (x % size);
    }
}
