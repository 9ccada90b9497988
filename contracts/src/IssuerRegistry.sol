// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

/// @title IssuerRegistry
/// @notice The issuer's register of record on the consortium chain (C), one per chain, for every
///         asset the vault bridges: the decisions the issuer and its regulator take about the
///         holders and the asset, which the committee carries to the wrapped token on Ethereum
///         (docs/PROTOCOL.md, "Issuer actions, asset status and NAV"). Each decision is numbered
///         per asset (`sequence`, 1, 2, ...) and emitted as one {IssuerAction} event; the gateway
///         applies them in exactly this order (it refuses a number out of turn), through the
///         wrapped token's ERC-3643 agent functions.
/// @dev What is recorded here is what crosses, and nothing else: addresses, amounts, a status
///      code, a NAV and its timestamp. No identity or personal data: who a holder is stays with
///      the issuer (the KYC registry only says whether an address may hold).
///      Roles (OpenZeppelin AccessControl):
///      - DEFAULT_ADMIN_ROLE grants and revokes the roles;
///      - ISSUER_ROLE (the issuer's agents): every decision;
///      - REGULATOR_ROLE (the regulator, or the issuer's court-order desk): wallet freezes,
///        partial freezes, forced transfers, and suspending the asset or lifting a suspension
///        (status SUSPENDED <-> ACTIVE); not recovery, default, maturity or the NAV.
///      This contract cannot check balances on Ethereum: a decision that cannot be applied there
///      (a forced transfer above the holder's balance) is recorded as failed by the gateway
///      (IssuerModule's IssuerActionFailed), in its turn, and the issuer decides again.
///      Forced transfers and recoveries move balances: on Ethereum they are only scheduled when
///      applied (the tokens they take frozen on the holder at once) and move after the gateway's
///      action delay, during which the guardian may cancel them (IssuerModule's
///      executeIssuerAction, cancelIssuerAction); a cancelled one is recorded failed there.
///      The roles are global across assets: whoever holds ISSUER_ROLE or REGULATOR_ROLE here
///      decides for every asset this registry records (an issuer of fund A could force-transfer
///      fund B). Deploy one IssuerRegistry per issuer; never share one between issuers.
contract IssuerRegistry is AccessControl {
    /// @notice Role of the issuer's agents: every decision.
    bytes32 public constant ISSUER_ROLE = keccak256("QIAO_ISSUER_ROLE");
    /// @notice Role of the regulator: freezes, forced transfers, suspension.
    bytes32 public constant REGULATOR_ROLE = keccak256("QIAO_REGULATOR_ROLE");

    /// @notice Operation codes of {IssuerAction} (part of the signed message: only ever appended).
    uint8 public constant OP_FREEZE_WALLET = 1;
    uint8 public constant OP_UNFREEZE_WALLET = 2;
    uint8 public constant OP_FREEZE_PARTIAL = 3;
    uint8 public constant OP_UNFREEZE_PARTIAL = 4;
    uint8 public constant OP_FORCED_TRANSFER = 5;
    uint8 public constant OP_RECOVERY = 6;
    uint8 public constant OP_SET_STATUS = 7;
    uint8 public constant OP_SET_NAV = 8;

    /// @notice Asset status codes (part of the signed message).
    uint8 public constant ACTIVE = 0;
    uint8 public constant SUSPENDED = 1;
    uint8 public constant DEFAULTED = 2;
    uint8 public constant MATURED = 3;

    /// @dev The state of one asset: the last decision's number, its status, its NAV.
    struct Asset {
        uint64 sequence;
        uint8 status;
        uint8 suspendedFrom; // the status a suspension was made from (while SUSPENDED)
        uint64 navAsOf;
        uint256 navPerUnit;
    }

    mapping(address asset => Asset state) private _assets;

    /// @notice Decision number `sequence` of `asset`: operation `op` (OP_*) with its fields
    ///         (`account`: the holder, or the lost wallet; `to`: the receiver of a forced transfer
    ///         or the new wallet; `amount`: tokens, the status code (OP_SET_STATUS) or the NAV per
    ///         unit (OP_SET_NAV, 18 decimals); `asOf`: the NAV's timestamp), taken by `by`.
    event IssuerAction(
        address indexed asset,
        uint64 indexed sequence,
        uint8 op,
        address account,
        address to,
        uint256 amount,
        uint64 asOf,
        address indexed by
    );

    /// @notice The asset, an account or the receiver is the zero address.
    error IssuerZeroAddress();
    /// @notice The amount (tokens or NAV) is zero.
    error IssuerZeroAmount();
    /// @notice A forced transfer or recovery names the same address twice.
    error IssuerSameAccount(address account);
    /// @notice `status` is not a status code (0..3).
    error InvalidStatus(uint8 status);
    /// @notice The asset is already in `status`: nothing to record.
    error StatusUnchanged(uint8 status);
    /// @notice The asset matured: its status never changes again.
    error AssetMatured(address asset);
    /// @notice The caller may not set `status` (the regulator suspends only an ACTIVE asset and
    ///         lifts only a suspension made from ACTIVE: never a default or a maturity).
    error StatusNotAllowed(address caller, uint8 status);
    /// @notice The NAV's timestamp `asOf` is not after the last one (`last`) or is in the future.
    error StaleNav(uint64 asOf, uint64 last);
    /// @notice `navPerUnit` is above `max` (type(uint192).max), the largest NAV the wrapped token
    ///         stores: record it in 18 decimals, within that bound.
    error NavTooLarge(uint256 navPerUnit, uint256 max);

    /// @param admin Receives DEFAULT_ADMIN_ROLE and ISSUER_ROLE (not zero).
    constructor(address admin) {
        if (admin == address(0)) revert IssuerZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(ISSUER_ROLE, admin);
    }

    /// @notice Freezes (true) or unfreezes the wallet `account` on `asset`'s wrapped token;
    ///         ISSUER_ROLE or REGULATOR_ROLE.
    function setAddressFrozen(address asset, address account, bool frozen) external {
        _checkIssuerOrRegulator();
        _requireAccount(account);
        _record(asset, frozen ? OP_FREEZE_WALLET : OP_UNFREEZE_WALLET, account, address(0), 0, 0);
    }

    /// @notice Freezes `amount` of `account`'s balance of `asset`'s wrapped token;
    ///         ISSUER_ROLE or REGULATOR_ROLE.
    function freezePartialTokens(address asset, address account, uint256 amount) external {
        _checkIssuerOrRegulator();
        _requireAccount(account);
        if (amount == 0) revert IssuerZeroAmount();
        _record(asset, OP_FREEZE_PARTIAL, account, address(0), amount, 0);
    }

    /// @notice Releases `amount` of `account`'s frozen tokens; ISSUER_ROLE or REGULATOR_ROLE.
    function unfreezePartialTokens(address asset, address account, uint256 amount) external {
        _checkIssuerOrRegulator();
        _requireAccount(account);
        if (amount == 0) revert IssuerZeroAmount();
        _record(asset, OP_UNFREEZE_PARTIAL, account, address(0), amount, 0);
    }

    /// @notice Orders `amount` of `asset`'s wrapped token moved from `from` to `to` (a court's or
    ///         a regulator's order); ISSUER_ROLE or REGULATOR_ROLE. On Ethereum the amount is
    ///         frozen on `from` when the order arrives and moved after the gateway's action delay.
    function forcedTransfer(address asset, address from, address to, uint256 amount) external {
        _checkIssuerOrRegulator();
        _requireAccount(from);
        _requireAccount(to);
        if (from == to) revert IssuerSameAccount(from);
        if (amount == 0) revert IssuerZeroAmount();
        _record(asset, OP_FORCED_TRANSFER, from, to, amount, 0);
    }

    /// @notice Orders the whole balance of the lost wallet `lostWallet` moved to the holder's
    ///         `newWallet` (with its freezes); ISSUER_ROLE only (the issuer knows its holder). On
    ///         Ethereum the balance is frozen when the order arrives and moved after the delay.
    function recoveryAddress(address asset, address lostWallet, address newWallet)
        external
        onlyRole(ISSUER_ROLE)
    {
        _requireAccount(lostWallet);
        _requireAccount(newWallet);
        if (lostWallet == newWallet) revert IssuerSameAccount(lostWallet);
        _record(asset, OP_RECOVERY, lostWallet, newWallet, 0, 0);
    }

    /// @notice Sets `asset`'s status: ACTIVE (0), SUSPENDED (1), DEFAULTED (2) or MATURED (3,
    ///         final). ISSUER_ROLE any, a default included (DEFAULTED -> ACTIVE: a court-ordered
    ///         restructuring can cure a default); REGULATOR_ROLE only SUSPENDED from ACTIVE, and
    ///         ACTIVE from a suspension made from ACTIVE (so the regulator can never lift a
    ///         default, not even through a suspension).
    function setAssetStatus(address asset, uint8 status) external {
        if (status > MATURED) revert InvalidStatus(status);
        uint8 current = _assets[asset].status;
        if (current == MATURED) revert AssetMatured(asset);
        if (status == current) revert StatusUnchanged(status);
        Asset storage a = _assets[asset];
        if (!hasRole(ISSUER_ROLE, msg.sender)) {
            if (!hasRole(REGULATOR_ROLE, msg.sender)) _checkRole(ISSUER_ROLE);
            bool allowed = (status == SUSPENDED && current == ACTIVE)
                || (status == ACTIVE && current == SUSPENDED && a.suspendedFrom == ACTIVE);
            if (!allowed) revert StatusNotAllowed(msg.sender, status);
        }
        if (status == SUSPENDED) a.suspendedFrom = current;
        a.status = status;
        _record(asset, OP_SET_STATUS, address(0), address(0), status, 0);
    }

    /// @notice Records `asset`'s net asset value per unit (18 decimals) as of `asOf` (unix
    ///         seconds, after the last one and not in the future); ISSUER_ROLE only.
    function setNav(address asset, uint256 navPerUnit, uint64 asOf) external onlyRole(ISSUER_ROLE) {
        if (navPerUnit == 0) revert IssuerZeroAmount();
        if (navPerUnit > type(uint192).max) revert NavTooLarge(navPerUnit, type(uint192).max);
        Asset storage a = _assets[asset];
        // forge-lint: disable-next-line(block-timestamp) -- a valuation date, not a deadline
        if (asOf <= a.navAsOf || asOf > block.timestamp) revert StaleNav(asOf, a.navAsOf);
        a.navPerUnit = navPerUnit;
        a.navAsOf = asOf;
        _record(asset, OP_SET_NAV, address(0), address(0), navPerUnit, asOf);
    }

    /// @notice The number of `asset`'s last decision (0: none yet).
    function sequenceOf(address asset) external view returns (uint64 sequence) {
        return _assets[asset].sequence;
    }

    /// @notice `asset`'s status code (ACTIVE until the issuer sets another).
    function assetStatus(address asset) external view returns (uint8 status) {
        return _assets[asset].status;
    }

    /// @notice `asset`'s last NAV per unit and its timestamp (zeros before the first).
    function navOf(address asset) external view returns (uint256 navPerUnit, uint64 asOf) {
        Asset storage a = _assets[asset];
        return (a.navPerUnit, a.navAsOf);
    }

    function _record(address asset, uint8 op, address account, address to, uint256 amount, uint64 asOf) private {
        if (asset == address(0)) revert IssuerZeroAddress();
        uint64 sequence = ++_assets[asset].sequence;
        emit IssuerAction(asset, sequence, op, account, to, amount, asOf, msg.sender);
    }

    function _checkIssuerOrRegulator() private view {
        if (!hasRole(REGULATOR_ROLE, msg.sender)) _checkRole(ISSUER_ROLE);
    }

    function _requireAccount(address account) private pure {
        if (account == address(0)) revert IssuerZeroAddress();
    }
}
