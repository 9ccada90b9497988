// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {QiaoTest} from "./QiaoTest.sol";
import {QiaoEndpoint} from "../../src/QiaoEndpoint.sol";
import {QiaoVault} from "../../src/QiaoVault.sol";
import {QiaoGateway} from "../../src/QiaoGateway.sol";
import {WrappedToken} from "../../src/WrappedToken.sol";
import {TestAsset} from "../../src/TestAsset.sol";
import {KycRegistry} from "../../src/KycRegistry.sol";

/// @title BridgeFixture
/// @notice Both endpoints in one EVM: the vault "on C" and the gateway "on E". Chain ids are switched
///         with vm.chainId before each call, since the contracts read block.chainid at run time.
///         Also an independent reference implementation of the signed message (docs/PROTOCOL.md),
///         written differently from the contract's, to cross-check it.
abstract contract BridgeFixture is QiaoTest {
    uint256 internal constant CHAIN_C = 4242;
    uint256 internal constant CHAIN_E = 11155111;
    uint64 internal constant EPOCH = 1;
    /// @dev The delay of a committee-signed RESUME or ROTATE in the tests.
    uint64 internal constant ACTION_DELAY = 1 hours;

    address internal owner = address(0x0A11CE);
    address internal alice = address(0xA1);
    address internal bob = address(0xB0B);
    address internal carol = address(0xCA401);
    address internal guardian = address(0x6A4D);

    KycRegistry internal registryC;
    KycRegistry internal registryE;

    QiaoVault internal vault;
    QiaoGateway internal gateway;
    TestAsset internal asset;
    WrappedToken internal wrapped;
    bytes internal groupPk;

    function setUp() public virtual {
        groupPk = blsPublicKey(GROUP_SK);
        registryC = new KycRegistry(owner);
        registryE = new KycRegistry(owner);
        vm.chainId(CHAIN_C);
        vault = newVault(groupPk);
        asset = new TestAsset("Consortium Bond", "CBOND", owner);
        vm.chainId(CHAIN_E);
        gateway = newGateway(groupPk);
        wrapped = new WrappedToken("Wrapped Consortium Bond", "wCBOND", address(gateway), registryE, owner);
        vm.startPrank(owner);
        registryE.grantRole(registryE.FREEZER_ROLE(), address(gateway));
        vm.stopPrank();
        allowBoth(alice);
        allowBoth(bob);
        allowBoth(carol);

        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(asset), address(wrapped));
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.registerToken(CHAIN_C, address(wrapped), address(asset));

        vm.prank(owner);
        asset.mint(alice, 1_000_000 ether);
        vm.prank(alice);
        asset.approve(address(vault), type(uint256).max);

        vm.label(address(vault), "vault");
        vm.label(address(gateway), "gateway");
        vm.label(address(asset), "asset");
        vm.label(address(wrapped), "wrapped");
    }

    function newVault(bytes memory key) internal returns (QiaoVault) {
        return new QiaoVault(owner, guardian, key, registryC, ACTION_DELAY);
    }

    function newGateway(bytes memory key) internal returns (QiaoGateway) {
        return new QiaoGateway(owner, guardian, key, registryE, ACTION_DELAY);
    }

    /// @dev Puts `who` on the allow-list of both chains.
    function allowBoth(address who) internal {
        vm.startPrank(owner);
        registryC.setAllowed(who, true);
        registryE.setAllowed(who, true);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ flows

    /// @dev Locks `amount` on C for `recipient` on E and returns the transfer as the relayer sees it.
    function lockOnC(address from, address recipient, uint256 amount)
        internal
        returns (QiaoEndpoint.Transfer memory t)
    {
        vm.chainId(CHAIN_C);
        vm.prank(from);
        uint64 nonce = vault.lock(address(asset), CHAIN_E, recipient, amount);
        t = QiaoEndpoint.Transfer({
            srcChainId: CHAIN_C,
            dstChainId: CHAIN_E,
            nonce: nonce,
            srcToken: address(asset),
            dstToken: address(wrapped),
            sender: from,
            recipient: recipient,
            amount: amount
        });
    }

    /// @dev Burns `amount` on E for `recipient` on C and returns the transfer.
    function burnOnE(address from, address recipient, uint256 amount)
        internal
        returns (QiaoEndpoint.Transfer memory t)
    {
        vm.chainId(CHAIN_E);
        vm.prank(from);
        uint64 nonce = gateway.burn(address(wrapped), CHAIN_C, recipient, amount);
        t = QiaoEndpoint.Transfer({
            srcChainId: CHAIN_E,
            dstChainId: CHAIN_C,
            nonce: nonce,
            srcToken: address(wrapped),
            dstToken: address(asset),
            sender: from,
            recipient: recipient,
            amount: amount
        });
    }

    /// @dev Locks `n` transfers (amounts 1..n ether) alice -> bob and returns them.
    function lockMany(uint256 n) internal returns (QiaoEndpoint.Transfer[] memory ts) {
        ts = new QiaoEndpoint.Transfer[](n);
        for (uint256 i; i < n; ++i) {
            ts[i] = lockOnC(alice, bob, (i + 1) * 1 ether);
        }
    }

    /// @dev The calldata form of `ts` for executeBatch (what relayer/types.py `packed_batch` makes):
    ///      source, destination and first nonce from ts[0], the distinct token pairs in order of
    ///      first appearance. It reads nothing else of the nonces and chain ids of ts[1..]: a batch
    ///      with a gap, a duplicate or mixed chains has no packed form (the signature over the
    ///      eight-field transfers then fails against the batch the contract rebuilds).
    function pack(QiaoEndpoint.Transfer[] memory ts) internal pure returns (QiaoEndpoint.PackedBatch memory b) {
        uint256 n = ts.length;
        b.transfers = new QiaoEndpoint.PackedTransfer[](n);
        b.pairOf = new bytes(n);
        QiaoEndpoint.TokenPair[] memory seen = new QiaoEndpoint.TokenPair[](n);
        uint256 pairs;
        for (uint256 i; i < n; ++i) {
            uint256 k;
            while (k < pairs && (seen[k].srcToken != ts[i].srcToken || seen[k].dstToken != ts[i].dstToken)) {
                ++k;
            }
            if (k == pairs) seen[pairs++] = QiaoEndpoint.TokenPair(ts[i].srcToken, ts[i].dstToken);
            // forge-lint: disable-next-line(unsafe-typecast) -- test batches have few pairs
            b.pairOf[i] = bytes1(uint8(k));
            b.transfers[i] = QiaoEndpoint.PackedTransfer(ts[i].sender, ts[i].recipient, ts[i].amount);
        }
        b.pairs = new QiaoEndpoint.TokenPair[](pairs);
        for (uint256 k; k < pairs; ++k) {
            b.pairs[k] = seen[k];
        }
        if (n > 0) {
            b.srcChainId = ts[0].srcChainId;
            b.dstChainId = ts[0].dstChainId;
            b.firstNonce = ts[0].nonce;
        }
    }

    function one(QiaoEndpoint.Transfer memory t) internal pure returns (QiaoEndpoint.Transfer[] memory ts) {
        ts = new QiaoEndpoint.Transfer[](1);
        ts[0] = t;
    }

    /// @dev Signs a batch for `endpoint` (on chain `dstChainId`) with `sk`, using the reference message.
    function signFor(
        uint256 sk,
        address endpoint,
        uint256 dstChainId,
        uint64 keyEpoch,
        QiaoEndpoint.Transfer[] memory ts
    ) internal view returns (bytes memory) {
        return blsSign(sk, refMessage(ts[0].srcChainId, dstChainId, endpoint, keyEpoch, ts));
    }

    /// @dev The group signature of a batch for the gateway (C -> E).
    function signForGateway(QiaoEndpoint.Transfer[] memory ts) internal view returns (bytes memory) {
        return signFor(GROUP_SK, address(gateway), CHAIN_E, EPOCH, ts);
    }

    /// @dev The group signature of a batch for the vault (E -> C).
    function signForVault(QiaoEndpoint.Transfer[] memory ts) internal view returns (bytes memory) {
        return signFor(GROUP_SK, address(vault), CHAIN_C, EPOCH, ts);
    }

    function executeOnE(QiaoEndpoint.Transfer[] memory ts, bytes memory sig) internal {
        vm.chainId(CHAIN_E);
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function executeOnC(QiaoEndpoint.Transfer[] memory ts, bytes memory sig) internal {
        vm.chainId(CHAIN_C);
        vault.executeBatch(EPOCH, pack(ts), sig);
    }

    // ------------------------------------------------------------------ reference encoding

    function refLeaf(QiaoEndpoint.Transfer memory t) internal pure returns (bytes32) {
        bytes32 typehash = keccak256(
            bytes(
                string.concat(
                    "QiaoTransfer(uint256 srcChainId,uint256 dstChainId,uint64 nonce,address srcToken,",
                    "address dstToken,address sender,address recipient,uint256 amount)"
                )
            )
        );
        return keccak256(
            bytes.concat(
                typehash,
                bytes32(t.srcChainId),
                bytes32(t.dstChainId),
                bytes32(uint256(t.nonce)),
                bytes32(uint256(uint160(t.srcToken))),
                bytes32(uint256(uint160(t.dstToken))),
                bytes32(uint256(uint160(t.sender))),
                bytes32(uint256(uint160(t.recipient))),
                bytes32(t.amount)
            )
        );
    }

    /// @dev Level by level into fresh arrays; an odd last node is carried up unchanged.
    function refRoot(bytes32[] memory level) internal pure returns (bytes32) {
        require(level.length > 0, "refRoot: empty");
        while (level.length > 1) {
            bytes32[] memory next = new bytes32[]((level.length + 1) / 2);
            for (uint256 i; i + 1 < level.length; i += 2) {
                next[i / 2] = keccak256(bytes.concat(level[i], level[i + 1]));
            }
            if (level.length % 2 == 1) next[next.length - 1] = level[level.length - 1];
            level = next;
        }
        return level[0];
    }

    function refRootOf(QiaoEndpoint.Transfer[] memory ts) internal pure returns (bytes32) {
        bytes32[] memory leaves = new bytes32[](ts.length);
        for (uint256 i; i < ts.length; ++i) {
            leaves[i] = refLeaf(ts[i]);
        }
        return refRoot(leaves);
    }

    /// @dev message = keccak256(abi.encode(BATCH_TYPEHASH, "QIAO-V1", src, dst, dstContract, epoch,
    ///      first, last, root)), with the string encoded by hand (offset word, length, padded bytes).
    function refMessage(
        uint256 srcChainId,
        uint256 dstChainId,
        address dstContract,
        uint64 keyEpoch,
        QiaoEndpoint.Transfer[] memory ts
    ) internal pure returns (bytes32) {
        bytes32 typehash = keccak256(
            bytes(
                string.concat(
                    "QiaoBatch(string version,uint256 srcChainId,uint256 dstChainId,address dstContract,",
                    "uint64 keyEpoch,uint64 firstNonce,uint64 lastNonce,bytes32 root)"
                )
            )
        );
        bytes memory head = bytes.concat(
            typehash,
            bytes32(uint256(9 * 32)), // offset of the string: right after the nine head words
            bytes32(srcChainId),
            bytes32(dstChainId),
            bytes32(uint256(uint160(dstContract))),
            bytes32(uint256(keyEpoch)),
            bytes32(uint256(ts[0].nonce)),
            bytes32(uint256(ts[ts.length - 1].nonce)),
            refRootOf(ts)
        );
        // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
        bytes memory tail = bytes.concat(bytes32(uint256(7)), bytes32("QIAO-V1"));
        return keccak256(bytes.concat(head, tail));
    }
}
