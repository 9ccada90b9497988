// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BridgeFixture} from "./lib/BridgeFixture.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {QiaoGateway} from "../src/QiaoGateway.sol";
import {KycRegistry} from "../src/KycRegistry.sol";
import {QiaoVault} from "../src/QiaoVault.sol";
import {WrappedToken} from "../src/WrappedToken.sol";
import {TestAsset} from "../src/TestAsset.sol";

/// @notice Round trips in both directions, batches of many sizes, and the signed-message encoding.
contract BridgeFlowTest is BridgeFixture {
    event TransferInitiated(
        uint256 indexed dstChainId,
        uint64 indexed nonce,
        address indexed sender,
        address srcToken,
        address dstToken,
        address recipient,
        uint256 amount
    );
    event TransferExecuted(uint256 indexed srcChainId, uint64 indexed nonce, address recipient, uint256 amount);
    event BatchExecuted(uint256 indexed srcChainId, uint64 firstNonce, uint64 lastNonce, bytes32 root, uint64 keyEpoch);

    function test_deployment_state() public view {
        vm.assertEq(vault.currentKeyEpoch(), 1);
        vm.assertEq(gateway.currentKeyEpoch(), 1);
        vm.assertEq(vault.groupKey(1), groupPk);
        vm.assertEq(gateway.groupKey(1), groupPk);
        vm.assertEq(vault.nextNonce(CHAIN_E), 1);
        vm.assertEq(gateway.nextNonce(CHAIN_C), 1);
        vm.assertEq(vault.owner(), owner);
        vm.assertEq(vault.remoteTokenOf(CHAIN_E, address(asset)), address(wrapped));
        vm.assertEq(vault.localTokenOf(CHAIN_E, address(wrapped)), address(asset));
        vm.assertEq(gateway.remoteTokenOf(CHAIN_C, address(wrapped)), address(asset));
        vm.assertEq(gateway.localTokenOf(CHAIN_C, address(asset)), address(wrapped));
        vm.assertEq(wrapped.gateway(), address(gateway));
        vm.assertEq(wrapped.decimals(), 18);
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 1));
        vm.assertEq(vault.VERSION(), "QIAO-V1");
    }

    function test_groupKey_unknownEpochReverts() public {
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnknownKeyEpoch.selector, 2));
        vault.groupKey(2);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.UnknownKeyEpoch.selector, 0));
        vault.groupKey(0);
    }

    function test_typehashes_matchProtocol() public view {
        vm.assertEq(
            vault.TRANSFER_TYPEHASH(),
            keccak256(
                "QiaoTransfer(uint256 srcChainId,uint256 dstChainId,uint64 nonce,address srcToken,address dstToken,address sender,address recipient,uint256 amount)"
            )
        );
        vm.assertEq(
            vault.BATCH_TYPEHASH(),
            keccak256(
                "QiaoBatch(string version,uint256 srcChainId,uint256 dstChainId,address dstContract,uint64 keyEpoch,uint64 firstNonce,uint64 lastNonce,bytes32 root)"
            )
        );
    }

    // ---------------------------------------------------------------- C -> E

    function test_lock_emitsAndHolds() public {
        vm.chainId(CHAIN_C);
        vm.expectEmit(address(vault));
        emit TransferInitiated(CHAIN_E, 1, alice, address(asset), address(wrapped), bob, 5 ether);
        vm.prank(alice);
        uint64 nonce = vault.lock(address(asset), CHAIN_E, bob, 5 ether);
        vm.assertEq(nonce, 1);
        vm.assertEq(vault.nextNonce(CHAIN_E), 2);
        vm.assertEq(asset.balanceOf(address(vault)), 5 ether);
        vm.assertEq(asset.balanceOf(alice), 1_000_000 ether - 5 ether);
    }

    function test_roundTrip_CtoE_thenEtoC() public {
        // C -> E: lock then mint.
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 7 ether));
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit TransferExecuted(CHAIN_C, 1, bob, 7 ether);
        vm.expectEmit(address(gateway));
        emit BatchExecuted(CHAIN_C, 1, 1, refLeaf(ts[0]), EPOCH);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.balanceOf(bob), 7 ether);
        vm.assertEq(wrapped.totalSupply(), 7 ether);
        vm.assertTrue(gateway.isExecuted(CHAIN_C, 1));
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 2));

        // E -> C: burn then unlock.
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit TransferInitiated(CHAIN_C, 1, bob, address(wrapped), address(asset), carol, 3 ether);
        QiaoEndpoint.Transfer[] memory back = one(burnOnE(bob, carol, 3 ether));
        vm.assertEq(back[0].nonce, 1);
        vm.assertEq(wrapped.balanceOf(bob), 4 ether);
        vm.assertEq(wrapped.totalSupply(), 4 ether);
        vm.assertEq(gateway.nextNonce(CHAIN_C), 2);

        bytes memory sigBack = signForVault(back);
        vm.chainId(CHAIN_C);
        vm.expectEmit(address(vault));
        emit TransferExecuted(CHAIN_E, 1, carol, 3 ether);
        vault.executeBatch(EPOCH, pack(back), sigBack);
        vm.assertEq(asset.balanceOf(carol), 3 ether);
        vm.assertEq(asset.balanceOf(address(vault)), 4 ether);
        vm.assertTrue(vault.isExecuted(CHAIN_E, 1));
        // Supply invariant S3: wrapped supply on E == locked on C.
        vm.assertEq(wrapped.totalSupply(), asset.balanceOf(address(vault)));
    }

    function test_batchMessage_matchesReference() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(5);
        vm.chainId(CHAIN_E);
        vm.assertEq(gateway.batchMessage(EPOCH, pack(ts)), refMessage(CHAIN_C, CHAIN_E, address(gateway), EPOCH, ts));
        vm.assertEq(gateway.batchMessage(7, pack(ts)), refMessage(CHAIN_C, CHAIN_E, address(gateway), 7, ts));
    }

    function test_batchMessage_singleTransferRootIsLeaf() public {
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, 1 ether));
        vm.assertEq(refRootOf(ts), refLeaf(ts[0]));
        bytes memory sig = signForGateway(ts);
        // BatchExecuted carries root = leaf for a batch of one.
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit BatchExecuted(CHAIN_C, 1, 1, refLeaf(ts[0]), EPOCH);
        gateway.executeBatch(EPOCH, pack(ts), sig);
    }

    function test_batchSizes_1_2_3_5_7() public {
        uint256[5] memory sizes = [uint256(1), 2, 3, 5, 7];
        uint256 minted;
        uint64 next = 1;
        for (uint256 s; s < sizes.length; ++s) {
            uint256 n = sizes[s];
            QiaoEndpoint.Transfer[] memory ts = lockMany(n);
            vm.assertEq(ts[0].nonce, next);
            bytes memory sig = signForGateway(ts);
            vm.chainId(CHAIN_E);
            vm.expectEmit(address(gateway));
            // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
            emit BatchExecuted(CHAIN_C, next, uint64(next + n - 1), refRootOf(ts), EPOCH);
            gateway.executeBatch(EPOCH, pack(ts), sig);
            for (uint256 i; i < n; ++i) {
                vm.assertTrue(gateway.isExecuted(CHAIN_C, ts[i].nonce));
                minted += ts[i].amount;
            }
            // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
            next += uint64(n);
            vm.assertEq(wrapped.balanceOf(bob), minted);
        }
        vm.assertFalse(gateway.isExecuted(CHAIN_C, next));
        vm.assertEq(wrapped.totalSupply(), asset.balanceOf(address(vault)));
    }

    function test_batch_acrossBitmapWordBoundary() public {
        // Nonces 250..262 straddle bitmap words 0 and 1.
        lockMany(249);
        QiaoEndpoint.Transfer[] memory ts = lockMany(13);
        vm.assertEq(ts[0].nonce, 250);
        executeOnE(ts, signForGateway(ts));
        for (uint256 i; i < ts.length; ++i) {
            vm.assertTrue(gateway.isExecuted(CHAIN_C, ts[i].nonce));
        }
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 249));
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 263));
    }

    function test_batches_outOfOrderAreFine() public {
        // Executing a later range first is allowed: each nonce is executed at most once.
        QiaoEndpoint.Transfer[] memory a = lockMany(2);
        QiaoEndpoint.Transfer[] memory b = lockMany(3);
        executeOnE(b, signForGateway(b));
        executeOnE(a, signForGateway(a));
        vm.assertEq(wrapped.balanceOf(bob), 9 ether);
    }

    function test_nonces_independentPerDestination() public {
        address other = address(new TestAsset("Other", "OTH", owner));
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(77, address(asset), other);
        lockOnC(alice, bob, 1 ether);
        lockOnC(alice, bob, 1 ether);
        vm.prank(alice);
        uint64 n77 = vault.lock(address(asset), 77, bob, 1 ether);
        vm.assertEq(n77, 1);
        vm.assertEq(vault.nextNonce(CHAIN_E), 3);
        vm.assertEq(vault.nextNonce(77), 2);
    }

    function testFuzz_lockAndMint(uint256 amount) public {
        amount = bound(amount, 1, 1_000_000 ether);
        QiaoEndpoint.Transfer[] memory ts = one(lockOnC(alice, bob, amount));
        vm.assertEq(asset.balanceOf(address(vault)), amount);
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(wrapped.balanceOf(bob), amount);
        QiaoEndpoint.Transfer[] memory back = one(burnOnE(bob, carol, amount));
        executeOnC(back, signForVault(back));
        vm.assertEq(asset.balanceOf(carol), amount);
        vm.assertEq(asset.balanceOf(address(vault)), 0);
        vm.assertEq(wrapped.totalSupply(), 0);
    }

    function testFuzz_batchSize(uint8 rawSize, uint256 seed) public {
        uint256 n = bound(rawSize, 1, 24);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](n);
        uint256 total;
        for (uint256 i; i < n; ++i) {
            uint256 amount = bound(uint256(keccak256(abi.encode(seed, i))), 1, 1000 ether);
            address to = address(uint160(uint256(keccak256(abi.encode(seed, i, "to"))) | 1));
            allowBoth(to);
            ts[i] = lockOnC(alice, to, amount);
            total += amount;
        }
        vm.chainId(CHAIN_E);
        vm.assertEq(gateway.batchMessage(EPOCH, pack(ts)), refMessage(CHAIN_C, CHAIN_E, address(gateway), EPOCH, ts));
        executeOnE(ts, signForGateway(ts));
        vm.assertEq(wrapped.totalSupply(), total);
        vm.assertEq(asset.balanceOf(address(vault)), total);
        for (uint256 i; i < n; ++i) {
            vm.assertTrue(gateway.isExecuted(CHAIN_C, ts[i].nonce));
        }
    }

    /// @dev Gas of executeBatch for a batch of `n` fresh transfers (storage of the gateway cold).
    function _measureExecute(uint256 n) internal {
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](n);
        for (uint256 i; i < n; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
            allowBoth(address(uint160(0x1000 + i)));
            // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
            ts[i] = lockOnC(alice, address(uint160(0x1000 + i)), 1 ether);
        }
        bytes memory sig = signForGateway(ts);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        vm.chainId(CHAIN_E);
        uint256 before = gasleft();
        gateway.executeBatch(EPOCH, b, sig);
        emit log_named_uint(string.concat("executeBatch gas, n=", vm.toString(n)), before - gasleft());
    }

    function test_gas_executeBatch_1() public {
        _measureExecute(1);
    }

    function test_gas_executeBatch_10() public {
        _measureExecute(10);
    }

    function test_gas_executeBatch_100() public {
        _measureExecute(100);
    }

    function test_gas_lock() public {
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        uint256 before = gasleft();
        vault.lock(address(asset), CHAIN_E, bob, 1 ether);
        emit log_named_uint("lock gas (first on route)", before - gasleft());
    }
}

