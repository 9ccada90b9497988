// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {SignedActions} from "./Features.t.sol";
import {QiaoEndpoint} from "../src/QiaoEndpoint.sol";

/// @notice Drives both endpoints through random sequences of locks, burns, relayed batches, single
///         transfers, queue releases, refunds, KYC changes, pauses, resumes, time, forged and
///         replayed signatures; keeps ghost sums of what moved.
contract BridgeHandler is SignedActions {
    uint128 internal constant INBOUND_CAPACITY = 30 ether;
    uint128 internal constant INBOUND_RATE = 1 ether;

    address internal dave = address(0xDA7E); // on C's allow-list; on E's only when toggled

    QiaoEndpoint.Transfer[] internal pendingToE;
    QiaoEndpoint.Transfer[] internal pendingToC;
    QiaoEndpoint.Transfer[] internal queuedOnE;
    QiaoEndpoint.Transfer[] internal failedOnE; // refundable on C
    QiaoEndpoint.Transfer[] internal failedOnC; // refundable on E
    QiaoEndpoint.Transfer[] public refunded;
    QiaoEndpoint.Transfer[] internal initiated; // every lock and burn, both directions
    QiaoEndpoint.Transfer[] internal lastBatch;
    bytes internal lastBatchSig;
    bool internal lastBatchToE;

    // ghost sums
    uint256 public ghostLocked;
    uint256 public ghostUnlocked;
    uint256 public ghostRefundedOnC;
    uint256 public ghostMinted;
    uint256 public ghostBurned;
    uint256 public ghostRefundedOnE;
    uint256 public ghostInboundE; // consumed from the gateway's inbound bucket (net of give-backs)
    uint256 public startTime;
    // safety counters: must stay zero
    uint256 public forgedAccepted;
    uint256 public actedWhilePaused;
    uint256 public doubleProcessed;
    uint256 public unmatchedRefundAccepted; // a refund (even signed by the group key) of a transfer not initiated
    uint256 public releasedOutOfOrder;
    mapping(bytes32 key => uint256 count) public processedCount;

    constructor() {
        setUp();
        vm.startPrank(owner);
        registryC.setAllowed(dave, true);
        vm.stopPrank();
        vm.chainId(CHAIN_E);
        vm.prank(owner);
        gateway.setRateLimit(address(wrapped), QiaoEndpoint.Direction.Inbound, INBOUND_CAPACITY, INBOUND_RATE);
        startTime = block.timestamp;
    }

    // ------------------------------------------------------------------ actions

    function lock(uint256 recipientSeed, uint256 amount) external {
        amount = bound(amount, 1, 20 ether);
        address to = [bob, carol, dave][recipientSeed % 3];
        vm.chainId(CHAIN_C);
        bool paused = vault.paused();
        vm.prank(alice);
        try vault.lock(address(asset), CHAIN_E, to, amount) returns (uint64 nonce) {
            if (paused) actedWhilePaused++;
            pendingToE.push(_t(CHAIN_C, CHAIN_E, nonce, address(asset), address(wrapped), alice, to, amount));
            initiated.push(pendingToE[pendingToE.length - 1]);
            ghostLocked += amount;
        } catch {}
    }

    function burn(uint256 recipientSeed, uint256 amount) external {
        uint256 balance = wrapped.balanceOf(bob);
        if (balance == 0) return;
        amount = bound(amount, 1, balance);
        address to = recipientSeed % 2 == 0 ? carol : address(0xDEAD); // 0xDEAD is not allowed on C
        vm.chainId(CHAIN_E);
        bool paused = gateway.paused();
        vm.prank(bob);
        try gateway.burn(address(wrapped), CHAIN_C, to, amount) returns (uint64 nonce) {
            if (paused) actedWhilePaused++;
            pendingToC.push(_t(CHAIN_E, CHAIN_C, nonce, address(wrapped), address(asset), bob, to, amount));
            initiated.push(pendingToC[pendingToC.length - 1]);
            ghostBurned += amount;
        } catch {}
    }

    function relayToE(uint256 count) external {
        QiaoEndpoint.Transfer[] memory ts = _take(pendingToE, count);
        if (ts.length == 0) return;
        bytes memory sig = signForGateway(ts);
        vm.chainId(CHAIN_E);
        bool paused = gateway.paused();
        try gateway.executeBatch(EPOCH, pack(ts), sig) {
            if (paused) actedWhilePaused++;
            _drop(pendingToE, ts.length);
            _remember(ts, sig, true);
            for (uint256 i; i < ts.length; ++i) {
                _afterOnE(ts[i]);
            }
        } catch {}
    }

    function relayToC(uint256 count) external {
        QiaoEndpoint.Transfer[] memory ts = _take(pendingToC, count);
        if (ts.length == 0) return;
        bytes memory sig = signForVault(ts);
        vm.chainId(CHAIN_C);
        bool paused = vault.paused();
        try vault.executeBatch(EPOCH, pack(ts), sig) {
            if (paused) actedWhilePaused++;
            _drop(pendingToC, ts.length);
            _remember(ts, sig, false);
            for (uint256 i; i < ts.length; ++i) {
                _count(ts[i]);
                if (vault.transferStatus(CHAIN_E, ts[i].nonce) == QiaoEndpoint.TransferStatus.Failed) {
                    failedOnC.push(ts[i]);
                } else {
                    ghostUnlocked += ts[i].amount;
                }
            }
        } catch {}
    }

    /// @dev Manual execution of the first pending transfer toward E, alone, with its proof.
    function executeOneOnE(uint256 count) external {
        QiaoEndpoint.Transfer[] memory ts = _take(pendingToE, count);
        if (ts.length == 0) return;
        bytes memory sig = signForGateway(ts);
        bytes32[] memory proof = refProof(leavesOf(ts), 0);
        vm.chainId(CHAIN_E);
        bool paused = gateway.paused();
        try gateway.executeTransfer(EPOCH, ts[0], ts[0].nonce, ts[ts.length - 1].nonce, proof, sig) {
            if (paused) actedWhilePaused++;
            _drop(pendingToE, 1);
            _afterOnE(ts[0]);
        } catch {}
    }

    /// @dev Releases the head of the queue (first in, first out), or tries another one (`index`
    ///      odd), which must be refused.
    function release(uint256 index) external {
        if (queuedOnE.length == 0) return;
        vm.chainId(CHAIN_E);
        (bytes32 head,) = gateway.queueHead(address(wrapped));
        uint256 at = index % queuedOnE.length;
        if (index % 2 == 0) {
            for (uint256 i; i < queuedOnE.length; ++i) {
                if (refLeaf(queuedOnE[i]) == head) at = i;
            }
        }
        index = at;
        QiaoEndpoint.Transfer memory t = queuedOnE[index];
        if (refLeaf(t) != head) {
            try gateway.releaseQueued(t) {
                releasedOutOfOrder++;
            } catch {}
            return;
        }
        bool paused = gateway.paused();
        try gateway.releaseQueued(t) {
            if (paused) actedWhilePaused++;
            queuedOnE[index] = queuedOnE[queuedOnE.length - 1];
            queuedOnE.pop();
            if (gateway.transferStatus(CHAIN_C, t.nonce) == QiaoEndpoint.TransferStatus.Failed) {
                failedOnE.push(t);
            } else {
                ghostMinted += t.amount;
                ghostInboundE += t.amount;
            }
        } catch {}
    }

    function refundOnC(uint256 index) external {
        if (failedOnE.length == 0) return;
        index %= failedOnE.length;
        QiaoEndpoint.Transfer memory t = failedOnE[index];
        bytes memory sig = signRefund(GROUP_SK, vault, CHAIN_C, EPOCH, t);
        vm.chainId(CHAIN_C);
        bool paused = vault.paused();
        try vault.refund(EPOCH, t, sig) {
            if (paused) actedWhilePaused++;
            ghostRefundedOnC += t.amount;
            refunded.push(t);
            failedOnE[index] = failedOnE[failedOnE.length - 1];
            failedOnE.pop();
            // a second refund must fail
            try vault.refund(EPOCH, t, sig) {
                doubleProcessed++;
            } catch {}
        } catch {}
    }

    function refundOnE(uint256 index) external {
        if (failedOnC.length == 0) return;
        index %= failedOnC.length;
        QiaoEndpoint.Transfer memory t = failedOnC[index];
        bytes memory sig = signRefund(GROUP_SK, gateway, CHAIN_E, EPOCH, t);
        vm.chainId(CHAIN_E);
        bool paused = gateway.paused();
        try gateway.refund(EPOCH, t, sig) {
            if (paused) actedWhilePaused++;
            ghostRefundedOnE += t.amount;
            ghostInboundE += t.amount; // a refund on E is charged to the gateway's Inbound bucket
            refunded.push(t);
            failedOnC[index] = failedOnC[failedOnC.length - 1];
            failedOnC.pop();
        } catch {}
    }

    /// @dev A holder of the committee's key signs refunds of transfers that were not initiated
    ///      as presented: an initiated one with another amount, sender or recipient, or a nonce
    ///      never assigned, on either endpoint. None may ever pay.
    function forgeRefund(uint256 kind, uint256 index, uint256 amount) external {
        bool onE = kind % 2 == 1;
        QiaoEndpoint e = onE ? QiaoEndpoint(gateway) : QiaoEndpoint(vault);
        uint256 chain = onE ? CHAIN_E : CHAIN_C;
        vm.chainId(chain);
        QiaoEndpoint.Transfer memory t;
        if (initiated.length > 0) t = initiated[index % initiated.length];
        if (initiated.length == 0 || t.srcChainId != chain) {
            // a nonce never assigned on this endpoint's route
            t = onE
                ? _t(CHAIN_E, CHAIN_C, 0, address(wrapped), address(asset), bob, carol, 1 ether)
                : _t(CHAIN_C, CHAIN_E, 0, address(asset), address(wrapped), alice, bob, 1 ether);
            t.nonce = e.nextNonce(t.dstChainId);
        } else {
            uint256 field = (kind / 2) % 3;
            if (field == 0) t.amount = t.amount + bound(amount, 1, 100 ether);
            if (field == 1) t.sender = address(0xBAD);
            if (field == 2) t.recipient = address(0xBAD);
        }
        bytes memory sig = signRefund(GROUP_SK, e, chain, EPOCH, t);
        try e.refund(EPOCH, t, sig) {
            unmatchedRefundAccepted++;
        } catch {}
    }

    /// @dev ERC-3643 agent actions on E (the token's admin is its first agent), between the two
    ///      holders: freeze or unfreeze part of bob's balance, a forced transfer between bob and
    ///      carol (releasing frozen tokens as needed), bob's wallet frozen or unfrozen. Burns and
    ///      deliveries meet them; none changes the supply.
    function issuerAction(uint256 kind, uint256 amount) external {
        vm.chainId(CHAIN_E);
        kind %= 4;
        vm.startPrank(owner);
        if (kind == 0) {
            uint256 free = wrapped.balanceOf(bob) - wrapped.getFrozenTokens(bob);
            if (free > 0) wrapped.freezePartialTokens(bob, bound(amount, 1, free));
        } else if (kind == 1) {
            uint256 held = wrapped.getFrozenTokens(bob);
            if (held > 0) wrapped.unfreezePartialTokens(bob, bound(amount, 1, held));
        } else if (kind == 2) {
            (address from, address to) = amount % 2 == 0 ? (bob, carol) : (carol, bob);
            uint256 balance = wrapped.balanceOf(from);
            if (balance > 0 && registryE.isVerified(to)) wrapped.forcedTransfer(from, to, bound(amount, 1, balance));
        } else {
            wrapped.setAddressFrozen(bob, !wrapped.isFrozen(bob));
        }
        vm.stopPrank();
    }

    function toggleDaveOnE() external {
        (bool allowed,) = registryE.statusOf(dave);
        vm.prank(owner);
        registryE.setAllowed(dave, !allowed);
    }

    function pause(bool onE) external {
        vm.chainId(onE ? CHAIN_E : CHAIN_C);
        QiaoEndpoint e = onE ? QiaoEndpoint(gateway) : QiaoEndpoint(vault);
        if (e.paused()) return;
        vm.prank(guardian);
        e.pause();
    }

    function resume(bool onE) external {
        uint256 chain = onE ? CHAIN_E : CHAIN_C;
        vm.chainId(chain);
        QiaoEndpoint e = onE ? QiaoEndpoint(gateway) : QiaoEndpoint(vault);
        if (!e.paused()) return;
        resumeNow(e, chain);
    }

    function warp(uint256 secondsAhead) external {
        vm.warp(block.timestamp + bound(secondsAhead, 0, 60));
    }

    /// @dev Every kind of unauthorised call: must never succeed.
    function forge(uint256 kind, uint256 count) external {
        kind %= 5;
        if (kind == 0 && pendingToE.length > 0) {
            QiaoEndpoint.Transfer[] memory ts = _take(pendingToE, count);
            bytes memory sig = signFor(OTHER_SK, address(gateway), CHAIN_E, EPOCH, ts);
            vm.chainId(CHAIN_E);
            try gateway.executeBatch(EPOCH, pack(ts), sig) {
                forgedAccepted++;
            } catch {}
        } else if (kind == 1 && lastBatch.length > 0) {
            // replay of the last executed batch
            vm.chainId(lastBatchToE ? CHAIN_E : CHAIN_C);
            QiaoEndpoint e = lastBatchToE ? QiaoEndpoint(gateway) : QiaoEndpoint(vault);
            try e.executeBatch(EPOCH, pack(lastBatch), lastBatchSig) {
                forgedAccepted++;
            } catch {}
        } else if (kind == 2 && pendingToE.length > 0) {
            // a refund of a transfer that did not fail, with a forged signature
            QiaoEndpoint.Transfer memory t = pendingToE[0];
            bytes memory sig = signRefund(OTHER_SK, vault, CHAIN_C, EPOCH, t);
            vm.chainId(CHAIN_C);
            try vault.refund(EPOCH, t, sig) {
                forgedAccepted++;
            } catch {}
        } else if (kind == 3) {
            vm.chainId(CHAIN_E);
            if (!gateway.paused()) return;
            uint64 deadline = resumeDeadline();
            bytes memory sig = signResume(OTHER_SK, gateway, CHAIN_E, EPOCH, deadline);
            try gateway.resume(EPOCH, deadline, sig) {
                forgedAccepted++;
            } catch {}
        } else if (kind == 4 && pendingToE.length > 0) {
            // a signature for another contract
            QiaoEndpoint.Transfer[] memory ts = _take(pendingToE, count);
            bytes memory sig = signFor(GROUP_SK, address(vault), CHAIN_E, EPOCH, ts);
            vm.chainId(CHAIN_E);
            try gateway.executeBatch(EPOCH, pack(ts), sig) {
                forgedAccepted++;
            } catch {}
        }
    }

    // ------------------------------------------------------------------ views for the invariants

    function refundedCount() external view returns (uint256) {
        return refunded.length;
    }

    function refundedAt(uint256 i) external view returns (QiaoEndpoint.Transfer memory) {
        return refunded[i];
    }

    function initiatedCount() external view returns (uint256) {
        return initiated.length;
    }

    function initiatedAt(uint256 i) external view returns (QiaoEndpoint.Transfer memory) {
        return initiated[i];
    }

    /// @dev The leaf of `t` (the reference encoding of the fixture).
    function leafOf(QiaoEndpoint.Transfer memory t) external pure returns (bytes32) {
        return refLeaf(t);
    }

    function inboundCapacity() external pure returns (uint256 capacity, uint256 rate) {
        return (INBOUND_CAPACITY, INBOUND_RATE);
    }

    // ------------------------------------------------------------------ internals

    function _afterOnE(QiaoEndpoint.Transfer memory t) internal {
        _count(t);
        QiaoEndpoint.TransferStatus s = gateway.transferStatus(CHAIN_C, t.nonce);
        if (s == QiaoEndpoint.TransferStatus.Delivered) {
            ghostMinted += t.amount;
            ghostInboundE += t.amount;
        } else if (s == QiaoEndpoint.TransferStatus.Queued) {
            queuedOnE.push(t);
        } else if (s == QiaoEndpoint.TransferStatus.Failed) {
            failedOnE.push(t);
        }
    }

    function _count(QiaoEndpoint.Transfer memory t) internal {
        bytes32 key = keccak256(abi.encode(t.srcChainId, t.nonce));
        if (++processedCount[key] > 1) doubleProcessed++;
    }

    function _remember(QiaoEndpoint.Transfer[] memory ts, bytes memory sig, bool toE) internal {
        delete lastBatch;
        for (uint256 i; i < ts.length; ++i) {
            lastBatch.push(ts[i]);
        }
        lastBatchSig = sig;
        lastBatchToE = toE;
    }

    function _take(QiaoEndpoint.Transfer[] storage list, uint256 count)
        internal
        view
        returns (QiaoEndpoint.Transfer[] memory ts)
    {
        uint256 n = list.length == 0 ? 0 : bound(count, 1, list.length < 8 ? list.length : 8);
        ts = new QiaoEndpoint.Transfer[](n);
        for (uint256 i; i < n; ++i) {
            ts[i] = list[i];
        }
    }

    function _drop(QiaoEndpoint.Transfer[] storage list, uint256 n) internal {
        uint256 len = list.length;
        for (uint256 i; i + n < len; ++i) {
            list[i] = list[i + n];
        }
        for (uint256 i; i < n; ++i) {
            list.pop();
        }
    }

    function _t(
        uint256 src,
        uint256 dst,
        uint64 nonce,
        address srcToken,
        address dstToken,
        address sender,
        address recipient,
        uint256 amount
    ) internal pure returns (QiaoEndpoint.Transfer memory) {
        return QiaoEndpoint.Transfer(src, dst, nonce, srcToken, dstToken, sender, recipient, amount);
    }

    // the fixture's contracts, for the invariant test
    function contracts() external view returns (address, address, address, address) {
        return (address(vault), address(gateway), address(asset), address(wrapped));
    }
}

