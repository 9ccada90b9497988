"""The part of the endpoint ABI the relayer uses (docs/PROTOCOL.md).

`isExecuted` is true once a valid signature consumed the transfer, whatever the outcome
(delivered, queued by the rate limit, or failed); `transferStatus` and the `TransferQueued` and
`TransferFailed` events tell which (TransferStatus: 0 none, 1 delivered, 2 queued, 3 failed).

`executeBatch` and `batchMessage` take the batch packed (`QiaoEndpoint.PackedBatch`: route, first
nonce and token pairs once; sender, recipient and amount per transfer): build the arguments with
`relayer.core.types.execute_batch_args` / `packed_batch`, or the whole call with
`relayer.core.calldata.execute_batch_call`.

Kept in the package so a deployed daemon needs no build tree; a test checks it against the ABI
forge compiles from contracts/src.
"""

from __future__ import annotations

from typing import Any

_TRANSFER_INPUT: dict[str, Any] = {
    "name": "t",
    "type": "tuple",
    "internalType": "struct QiaoEndpoint.Transfer",
    "components": [
        {"name": "srcChainId", "type": "uint256"},
        {"name": "dstChainId", "type": "uint256"},
        {"name": "nonce", "type": "uint64"},
        {"name": "srcToken", "type": "address"},
        {"name": "dstToken", "type": "address"},
        {"name": "sender", "type": "address"},
        {"name": "recipient", "type": "address"},
        {"name": "amount", "type": "uint256"},
    ],
}

_PACKED_BATCH_COMPONENTS = [
    {"name": "srcChainId", "type": "uint256"},
    {"name": "dstChainId", "type": "uint256"},
    {"name": "firstNonce", "type": "uint64"},
    {
        "name": "pairs",
        "type": "tuple[]",
        "internalType": "struct QiaoEndpoint.TokenPair[]",
        "components": [
            {"name": "srcToken", "type": "address"},
            {"name": "dstToken", "type": "address"},
        ],
    },
    {"name": "pairOf", "type": "bytes"},
    {
        "name": "transfers",
        "type": "tuple[]",
        "internalType": "struct QiaoEndpoint.PackedTransfer[]",
        "components": [
            {"name": "sender", "type": "address"},
            {"name": "recipient", "type": "address"},
            {"name": "amount", "type": "uint256"},
        ],
    },
]

_PACKED_BATCH_INPUT = {
    "name": "batch",
    "type": "tuple",
    "internalType": "struct QiaoEndpoint.PackedBatch",
    "components": _PACKED_BATCH_COMPONENTS,
}

ENDPOINT_ABI: list[dict[str, Any]] = [
    {
        "type": "event",
        "name": "TransferInitiated",
        "anonymous": False,
        "inputs": [
            {"name": "dstChainId", "type": "uint256", "indexed": True},
            {"name": "nonce", "type": "uint64", "indexed": True},
            {"name": "sender", "type": "address", "indexed": True},
            {"name": "srcToken", "type": "address", "indexed": False},
            {"name": "dstToken", "type": "address", "indexed": False},
            {"name": "recipient", "type": "address", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "TransferExecuted",
        "anonymous": False,
        "inputs": [
            {"name": "srcChainId", "type": "uint256", "indexed": True},
            {"name": "nonce", "type": "uint64", "indexed": True},
            {"name": "recipient", "type": "address", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "function",
        "name": "executeBatch",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "keyEpoch", "type": "uint64"},
            _PACKED_BATCH_INPUT,
            {"name": "signature", "type": "bytes"},
        ],
        "outputs": [],
    },
    {
        "type": "event",
        "name": "TransferFailed",
        "anonymous": False,
        "inputs": [
            {"name": "srcChainId", "type": "uint256", "indexed": True},
            {"name": "nonce", "type": "uint64", "indexed": True},
            {
                "name": "reason",
                "type": "uint8",
                "indexed": False,
                "internalType": "enum QiaoEndpoint.FailureReason",
            },
        ],
    },
    {
        "type": "event",
        "name": "TransferQueued",
        "anonymous": False,
        "inputs": [
            {"name": "srcChainId", "type": "uint256", "indexed": True},
            {"name": "nonce", "type": "uint64", "indexed": True},
            {"name": "leaf", "type": "bytes32", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
        ],
    },
    {
        "type": "function",
        "name": "transferStatus",
        "stateMutability": "view",
        "inputs": [{"name": "srcChainId", "type": "uint256"}, {"name": "nonce", "type": "uint64"}],
        "outputs": [{"name": "status", "type": "uint8", "internalType": "enum QiaoEndpoint.TransferStatus"}],
    },
    {
        "type": "function",
        "name": "isExecuted",
        "stateMutability": "view",
        "inputs": [{"name": "srcChainId", "type": "uint256"}, {"name": "nonce", "type": "uint64"}],
        "outputs": [{"name": "", "type": "bool"}],
    },
    {
        "type": "function",
        "name": "unexecutedCount",
        "stateMutability": "view",
        "inputs": [
            {"name": "srcChainId", "type": "uint256"},
            {"name": "firstNonce", "type": "uint64"},
            {"name": "lastNonce", "type": "uint64"},
        ],
        "outputs": [{"name": "", "type": "uint256"}],
    },
    {
        "type": "function",
        "name": "nextNonce",
        "stateMutability": "view",
        "inputs": [{"name": "dstChainId", "type": "uint256"}],
        "outputs": [{"name": "", "type": "uint64"}],
    },
    {
        "type": "function",
        "name": "currentKeyEpoch",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "", "type": "uint64"}],
    },
    {
        "type": "function",
        "name": "refund",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "keyEpoch", "type": "uint64"},
            _TRANSFER_INPUT,
            {"name": "signature", "type": "bytes"},
        ],
        "outputs": [],
    },
    {
        "type": "function",
        "name": "refundMessage",
        "stateMutability": "view",
        "inputs": [{"name": "keyEpoch", "type": "uint64"}, _TRANSFER_INPUT],
        "outputs": [{"name": "message", "type": "bytes32"}],
    },
    {
        "type": "function",
        "name": "isRefunded",
        "stateMutability": "view",
        "inputs": [{"name": "dstChainId", "type": "uint256"}, {"name": "nonce", "type": "uint64"}],
        "outputs": [{"name": "refunded", "type": "bool"}],
    },
    {
        "type": "function",
        "name": "batchMessage",
        "stateMutability": "view",
        "inputs": [
            {"name": "keyEpoch", "type": "uint64"},
            _PACKED_BATCH_INPUT,
        ],
        "outputs": [{"name": "", "type": "bytes32"}],
    },
]
