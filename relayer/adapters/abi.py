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
        "name": "previousKeyValidUntil",
        "stateMutability": "view",
        "inputs": [],
        "outputs": [{"name": "validUntil", "type": "uint64"}],
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


def _fn(name: str, inputs: str = "", outputs: str = "", *, view: bool = False) -> dict[str, Any]:
    """A function fragment from Solidity-like parameter lists ("uint64 keyEpoch, bytes signature")."""

    def params(text: str) -> list[dict[str, str]]:
        pairs = [p.split() for p in text.split(",") if p.strip()]
        return [{"name": p[1] if len(p) > 1 else "", "type": p[0]} for p in pairs]

    return {
        "type": "function",
        "name": name,
        "stateMutability": "view" if view else "nonpayable",
        "inputs": params(inputs),
        "outputs": params(outputs),
    }


_PENDING_ACTION_OUTPUT: dict[str, Any] = {
    "name": "action",
    "type": "tuple",
    "internalType": "struct QiaoEndpoint.PendingAction",
    "components": [
        {"name": "typehash", "type": "bytes32"},
        {"name": "keyEpoch", "type": "uint64"},
        {"name": "executableAt", "type": "uint64"},
        {"name": "pauseCount", "type": "uint64"},
        {"name": "status", "type": "uint8", "internalType": "enum QiaoEndpoint.PendingStatus"},
        {"name": "keyData", "type": "address"},
    ],
}

# committee-signed actions, on both endpoints (docs/PROTOCOL.md, "Signed actions"); the calldata
# the relayer sends is built by relayer.core.calldata.action_call_data / execute_pending_data
ENDPOINT_ABI += [
    _fn("paused", "", "bool", view=True),
    _fn("actionNonce", "", "uint64 nonce", view=True),
    _fn("pauseCount", "", "uint64 count", view=True),
    _fn("registry", "", "address", view=True),
    _fn("actionMessage", "bytes32 typehash, uint64 keyEpoch, bytes params", "bytes32 message", view=True),
    {**_fn("pendingAction", "uint64 nonce", view=True), "outputs": [_PENDING_ACTION_OUTPUT]},
    _fn("pauseWithSignature", "uint64 keyEpoch, bytes signature"),
    _fn("resume", "uint64 keyEpoch, uint64 deadline, bytes signature", "uint64 pendingNonce"),
    _fn("rotateKey", "uint64 keyEpoch, bytes newGroupKey, bytes signature", "uint64 pendingNonce"),
    _fn("executePending", "uint64 nonce"),
]