interface IBalance {
    function balanceOf(address) external view returns (uint256);
    function totalSupply() external view returns (uint256);
    function getFrozenTokens(address) external view returns (uint256);
}

/// @notice Invariants S1 and S3 of DESIGN.md section 7, signature-only state changes, pause and
///         the inbound rate limit, under any sequence of the handler's actions.
contract BridgeInvariantTest {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    BridgeHandler internal handler;
    QiaoEndpoint internal vault;
    QiaoEndpoint internal gateway;
    IBalance internal asset;
    IBalance internal wrapped;

    function setUp() public {
        handler = new BridgeHandler();
        (address v, address g, address a, address w) = handler.contracts();
        vault = QiaoEndpoint(v);
        gateway = QiaoEndpoint(g);
        asset = IBalance(a);
        wrapped = IBalance(w);
    }

    /// @dev Forge (without forge-std) asks the test contract for its targets.
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory s = new bytes4[](17);
        s[0] = BridgeHandler.lock.selector;
        s[1] = BridgeHandler.burn.selector;
        s[2] = BridgeHandler.relayToE.selector;
        s[3] = BridgeHandler.relayToC.selector;
        s[4] = BridgeHandler.executeOneOnE.selector;
        s[5] = BridgeHandler.release.selector;
        s[6] = BridgeHandler.refundOnC.selector;
        s[7] = BridgeHandler.refundOnE.selector;
        s[8] = BridgeHandler.toggleDaveOnE.selector;
        s[9] = BridgeHandler.pause.selector;
        s[10] = BridgeHandler.resume.selector;
        s[11] = BridgeHandler.warp.selector;
        s[12] = BridgeHandler.forge.selector;
        s[13] = BridgeHandler.lock.selector;
        s[14] = BridgeHandler.relayToE.selector;
        s[15] = BridgeHandler.forgeRefund.selector;
        s[16] = BridgeHandler.issuerAction.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), s);
    }

    /// S3, under any sequence that includes honest refunds and refunds forged with the committee's
    /// key ({BridgeHandler-forgeRefund}).
    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_wrappedSupplyNeverExceedsLocked() public view {
        _assert(wrapped.totalSupply() <= asset.balanceOf(address(vault)), "S3: wrapped supply > locked");
        // and both match the ghost sums exactly
        _assert(
            wrapped.totalSupply() == handler.ghostMinted() + handler.ghostRefundedOnE() - handler.ghostBurned(),
            "wrapped supply != minted + refunded - burnt"
        );
        _assert(
            asset.balanceOf(address(vault))
                == handler.ghostLocked() - handler.ghostUnlocked() - handler.ghostRefundedOnC(),
            "locked != locks - unlocks - refunds"
        );
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_eachTransferOnceAndNeverBothExecutedAndRefunded() public view {
        _assert(handler.doubleProcessed() == 0, "S1: a transfer processed or refunded twice");
        uint256 n = handler.refundedCount();
        for (uint256 i; i < n; ++i) {
            QiaoEndpoint.Transfer memory t = handler.refundedAt(i);
            QiaoEndpoint dst = t.srcChainId == 4242 ? gateway : vault;
            QiaoEndpoint src = t.srcChainId == 4242 ? vault : gateway;
            _assert(
                dst.transferStatus(t.srcChainId, t.nonce) == QiaoEndpoint.TransferStatus.Failed,
                "S1: refunded but not failed on the destination"
            );
            _assert(src.isRefunded(t.dstChainId, t.nonce), "refund not recorded");
        }
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_noStateChangeWithoutValidSignature() public view {
        _assert(handler.forgedAccepted() == 0, "a forged, replayed or misdirected signature was accepted");
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_pauseAndRateLimitHold() public view {
        _assert(handler.actedWhilePaused() == 0, "something moved while paused");
        (uint256 capacity, uint256 rate) = handler.inboundCapacity();
        _assert(
            handler.ghostInboundE() <= capacity + rate * (block.timestamp - handler.startTime()),
            "inbound rate limit exceeded"
        );
    }

    /// Issue 13: refunds are bound to what was initiated. Every refund on record matches the leaf
    /// its source recorded at lock / burn; none signed by the committee's key for a transfer not
    /// initiated as presented ever paid; and per nonce, delivered + refunded <= 1.
    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_noRefundWithoutAMatchingInitiatedTransfer() public view {
        _assert(handler.unmatchedRefundAccepted() == 0, "a refund of a transfer not initiated was paid");
        uint256 n = handler.refundedCount();
        for (uint256 i; i < n; ++i) {
            QiaoEndpoint.Transfer memory t = handler.refundedAt(i);
            QiaoEndpoint src = t.srcChainId == 4242 ? vault : gateway;
            _assert(src.initiatedLeaf(t.dstChainId, t.nonce) == handler.leafOf(t), "refund without its initiated leaf");
        }
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_perNonceDeliveredPlusRefundedAtMostOne() public view {
        uint256 n = handler.initiatedCount();
        for (uint256 i; i < n; ++i) {
            QiaoEndpoint.Transfer memory t = handler.initiatedAt(i);
            QiaoEndpoint dst = t.srcChainId == 4242 ? gateway : vault;
            QiaoEndpoint src = t.srcChainId == 4242 ? vault : gateway;
            uint256 delivered =
                dst.transferStatus(t.srcChainId, t.nonce) == QiaoEndpoint.TransferStatus.Delivered ? 1 : 0;
            uint256 refundedHere = src.isRefunded(t.dstChainId, t.nonce) ? 1 : 0;
            _assert(delivered + refundedHere <= 1, "a nonce both delivered and refunded");
        }
    }

    /// The wrapped token's frozen tokens never exceed a holder's balance, whatever the agents, the
    /// burns toward C and the deliveries did ({BridgeHandler-issuerAction}).
    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_frozenTokensWithinBalance() public view {
        address[2] memory holders = [address(0xB0B), address(0xCA401)]; // bob, carol (BridgeFixture)
        for (uint256 i; i < 2; ++i) {
            _assert(wrapped.getFrozenTokens(holders[i]) <= wrapped.balanceOf(holders[i]), "frozen > balance");
        }
    }

    /// forge-config: default.invariant.runs = 48
    /// forge-config: default.invariant.depth = 40
    function invariant_releaseQueueIsFirstInFirstOut() public view {
        _assert(handler.releasedOutOfOrder() == 0, "a queued transfer was released before the head");
    }

    function _assert(bool ok, string memory what) internal pure {
        require(ok, what);
    }
}

/// @notice The handler is not vacuous: a fixed sequence reaches delivered, queued, released,
///         failed, refunded and unlocked, and a pause stops a lock.
contract BridgeHandlerSmokeTest {
    function test_handlerReachesEveryOutcome() public {
        BridgeHandler h = new BridgeHandler();
        h.lock(0, 20 ether); // bob: delivered
        h.lock(1, 20 ether); // carol: over the 10 left in the bucket, queued
        h.lock(2, 5 ether); // dave, not allowed on E: queued behind carol (first in, first out)
        h.relayToE(3);
        require(h.ghostMinted() == 20 ether, "one delivered");
        h.warp(60);
        h.release(1); // not the head: refused
        require(h.ghostMinted() == 20 ether && h.releasedOutOfOrder() == 0, "queue jumped");
        h.release(0);
        require(h.ghostMinted() == 40 ether, "queued one released");
        h.warp(60);
        h.release(0); // dave: failed at release, charge given back
        h.refundOnC(0);
        require(h.ghostRefundedOnC() == 5 ether && h.refundedCount() == 1, "failed one refunded");
        h.burn(0, 1 ether);
        h.relayToC(1);
        require(h.ghostUnlocked() == 1 ether, "burn unlocked on C");
        h.pause(false);
        h.lock(0, 1 ether);
        require(h.ghostLocked() == 45 ether, "no lock while paused");
        h.resume(false);
        h.lock(0, 1 ether);
        require(h.ghostLocked() == 46 ether, "lock after resume");
        h.forge(0, 1);
        h.forge(1, 1);
        h.forge(2, 1);
        h.forge(4, 1);
        for (uint256 k; k < 8; ++k) {
            h.forgeRefund(k, k, 1 ether);
        }
        require(h.unmatchedRefundAccepted() == 0, "no unmatched refund");
        require(h.forgedAccepted() == 0 && h.doubleProcessed() == 0 && h.actedWhilePaused() == 0, "safety");
    }

    /// @dev The agents' actions are not vacuous: a partial freeze of bob, then a forced transfer
    ///      of more than his free balance, which releases what it needs.
    function test_handlerIssuerActionsReachTheToken() public {
        BridgeHandler h = new BridgeHandler();
        (,,, address w) = h.contracts();
        IBalance wrapped = IBalance(w);
        h.lock(0, 10 ether); // bob
        h.relayToE(1);
        require(wrapped.balanceOf(address(0xB0B)) == 10 ether, "bob minted");
        h.issuerAction(0, 6 ether); // freeze 6 of bob's 10
        require(wrapped.getFrozenTokens(address(0xB0B)) == 6 ether, "partial freeze");
        h.issuerAction(2, 8 ether); // force 8 from bob to carol: 4 free, 4 released
        require(wrapped.balanceOf(address(0xB0B)) == 2 ether, "forced transfer");
        require(wrapped.getFrozenTokens(address(0xB0B)) == 2 ether, "frozen tokens released as needed");
    }
}
