// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {BridgeFixture} from "./lib/BridgeFixture.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";
import {QiaoGateway} from "../src/QiaoGateway.sol";
import {QiaoVault} from "../src/QiaoVault.sol";
import {WrappedToken} from "../src/WrappedToken.sol";
import {KycRegistry} from "../src/KycRegistry.sol";
import {TestAsset} from "../src/TestAsset.sol";

/// @dev A token that names the gateway as its own but answers the batch mint as told: the
///      gateway must refuse every report that does not fit the batch.
contract LyingToken {
    address public immutable gateway;
    uint256 public mode;

    constructor(address gateway_) {
        gateway = gateway_;
    }

    function setMode(uint256 mode_) external {
        mode = mode_;
    }

    function mintBatchChecked(address[] calldata to, uint256[] calldata)
        external
        view
        returns (uint8 outcome, uint256[] memory refused)
    {
        uint256 words = (to.length + 255) >> 8;
        if (mode == 0) return (0, new uint256[](words)); // well formed: all minted
        if (mode == 1) return (0, new uint256[](words + 1)); // a word too many
        if (mode == 2) return (0, new uint256[](0)); // no word
        if (mode == 3) {
            refused = new uint256[](words);
            refused[words - 1] = uint256(1) << (to.length & 0xff); // a bit past the batch
            return (0, refused);
        }
        if (mode == 4) return (7, new uint256[](words)); // an unknown outcome
        if (mode == 5) return (2, new uint256[](words)); // "frozen" yet some bits clear
        revert("lying token: no");
    }

    function mintChecked(address, uint256) external pure returns (uint8) {
        return 0;
    }

    /// @dev Active (the gateway reads it before delivering: a suspended asset's transfers wait).
    function assetStatus() external pure returns (uint8) {
        return 0;
    }
}

/// @dev A registry whose batched answer has the wrong length.
contract ShortRegistry {
    function allowedMask(address[] calldata) external pure returns (uint256[] memory mask) {
        return new uint256[](0);
    }

    function isAllowed(address) external pure returns (bool) {
        return true;
    }
}