# the sentinels' curse and challenge window (docs/PROTOCOL.md, "Sentinels: curse, veto and the
# challenge window"): the state the relayer reports, the committee's UNCURSE, and the events of a
# cursed route and of a held transfer (a held transfer's status is Queued)
ENDPOINT_ABI += [
    _fn("isCursed", "uint256 remoteChainId", "bool cursed", view=True),
    _fn("curseCount", "uint256 remoteChainId", "uint64 count", view=True),
    _fn("uncurseRoute", "uint64 nonce", "uint256 remoteChainId", view=True),
    _fn("heldUntil", "uint256 srcChainId, uint64 nonce", "uint64 releaseAfter", view=True),
    _fn("challengeThreshold", "address token", "uint256 threshold", view=True),
    _fn("challengePeriod", "", "uint64 period", view=True),
    _fn(
        "uncurse",
        "uint64 keyEpoch, uint256 remoteChainId, uint64 curseCount, bytes signature",
        "uint64 pendingNonce",
    ),
    {**_fn("releaseQueued"), "inputs": [_TRANSFER_INPUT]},
    # what the release stage reads of a kept transfer's token (relayer.core.releases)
    _fn("queueHead", "address token", "bytes32 leaf, uint256 length", view=True),
    {
        **_fn("availableCapacity", "", "uint256 available", view=True),
        "inputs": [
            {"name": "token", "type": "address"},
            {"name": "direction", "type": "uint8", "internalType": "enum QiaoEndpoint.Direction"},
        ],
    },
    {
        **_fn("rateLimit", "", "", view=True),
        "inputs": [
            {"name": "token", "type": "address"},
            {"name": "direction", "type": "uint8", "internalType": "enum QiaoEndpoint.Direction"},
        ],
        "outputs": [
            {
                "name": "bucket",
                "type": "tuple",
                "internalType": "struct QiaoEndpoint.Bucket",
                "components": [
                    {"name": "capacity", "type": "uint128"},
                    {"name": "refillPerSecond", "type": "uint128"},
                    {"name": "level", "type": "uint128"},
                    {"name": "updatedAt", "type": "uint64"},
                ],
            }
        ],
    },
    {
        "type": "event",
        "name": "RouteCursed",
        "anonymous": False,
        "inputs": [
            {"name": "remoteChainId", "type": "uint256", "indexed": True},
            {"name": "curseCount", "type": "uint64", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "RouteUncursed",
        "anonymous": False,
        "inputs": [
            {"name": "remoteChainId", "type": "uint256", "indexed": True},
            {"name": "curseCount", "type": "uint64", "indexed": False},
        ],
    },
    {
        "type": "event",
        "name": "TransferHeld",
        "anonymous": False,
        "inputs": [
            {"name": "srcChainId", "type": "uint256", "indexed": True},
            {"name": "nonce", "type": "uint64", "indexed": False},
            {"name": "leaf", "type": "bytes32", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
            {"name": "releaseAfter", "type": "uint64", "indexed": False},
        ],
    },
]

# the gateway's own: its token pairs
GATEWAY_ABI: list[dict[str, Any]] = [
    _fn("localTokenOf", "uint256 remoteChainId, address remoteToken", "address token", view=True),
    _fn("remoteTokenOf", "uint256 remoteChainId, address localToken", "address token", view=True),
]

# KycRegistry (each endpoint's `registry()`): the flags, and the events the committee carries
REGISTRY_ABI: list[dict[str, Any]] = [
    _fn("statusOf", "address account", "bool allowed, bool frozen", view=True),
    _fn("freezesOf", "address account", "bool compliance, bool bridge", view=True),
    *(
        {
            "type": "event",
            "name": name,
            "anonymous": False,
            "inputs": [
                {"name": "account", "type": "address", "indexed": True},
                {"name": flag, "type": "bool", "indexed": False},
                {"name": "by", "type": "address", "indexed": True},
            ],
        }
        for name, flag in (("AllowedSet", "allowed"), ("FrozenSet", "frozen"))
    ),
]

# IssuerModule, run by the gateway from its fallback: the issuer's decisions carried from C, and
# the KYC registry's (FREEZE, ALLOW; moved here from the gateway for room, same selectors)
ISSUER_MODULE_ABI: list[dict[str, Any]] = [
    _fn("ALLOW_TYPEHASH", "", "bytes32 typehash", view=True),
    _fn("applyFreeze", "uint64 keyEpoch, address account, bool frozen, bytes signature"),
    _fn("applyAllow", "uint64 keyEpoch, address account, bool allowed, bytes signature"),
    _fn("ISSUER_TYPEHASH", "", "bytes32 typehash", view=True),
    _fn("issuerSequence", "address token", "uint64 sequence", view=True),
    _fn("issuerActionFailed", "address token, uint64 sequence", "bool failed", view=True),
    {
        **_fn("issuerActionScheduled", "address token, uint64 sequence", view=True),
        "outputs": [
            {
                "name": "d",
                "type": "tuple",
                "internalType": "struct IssuerModule.Scheduled",
                "components": [
                    {"name": "account", "type": "address"},
                    {"name": "op", "type": "uint8"},
                    {"name": "status", "type": "uint8", "internalType": "enum IssuerModule.ScheduledStatus"},
                    {"name": "executableAt", "type": "uint64"},
                    {"name": "to", "type": "address"},
                    {"name": "actionNonce", "type": "uint64"},
                    {"name": "amount", "type": "uint256"},
                    {"name": "held", "type": "uint256"},
                ],
            }
        ],
    },
    _fn("issuerHold", "address token, address account", "uint256 reserved, bool recovering", view=True),
    _fn("executeIssuerAction", "address token, uint64 sequence", "bool executed"),
    _fn("cancelIssuerAction", "address token, uint64 sequence"),
    {
        "type": "function",
        "name": "applyIssuerAction",
        "stateMutability": "nonpayable",
        "inputs": [
            {"name": "keyEpoch", "type": "uint64"},
            {
                "name": "a",
                "type": "tuple",
                "internalType": "struct IssuerModule.IssuerAction",
                "components": [
                    {"name": "token", "type": "address"},
                    {"name": "sequence", "type": "uint64"},
                    {"name": "op", "type": "uint8"},
                    {"name": "account", "type": "address"},
                    {"name": "to", "type": "address"},
                    {"name": "amount", "type": "uint256"},
                    {"name": "asOf", "type": "uint64"},
                ],
            },
            {"name": "signature", "type": "bytes"},
        ],
        "outputs": [{"name": "applied", "type": "bool"}],
    },
]

# IssuerRegistry on the consortium chain: the issuer's register of record, and its one event
ISSUER_REGISTRY_ABI: list[dict[str, Any]] = [
    _fn("sequenceOf", "address asset", "uint64 sequence", view=True),
    _fn("assetStatus", "address asset", "uint8 status", view=True),
    _fn("navOf", "address asset", "uint256 navPerUnit, uint64 asOf", view=True),
    {
        "type": "event",
        "name": "IssuerAction",
        "anonymous": False,
        "inputs": [
            {"name": "asset", "type": "address", "indexed": True},
            {"name": "sequence", "type": "uint64", "indexed": True},
            {"name": "op", "type": "uint8", "indexed": False},
            {"name": "account", "type": "address", "indexed": False},
            {"name": "to", "type": "address", "indexed": False},
            {"name": "amount", "type": "uint256", "indexed": False},
            {"name": "asOf", "type": "uint64", "indexed": False},
            {"name": "by", "type": "address", "indexed": True},
        ],
    },
]

# WrappedToken: the asset's status and NAV as carried to it
TOKEN_ASSET_ABI: list[dict[str, Any]] = [
    _fn("assetStatus", "", "uint8 status", view=True),
    _fn("nav", "", "uint256 navPerUnit, uint64 asOf", view=True),
]


# The creation code of the UnexecutedCounts reader (contracts/src/reader/UnexecutedCounts.sol, as
# forge compiles it; a test holds the two equal). Never deployed: run by `eth_call` without a `to`
# address with its constructor's arguments appended, it returns `unexecutedCount` of many ranges
# in one call (relayer.adapters.chain.unexecuted_counts_call).
UNEXECUTED_COUNTS_CODE = bytes.fromhex(
    "608060405234801561000f575f5ffd5b5060405161037938038061037983398101604081905261002e916102"
    "02565b5f81516001600160401b038111156100485761004861017b565b604051908082528060200260200182"
    "016040528015610071578160200160208202803683370190505b5090505f5b825181101561014f575f838281"
    "5181106100925761009261030b565b60209081029190910181015180519181015160408083015190516319c3"
    "6a1b60e31b815260048101949094526001600160401b03918216602485015216604483015291506001600160"
    "a01b0386169063ce1b50d890606401602060405180830381865afa158015610105573d5f5f3e3d5ffd5b5050"
    "50506040513d601f19601f82011682018060405250810190610129919061031f565b83838151811061013b57"
    "61013b61030b565b602090810291909101015250600101610076565b505f8160405160200161016291906103"
    "36565b6040516020818303038152906040529050805160208201f35b634e487b7160e01b5f52604160045260"
    "245ffd5b604051606081016001600160401b03811182821017156101b1576101b161017b565b60405290565b"
    "604051601f8201601f191681016001600160401b03811182821017156101df576101df61017b565b60405291"
    "9050565b80516001600160401b03811681146101fd575f5ffd5b919050565b5f5f6040838503121561021357"
    "5f5ffd5b82516001600160a01b0381168114610229575f5ffd5b60208401519092506001600160401b038111"
    "15610244575f5ffd5b8301601f81018513610254575f5ffd5b80516001600160401b0381111561026d576102"
    "6d61017b565b61027c60208260051b016101b7565b8082825260208201915060206060840285010192508783"
    "111561029d575f5ffd5b6020840193505b828410156102fd57606084890312156102bb575f5ffd5b6102c361"
    "018f565b845181526102d3602086016101e7565b60208201526102e4604086016101e7565b60408201528252"
    "606093909301926020909101906102a4565b809450505050509250929050565b634e487b7160e01b5f526032"
    "60045260245ffd5b5f6020828403121561032f575f5ffd5b5051919050565b60208082528251828201819052"
    "5f918401906040840190835b8181101561036d57835183526020938401939092019160010161034f565b5090"
    "9594505050505056fe"
)