/// @notice The signed message for a fixed batch, computed independently with Python eth_abi
///         (docs/PROTOCOL.md); pins the byte layout across languages.
contract ProtocolVectorTest is BridgeFixture {
    function setUp() public override {
        // batchMessage reads no storage, so the gateway's code placed at the address the Python
        // vector was computed for behaves as a gateway deployed there.
        vm.chainId(CHAIN_E);
        registryE = new KycRegistry(owner);
        QiaoGateway deployed = new QiaoGateway(owner, guardian, blsPublicKey(GROUP_SK), registryE, ACTION_DELAY);
        vm.etch(PY_GATEWAY, address(deployed).code);
        gateway = QiaoGateway(PY_GATEWAY);
    }

    address internal constant PY_GATEWAY = 0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f;

    function test_batchMessage_pythonVector() public view {
        vm.assertEq(address(gateway), 0x5615dEB798BB3E4dFa0139dFa1b3D433Cc23b72f);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        for (uint256 i; i < 3; ++i) {
            ts[i] = QiaoEndpoint.Transfer({
                srcChainId: CHAIN_C,
                dstChainId: CHAIN_E,
                // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
                nonce: uint64(5 + i),
                srcToken: address(0x1111111111111111111111111111111111111111),
                dstToken: address(0x2222222222222222222222222222222222222222),
                sender: address(0x3333333333333333333333333333333333333333),
                recipient: address(0x4444444444444444444444444444444444444444),
                amount: (i + 1) * 1e18
            });
        }
        vm.assertEq(gateway.batchMessage(3, pack(ts)), PY_MESSAGE);
        vm.assertEq(refRootOf(ts), PY_ROOT);
    }

    // Computed once with Python (eth_abi.encode + eth_utils.keccak, .venv), following PROTOCOL.md
    // literally: leaves over abi.encode(TRANSFER_TYPEHASH, ...), pairwise root with odd carry, and
    // abi.encode(BATCH_TYPEHASH, "QIAO-V1", 4242, 11155111, 0x5615..b72f, 3, 5, 7, root).
    bytes32 internal constant PY_ROOT = 0xe6bfc4c1f30ea737d3dd3999e111ca8a3e7be692796e057b30ee4263bd781cbe;
    bytes32 internal constant PY_MESSAGE = 0x4a448537af63cbf1973dd2717c7e88e678ef1e6602a6253f54eb0ded65627d48;
}