/// @notice The packed calldata form of executeBatch and the one-call batch delivery: every
///         malformed header, index and value, misbehaving tokens and registries, and the paths
///         (fresh, partly consumed, mixed pairs, failures) all keep the eight-field semantics.
contract PackedBatchTest is BridgeFixture {
    event TransferExecuted(uint256 indexed srcChainId, uint64 indexed nonce, address recipient, uint256 amount);

    function _signed(uint256 n) internal returns (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) {
        ts = lockMany(n);
        sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
    }

    // ---------------------------------------------------------------- header and shape

    function test_packed_rejectsEmptyBatch() public {
        vm.chainId(CHAIN_E);
        QiaoEndpoint.PackedBatch memory b = pack(new QiaoEndpoint.Transfer[](0));
        b.srcChainId = CHAIN_C;
        b.dstChainId = CHAIN_E;
        b.firstNonce = 1;
        b.pairs = new QiaoEndpoint.TokenPair[](1);
        b.pairs[0] = QiaoEndpoint.TokenPair(address(asset), address(wrapped));
        vm.expectRevert(QiaoEndpoint.EmptyBatch.selector);
        gateway.executeBatch(EPOCH, b, G1_GENERATOR);
        vm.expectRevert(QiaoEndpoint.EmptyBatch.selector);
        gateway.batchMessage(EPOCH, b);
    }

    function test_packed_rejectsPairIndexLengthMismatch() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(3);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        b.pairOf = new bytes(2);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PairIndexLengthMismatch.selector, 3, 2));
        gateway.executeBatch(EPOCH, b, sig);
        b.pairOf = new bytes(4);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PairIndexLengthMismatch.selector, 3, 4));
        gateway.executeBatch(EPOCH, b, sig);
        b.pairOf = "";
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PairIndexLengthMismatch.selector, 3, 0));
        gateway.batchMessage(EPOCH, b);
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 1));
    }

    function test_packed_rejectsNoPairOrTooManyPairs() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(1);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        b.pairs = new QiaoEndpoint.TokenPair[](0);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidPairCount.selector, 0));
        gateway.executeBatch(EPOCH, b, sig);
        b.pairs = new QiaoEndpoint.TokenPair[](257);
        for (uint256 k; k < 257; ++k) {
            b.pairs[k] = QiaoEndpoint.TokenPair(address(asset), address(wrapped));
        }
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.InvalidPairCount.selector, 257));
        gateway.executeBatch(EPOCH, b, sig);
    }

    function test_packed_rejectsPairIndexOutOfRange() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(3);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        b.pairOf[2] = 0x01; // the batch has one pair, index 0
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PairIndexOutOfRange.selector, 2, 1));
        gateway.executeBatch(EPOCH, b, sig);
        b.pairOf[2] = 0xff;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.PairIndexOutOfRange.selector, 2, 255));
        gateway.batchMessage(EPOCH, b);
    }

    function test_packed_unusedOrDuplicatePairsChangeNothing() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(2);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        // an extra, unregistered pair that no transfer uses: the pair table is not signed (the
        // leaves are), and an unregistered pair only fails the transfers that use it: none here
        QiaoEndpoint.TokenPair[] memory two = new QiaoEndpoint.TokenPair[](2);
        two[0] = b.pairs[0];
        two[1] = QiaoEndpoint.TokenPair(address(0xBAD), address(wrapped));
        b.pairs = two;
        gateway.executeBatch(EPOCH, b, sig);
        vm.assertEq(wrapped.balanceOf(bob), 3 ether);
        // the registered pair twice, the second one used: same leaves, same signature, delivered
        (ts, sig) = _signed(2);
        b = pack(ts);
        two = new QiaoEndpoint.TokenPair[](2);
        two[0] = b.pairs[0];
        two[1] = b.pairs[0];
        b.pairs = two;
        b.pairOf[1] = 0x01;
        gateway.executeBatch(EPOCH, b, sig);
        vm.assertEq(wrapped.balanceOf(bob), 6 ether);
    }

    function test_packed_rejectsZeroValues() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(2);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        // zero token addresses in the pair, or a zero source chain, even when signed: no such
        // pair is registered, so each transfer is recorded as failed and nothing is minted
        for (uint256 k; k < 3; ++k) {
            (QiaoEndpoint.Transfer[] memory z,) = _signed(2);
            for (uint256 i; i < z.length; ++i) {
                if (k == 0) z[i].dstToken = address(0);
                if (k == 1) z[i].srcToken = address(0);
                if (k == 2) z[i].srcChainId = 0;
            }
            bytes memory zsig = signForGateway(z);
            vm.chainId(CHAIN_E);
            vm.expectEmit(address(gateway));
            emit QiaoEndpoint.TransferFailed(
                z[0].srcChainId, z[0].nonce, QiaoEndpoint.FailureReason.UnregisteredTokenPair
            );
            gateway.executeBatch(EPOCH, pack(z), zsig);
            vm.assertEq(
                uint8(gateway.transferStatus(z[1].srcChainId, z[1].nonce)), uint8(QiaoEndpoint.TransferStatus.Failed)
            );
            vm.assertEq(wrapped.totalSupply(), 0);
        }
        // zero recipient, zero amount, amount above 2^128 - 1 (each in transfer 1 = nonce 2)
        b.transfers[1].recipient = address(0);
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TransferZeroRecipient.selector, CHAIN_C, 2));
        gateway.executeBatch(EPOCH, b, sig);
        b.transfers[1].recipient = bob;
        b.transfers[1].amount = 0;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TransferZeroAmount.selector, CHAIN_C, 2));
        gateway.executeBatch(EPOCH, b, sig);
        b.transfers[1].amount = uint256(type(uint128).max) + 1;
        vm.expectRevert(abi.encodeWithSelector(QiaoEndpoint.TransferAmountTooLarge.selector, CHAIN_C, 2));
        gateway.executeBatch(EPOCH, b, sig);
        // a zero first nonce
        b.transfers[1].amount = 2 ether;
        b.firstNonce = 0;
        vm.expectRevert(QiaoEndpoint.ZeroNonce.selector);
        gateway.executeBatch(EPOCH, b, sig);
        b.firstNonce = 1;
        gateway.executeBatch(EPOCH, b, sig);
        vm.assertEq(wrapped.balanceOf(bob), 3 ether);
    }

    function test_packed_rejectsDirtyAddressWords() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(2);
        bytes memory call = abi.encodeCall(QiaoEndpoint.executeBatch, (EPOCH, pack(ts), sig));
        // Head: selector, keyEpoch, offset of batch, offset of signature. The batch at 4 + 0x60:
        // srcChainId, dstChainId, firstNonce, offsets of pairs, pairOf, transfers; then the data.
        uint256 batchAt = 4 + 0x60;
        uint256 pairsAt = batchAt + _word(call, batchAt + 0x60) + 0x20; // first pair's srcToken
        uint256 transfersAt = batchAt + _word(call, batchAt + 0xa0) + 0x20; // transfer 0's sender
        uint256[5] memory spots = [pairsAt, pairsAt + 0x20, transfersAt, transfersAt + 0x20, transfersAt + 0x80];
        uint256[5] memory index = [uint256(0), 0, 0, 0, 1];
        for (uint256 s; s < spots.length; ++s) {
            bytes memory dirty = bytes.concat(call);
            dirty[spots[s]] = 0x01; // a bit above the 160 of an address
            (bool ok, bytes memory err) = address(gateway).call(dirty);
            vm.assertFalse(ok);
            vm.assertEq(err, abi.encodeWithSelector(QiaoEndpoint.DirtyAddress.selector, index[s]));
        }
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 1));
        (bool good,) = address(gateway).call(call);
        vm.assertTrue(good);
    }

    function _word(bytes memory b, uint256 at) internal pure returns (uint256 w) {
        assembly ("memory-safe") {
            w := mload(add(add(b, 0x20), at))
        }
    }

    // ---------------------------------------------------------------- paths of the delivery

    function test_packed_partlyConsumedBatch_deliversOnlyTheNewOnes_inOneMintCall() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(5);
        // nonces 2 and 4 executed alone with proofs first
        QiaoEndpoint.Transfer[] memory a = one(ts[1]);
        QiaoEndpoint.Transfer[] memory c = one(ts[3]);
        executeOnE(a, signForGateway(a));
        executeOnE(c, signForGateway(c));
        vm.assertEq(wrapped.balanceOf(bob), 6 ether);
        vm.expectCall(address(wrapped), abi.encodeWithSelector(WrappedToken.mintBatchChecked.selector), 1);
        vm.expectEmit(address(gateway));
        emit TransferExecuted(CHAIN_C, 1, bob, 1 ether);
        vm.expectEmit(address(gateway));
        emit TransferExecuted(CHAIN_C, 3, bob, 3 ether);
        vm.expectEmit(address(gateway));
        emit TransferExecuted(CHAIN_C, 5, bob, 5 ether);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.balanceOf(bob), 15 ether);
        vm.assertEq(wrapped.totalSupply(), 15 ether);
    }

    function test_packed_failuresInsideTheBatchMint_areRecorded_andGiveTheChargeBack() public {
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, 100 ether, 1);
        address dave = address(0xDA7E); // not on E's allow-list
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](4);
        ts[0] = lockOnC(alice, bob, 1 ether);
        ts[1] = lockOnC(alice, dave, 2 ether);
        ts[2] = lockOnC(alice, carol, 3 ether);
        ts[3] = lockOnC(alice, dave, 4 ether);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, 2, QiaoEndpoint.FailureReason.RecipientNotAllowed);
        vm.expectEmit(address(gateway));
        emit QiaoEndpoint.TransferFailed(CHAIN_C, 4, QiaoEndpoint.FailureReason.RecipientNotAllowed);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.totalSupply(), 4 ether);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 4)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 3)), uint8(QiaoEndpoint.TransferStatus.Delivered));
        // charged 10 for the batch, 6 given back
        vm.assertEq(gateway.availableCapacity(address(wrapped), QiaoEndpoint.Direction.Inbound), 96 ether);
    }

    function test_packed_frozenTokenFailsTheWholeBatch() public {
        (QiaoEndpoint.Transfer[] memory ts, bytes memory sig) = _signed(300); // two bitmap words
        vm.prank(owner);
        wrapped.setFrozen(true);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(wrapped.totalSupply(), 0);
        for (uint64 nonce = 1; nonce <= 300; nonce += 37) {
            vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, nonce)), uint8(QiaoEndpoint.TransferStatus.Failed));
        }
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 300)), uint8(QiaoEndpoint.TransferStatus.Failed));
    }

    function test_packed_mixedPairs_goTransferByTransfer_withTheRightTokens() public {
        // A second asset on C paired with a second wrapped token on E.
        vm.chainId(CHAIN_C);
        TestAsset asset2 = new TestAsset("Second", "SND", owner);
        vm.chainId(CHAIN_E);
        WrappedToken wrapped2 = new WrappedToken("W2", "W2", address(gateway), registryE, owner);
        vm.chainId(CHAIN_C);
        vm.prank(owner);
        vault.registerToken(CHAIN_E, address(asset2), address(wrapped2));
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.registerToken(CHAIN_C, address(wrapped2), address(asset2));
        vm.prank(owner);
        asset2.mint(alice, 10 ether);
        vm.prank(alice);
        asset2.approve(address(vault), type(uint256).max);

        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        ts[0] = lockOnC(alice, bob, 1 ether);
        vm.chainId(CHAIN_C);
        vm.prank(alice);
        uint64 nonce = vault.lock(address(asset2), CHAIN_E, carol, 2 ether);
        ts[1] = QiaoEndpoint.Transfer(
            CHAIN_C, CHAIN_E, nonce, address(asset2), address(wrapped2), alice, carol, 2 ether
        );
        ts[2] = lockOnC(alice, bob, 3 ether);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        vm.assertEq(b.pairs.length, 2);
        vm.assertEq(uint8(b.pairOf[1]), 1);
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        vm.assertEq(gateway.batchMessage(EPOCH, b), refMessage(CHAIN_C, CHAIN_E, address(gateway), EPOCH, ts));
        gateway.executeBatch(EPOCH, b, sig);
        vm.assertEq(wrapped.balanceOf(bob), 4 ether);
        vm.assertEq(wrapped2.balanceOf(carol), 2 ether);
        // the pair index binds the token: the same batch with the indices swapped is another batch
        vm.assertEq(wrapped.totalSupply() + wrapped2.totalSupply(), 6 ether);
        b.pairOf[1] = 0x00;
        vm.assertTrue(gateway.batchMessage(EPOCH, b) != refMessage(CHAIN_C, CHAIN_E, address(gateway), EPOCH, ts));
    }

    function test_packed_vaultUnlocksTheBatch_andFailsTheRecipientsNotAllowed() public {
        QiaoEndpoint.Transfer[] memory ts = lockMany(2);
        executeOnE(ts, signForGateway(ts));
        QiaoEndpoint.Transfer[] memory back = new QiaoEndpoint.Transfer[](3);
        back[0] = burnOnE(bob, carol, 1 ether);
        back[1] = burnOnE(bob, address(0xDEAD), 1 ether); // not allowed on C
        back[2] = burnOnE(bob, alice, 1 ether);
        bytes memory sig = signForVault(back);
        vm.chainId(CHAIN_C);
        uint256 before = asset.balanceOf(alice);
        vault.executeBatch(EPOCH, pack(back), sig);
        vm.assertEq(asset.balanceOf(carol), 1 ether);
        vm.assertEq(asset.balanceOf(alice), before + 1 ether);
        vm.assertEq(uint8(vault.transferStatus(CHAIN_E, 2)), uint8(QiaoEndpoint.TransferStatus.Failed));
        vm.assertEq(asset.balanceOf(address(vault)), 1 ether);
    }

    // ---------------------------------------------------------------- misbehaving token or registry

    function test_packed_tokenReportThatDoesNotFitTheBatch_revertsEverything() public {
        vm.chainId(CHAIN_E);
        LyingToken liar = new LyingToken(address(gateway));
        address remote = address(0x5EC0);
        vm.prank(owner);
        gateway.registerToken(CHAIN_C, address(liar), remote);
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](3);
        for (uint256 i; i < 3; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
            ts[i] = QiaoEndpoint.Transfer(CHAIN_C, CHAIN_E, uint64(i + 1), remote, address(liar), alice, bob, 1 ether);
        }
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        for (uint256 mode = 1; mode <= 5; ++mode) {
            liar.setMode(mode);
            vm.expectRevert(abi.encodeWithSelector(QiaoGateway.InvalidMintReport.selector, address(liar)));
            gateway.executeBatch(EPOCH, pack(ts), sig);
        }
        liar.setMode(6);
        vm.expectRevert(bytes("lying token: no"));
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertFalse(gateway.isExecuted(CHAIN_C, 1));
        // a well-formed report is believed: all consumed and delivered
        liar.setMode(0);
        gateway.executeBatch(EPOCH, pack(ts), sig);
        vm.assertEq(uint8(gateway.transferStatus(CHAIN_C, 3)), uint8(QiaoEndpoint.TransferStatus.Delivered));
    }

    function test_packed_registryReplyOfTheWrongLength_isRefusedByTokenAndVault() public {
        ShortRegistry short = new ShortRegistry();
        vm.chainId(CHAIN_E);
        QiaoGateway g = new QiaoGateway(owner, guardian, groupPk, KycRegistry(address(short)), ACTION_DELAY);
        WrappedToken w = new WrappedToken("W", "W", address(g), KycRegistry(address(short)), owner);
        address[] memory to = new address[](1);
        to[0] = bob;
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 1;
        vm.prank(address(g));
        vm.expectRevert(WrappedToken.InvalidRegistryReply.selector);
        w.mintBatchChecked(to, amounts);

        vm.chainId(CHAIN_C);
        QiaoVault v = new QiaoVault(owner, guardian, groupPk, KycRegistry(address(short)), ACTION_DELAY);
        vm.prank(owner);
        v.registerToken(CHAIN_E, address(asset), address(wrapped));
        vm.prank(owner);
        asset.mint(address(v), 1 ether);
        QiaoEndpoint.Transfer[] memory back = one(
            QiaoEndpoint.Transfer(CHAIN_E, CHAIN_C, 1, address(wrapped), address(asset), bob, carol, 1 ether)
        );
        bytes memory sig = signFor(GROUP_SK, address(v), CHAIN_C, EPOCH, back);
        vm.expectRevert(QiaoVault.InvalidRegistryReply.selector);
        v.executeBatch(EPOCH, pack(back), sig);
        vm.assertFalse(v.isExecuted(CHAIN_E, 1));
    }

    // ---------------------------------------------------------------- the token's and registry's batch calls

    function test_mintBatchChecked_onlyGateway_lengths_andRefusals() public {
        address[] memory to = new address[](3);
        to[0] = bob;
        to[1] = address(0xDA7E); // not allowed
        to[2] = carol;
        uint256[] memory amounts = new uint256[](3);
        amounts[0] = 1;
        amounts[1] = 2;
        amounts[2] = 3;
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.OnlyGateway.selector, alice));
        wrapped.mintBatchChecked(to, amounts);
        vm.startPrank(address(gateway));
        vm.expectRevert(WrappedToken.EmptyMint.selector);
        wrapped.mintBatchChecked(new address[](0), new uint256[](0));
        vm.expectRevert(abi.encodeWithSelector(WrappedToken.LengthMismatch.selector, 3, 2));
        wrapped.mintBatchChecked(to, new uint256[](2));
        (uint8 outcome, uint256[] memory refused) = wrapped.mintBatchChecked(to, amounts);
        vm.assertEq(outcome, wrapped.MINTED());
        vm.assertEq(refused.length, 1);
        vm.assertEq(refused[0], 2); // bit 1
        vm.assertEq(wrapped.balanceOf(bob), 1);
        vm.assertEq(wrapped.balanceOf(carol), 3);
        vm.assertEq(wrapped.totalSupply(), 4);
        vm.stopPrank();
        vm.prank(owner);
        wrapped.setFrozen(true);
        vm.prank(address(gateway));
        (outcome, refused) = wrapped.mintBatchChecked(to, amounts);
        vm.assertEq(outcome, wrapped.TOKEN_FROZEN());
        vm.assertEq(refused[0], 7);
        vm.assertEq(wrapped.totalSupply(), 4);
    }

    function test_mintBatchChecked_rejectsDirtyAddressWords() public {
        address[] memory to = new address[](1);
        to[0] = bob;
        uint256[] memory amounts = new uint256[](1);
        amounts[0] = 1;
        bytes memory call = abi.encodeCall(WrappedToken.mintBatchChecked, (to, amounts));
        call[4 + 0x60] = 0x01; // to[0]: selector, two offsets, length, then the word
        vm.prank(address(gateway));
        (bool ok,) = address(wrapped).call(call);
        vm.assertFalse(ok);
        vm.assertEq(wrapped.totalSupply(), 0);
    }

    function testFuzz_allowedMask_agreesWithIsAllowed(uint256 seed, uint16 rawCount) public {
        uint256 n = bound(rawCount, 1, 600);
        address[] memory accounts = new address[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            // a few repeated addresses, the zero address now and then
            accounts[i] = r % 17 == 0 ? address(0) : address(uint160(0x1000 + (r >> 8) % (n + 3)));
            if (r % 3 == 0 && accounts[i] != address(0)) {
                vm.prank(owner);
                registryE.setAllowed(accounts[i], true);
            }
            if (r % 5 == 0 && accounts[i] != address(0)) {
                vm.prank(owner);
                registryE.setFrozen(accounts[i], true);
            }
        }
        uint256[] memory mask = registryE.allowedMask(accounts);
        vm.assertEq(mask.length, (n + 255) / 256);
        for (uint256 i; i < n; ++i) {
            bool bit = (mask[i / 256] >> (i % 256)) & 1 == 1;
            vm.assertEq(bit, registryE.isAllowed(accounts[i]));
        }
        if (n % 256 != 0) vm.assertEq(mask[mask.length - 1] >> (n % 256), 0);
    }

    function test_allowedMask_emptyAndDirty() public {
        vm.assertEq(registryE.allowedMask(new address[](0)).length, 0);
        address[] memory one_ = new address[](1);
        one_[0] = bob;
        bytes memory call = abi.encodeCall(KycRegistry.allowedMask, (one_));
        call[4 + 0x40] = 0x01;
        (bool ok,) = address(registryE).staticcall(call);
        vm.assertFalse(ok);
    }

    // ---------------------------------------------------------------- gas at 100 (execution only)

    function test_gas_packedBatchOf100FreshHolders() public {
        QiaoEndpoint.Transfer[] memory ts = new QiaoEndpoint.Transfer[](100);
        for (uint256 i; i < 100; ++i) {
            // forge-lint: disable-next-line(unsafe-typecast) -- test values are small
            address to = address(uint160(0x2000 + i));
            allowBoth(to);
            ts[i] = lockOnC(alice, to, 1 ether);
        }
        bytes memory sig = signForGateway(ts);
        QiaoEndpoint.PackedBatch memory b = pack(ts);
        vm.chainId(CHAIN_E);
        uint256 before = gasleft();
        gateway.executeBatch(EPOCH, b, sig);
        uint256 used = before - gasleft();
        emit log_named_uint("executeBatch gas, 100 fresh holders (no calldata, no base)", used);
        // the receipt adds 21,000 and ~1,000 of calldata per transfer; keep execution well below 33,000 each
        vm.assertLt(used, 3_300_000);
    }
}
