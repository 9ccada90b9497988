// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title MultisigReceiver
/// @notice A REFERENCE for the gas report only (docs/GAS.md, "Against an m-of-n ECDSA bridge"):
///         the destination side of a bridge whose committee signs each transfer with m of n
///         ECDSA keys, verified the way per-signature multisig bridges verify (the signatures
///         ordered by signer address, strictly ascending, one `ecrecover` each, every signer
///         checked against the set). Qiao never deploys it; it exists so that its cost and the
///         BLS verifier's are measured in one run on one chain instead of quoted from elsewhere.
///         It delivers one transfer per signed message by minting its own plain ERC-20 to the
///         recipient (no KYC check and no rate limit: it is cheaper than Qiao's path per
///         delivery on everything but the signatures).
contract MultisigReceiver is ERC20 {
    /// @notice A signature list shorter than the threshold (or not a multiple of 65 bytes).
    error NotEnoughSignatures(uint256 given, uint256 threshold);
    /// @notice A signature from an address that is not a signer, or out of ascending order
    ///         (which is also how a repeated signer is refused).
    error InvalidSigner(address recovered);
    /// @notice The transfer (source chain, nonce) was delivered already.
    error AlreadyDelivered(uint256 srcChainId, uint64 nonce);
    /// @notice Constructor arguments that make no committee: threshold 0 or above the signers,
    ///         a zero or repeated signer.
    error InvalidCommittee();

    /// @notice One transfer as its committee signs it (ERC20 has the name `Transfer`).
    struct Signed {
        uint256 srcChainId;
        uint64 nonce;
        address recipient;
        uint256 amount;
    }

    /// @notice A delivered transfer.
    event Delivered(uint256 indexed srcChainId, uint64 indexed nonce, address recipient, uint256 amount);

    /// @notice Signatures required.
    uint256 public immutable threshold;
    /// @notice Whether an address is one of the committee's signers.
    mapping(address => bool) public isSigner;
    mapping(uint256 => mapping(uint256 => uint256)) private _delivered; // src => nonce >> 8 => bits

    /// @param signers The committee's addresses (any order; none zero, none twice).
    /// @param m Signatures required, 1..signers.length.
    constructor(address[] memory signers, uint256 m) ERC20("Reference wrapped", "REFW") {
        if (m == 0 || m > signers.length) revert InvalidCommittee();
        for (uint256 i = 0; i < signers.length; ++i) {
            if (signers[i] == address(0) || isSigner[signers[i]]) revert InvalidCommittee();
            isSigner[signers[i]] = true;
        }
        threshold = m;
    }

    /// @notice The digest the signers sign for `t`: bound to this chain and this contract.
    /// @param t The transfer.
    /// @return digest keccak256 of the domain and the transfer.
    function digestOf(Signed calldata t) public view returns (bytes32 digest) {
        return keccak256(abi.encode(block.chainid, address(this), t));
    }

    /// @notice Whether `signatures` (65 bytes each, r || s || v, signers strictly ascending) hold
    ///         `threshold` signatures of signers on `digest`; reverts instead of returning false.
    /// @param digest The signed digest.
    /// @param signatures The packed signatures.
    /// @return ok Always true (it reverts otherwise), so that a call measures the whole check.
    function verify(bytes32 digest, bytes calldata signatures) public view returns (bool ok) {
        uint256 count = signatures.length / 65;
        if (count < threshold || signatures.length % 65 != 0) {
            revert NotEnoughSignatures(count, threshold);
        }
        address last = address(0);
        for (uint256 i = 0; i < threshold; ++i) {
            uint256 o = i * 65;
            address signer = ECDSA.recover(
                digest, uint8(signatures[o + 64]), bytes32(signatures[o:o + 32]), bytes32(signatures[o + 32:o + 64])
            );
            if (signer <= last || !isSigner[signer]) revert InvalidSigner(signer);
            last = signer;
        }
        return true;
    }

    /// @notice Delivers `t` (mints its amount to its recipient) on `threshold` signatures of its
    ///         digest; once per (source chain, nonce).
    /// @param t The transfer.
    /// @param signatures The packed signatures, signers strictly ascending.
    function deliver(Signed calldata t, bytes calldata signatures) external {
        uint256 word = t.nonce >> 8;
        uint256 bit = uint256(1) << (t.nonce & 0xff);
        uint256 bits = _delivered[t.srcChainId][word];
        if (bits & bit != 0) revert AlreadyDelivered(t.srcChainId, t.nonce);
        verify(digestOf(t), signatures);
        _delivered[t.srcChainId][word] = bits | bit;
        _mint(t.recipient, t.amount);
        emit Delivered(t.srcChainId, t.nonce, t.recipient, t.amount);
    }

    /// @notice Whether (`srcChainId`, `nonce`) was delivered.
    /// @param srcChainId The source chain id.
    /// @param nonce The transfer's nonce.
    /// @return done True once delivered.
    function delivered(uint256 srcChainId, uint64 nonce) external view returns (bool done) {
        return _delivered[srcChainId][nonce >> 8] & (uint256(1) << (nonce & 0xff)) != 0;
    }
}
