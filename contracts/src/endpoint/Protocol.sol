// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

/// @title Protocol
/// @notice The protocol's constants, in one place for the endpoint and its parts (Solidity does
///         not let a library read a contract's constant as `QiaoEndpoint.X`). QiaoEndpoint
///         publishes each of them under the same name, with its documentation.
library Protocol {
    bytes32 internal constant TRANSFER_TYPEHASH = keccak256(
        "QiaoTransfer(uint256 srcChainId,uint256 dstChainId,uint64 nonce,address srcToken,address dstToken,address sender,address recipient,uint256 amount)"
    );
    bytes32 internal constant BATCH_TYPEHASH = keccak256(
        "QiaoBatch(string version,uint256 srcChainId,uint256 dstChainId,address dstContract,uint64 keyEpoch,uint64 firstNonce,uint64 lastNonce,bytes32 root)"
    );
    bytes32 internal constant REFUND_TYPEHASH =
        keccak256("QiaoRefund(string version,uint256 chainId,address endpoint,uint64 keyEpoch,bytes32 transferLeaf)");
    bytes32 internal constant PAUSE_TYPEHASH =
        keccak256("QiaoPause(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce)");
    bytes32 internal constant RESUME_TYPEHASH = keccak256(
        "QiaoResume(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,uint64 pauseCount,uint64 deadline)"
    );
    bytes32 internal constant ROTATE_TYPEHASH = keccak256(
        "QiaoRotateKey(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,bytes32 newKeyHash)"
    );
    bytes32 internal constant FREEZE_TYPEHASH = keccak256(
        "QiaoFreeze(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,address account,bool frozen)"
    );
    bytes32 internal constant ALLOW_TYPEHASH = keccak256(
        "QiaoAllow(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,address account,bool allowed)"
    );
    bytes32 internal constant UNCURSE_TYPEHASH = keccak256(
        "QiaoUncurse(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,uint256 remoteChainId,uint64 curseCount)"
    );
    bytes32 internal constant ISSUER_TYPEHASH = keccak256(
        "QiaoIssuerAction(string version,uint256 chainId,address endpoint,uint64 keyEpoch,uint64 actionNonce,address token,uint64 sequence,uint8 op,address account,address to,uint256 amount,uint64 asOf)"
    );
    string internal constant VERSION = "QIAO-V1";
    uint64 internal constant INITIAL_KEY_EPOCH = 1;
    uint64 internal constant KEY_GRACE_PERIOD = 1 days;
    uint256 internal constant MAX_AMOUNT = type(uint128).max;
    uint64 internal constant MAX_RANGE_QUERY = 65_536;
    uint64 internal constant MAX_ACTION_DELAY = 30 days;
    uint64 internal constant MAX_ACTION_NONCE_SKIP = 1_000_000;
    uint64 internal constant MAX_CHALLENGE_PERIOD = 30 days;
}
