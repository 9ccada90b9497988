// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC3643Verifier} from "./interfaces/IERC3643.sol";

/// @title KycRegistry
/// @notice The allow-list of one chain: which addresses passed KYC and which are frozen. The
///         permissioned WrappedToken and the Qiao endpoints consult it. An address may hold, send
///         or receive bridged assets only while it is allowed and not frozen.
/// @dev Roles (OpenZeppelin AccessControl):
///      - DEFAULT_ADMIN_ROLE grants and revokes the roles;
///      - COMPLIANCE_ROLE (the issuer's compliance desk) allows, disallows, freezes and unfreezes;
///      - FREEZER_ROLE (the gateway, carrying committee-signed decisions from the consortium chain)
///        freezes and unfreezes, and allows and disallows one account at a time ({setAllowed}).
///      Which wins: the allow-list has one `allowed` flag, set by either role, and the last
///      decision wins. On Ethereum the allow-list follows the consortium chain's: who passed KYC
///      is the issuer's decision, kept on that chain as the single source of truth, so a desk
///      edit here is overwritten by the next decision carried from there (the reconciler reports
///      the difference meanwhile). This chain's desk restricts locally with its compliance freeze
///      instead, which nothing carried lifts (neither an unfreeze nor an allow): a restriction
///      wins, so a local order to stop an account holds whatever the other chain decides.
///      An account has two independent freeze flags: the compliance freeze (set and lifted by
///      COMPLIANCE_ROLE, this chain's own desk) and the bridge freeze (set and lifted by
///      FREEZER_ROLE, a decision carried from another chain). It is frozen while either is set,
///      so an unfreeze carried by the committee never lifts this chain's own compliance freeze,
///      and the desk's unfreeze never lifts a freeze decided on the consortium chain. A caller
///      with both roles acts as the compliance desk.
///      All flags of an account live in one storage slot, so one check costs one SLOAD.
///      For ERC-3643 it is the WrappedToken's identity registry: {isVerified} ({isAllowed}) and
///      {contains} (on the allow-list, frozen or not).
contract KycRegistry is AccessControl, IERC3643Verifier {
    /// @notice Role that manages the allow-list and freezes.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("QIAO_COMPLIANCE_ROLE");
    /// @notice Role that may freeze and unfreeze (its own flag) and set the allow-list flag
    ///         (granted to the gateway).
    bytes32 public constant FREEZER_ROLE = keccak256("QIAO_FREEZER_ROLE");

    /// @dev Flags of an account, packed in one slot: `allowed` in the lowest byte, `frozen` (the
    ///      compliance freeze) in the next, `bridgeFrozen` (FREEZER_ROLE) in the third.
    struct Status {
        bool allowed;
        bool frozen;
        bool bridgeFrozen;
    }

    mapping(address account => Status status) private _status;

    /// @notice `account` was added to (true) or removed from (false) the allow-list.
    event AllowedSet(address indexed account, bool allowed, address indexed by);
    /// @notice `account` was frozen (true) or unfrozen (false).
    event FrozenSet(address indexed account, bool frozen, address indexed by);

    /// @notice An address argument is the zero address.
    error KycZeroAddress();
    /// @notice The caller has neither COMPLIANCE_ROLE nor FREEZER_ROLE.
    error KycNotFreezer(address caller);

    /// @param admin Receives DEFAULT_ADMIN_ROLE and COMPLIANCE_ROLE. Not the zero address.
    constructor(address admin) {
        if (admin == address(0)) revert KycZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(COMPLIANCE_ROLE, admin);
    }

    /// @notice Adds `account` to or removes it from the allow-list; COMPLIANCE_ROLE or
    ///         FREEZER_ROLE (an allow-list decision carried from the consortium chain).
    /// @dev Both roles set the same flag: the last call wins (see the contract's notes). Reverts
    ///      with AccessControlUnauthorizedAccount(caller, COMPLIANCE_ROLE) for a caller with
    ///      neither role. {AllowedSet} names the caller in `by`.
    /// @param account The address (not zero).
    /// @param allowed True to allow.
    function setAllowed(address account, bool allowed) external {
        if (!hasRole(FREEZER_ROLE, msg.sender)) _checkRole(COMPLIANCE_ROLE);
        _setAllowed(account, allowed);
    }

    /// @notice {setAllowed} for many addresses; COMPLIANCE_ROLE only (the desk's bulk edit).
    /// @param accounts The addresses (none zero).
    /// @param allowed True to allow all of them, false to remove all of them.
    function setAllowedBatch(address[] calldata accounts, bool allowed) external onlyRole(COMPLIANCE_ROLE) {
        for (uint256 i; i < accounts.length; ++i) {
            _setAllowed(accounts[i], allowed);
        }
    }

    /// @notice Freezes or unfreezes `account` for the caller's reason: COMPLIANCE_ROLE sets the
    ///         compliance freeze, FREEZER_ROLE (without COMPLIANCE_ROLE) the bridge freeze.
    /// @dev A frozen account can neither send nor receive; it keeps its allow-list entry. Each
    ///      role lifts only its own freeze: the account stays frozen while the other one is set.
    ///      {FrozenSet} reports the flag the caller set (`by` tells whose).
    /// @param account The address (not zero).
    /// @param frozen True to freeze.
    function setFrozen(address account, bool frozen) external {
        bool compliance = hasRole(COMPLIANCE_ROLE, msg.sender);
        if (!compliance && !hasRole(FREEZER_ROLE, msg.sender)) revert KycNotFreezer(msg.sender);
        if (account == address(0)) revert KycZeroAddress();
        if (compliance) _status[account].frozen = frozen;
        else _status[account].bridgeFrozen = frozen;
        emit FrozenSet(account, frozen, msg.sender);
    }

    /// @notice Whether `account` may hold, send and receive: allowed and frozen for no reason.
    /// @param account The address.
    /// @return ok True if allowed and not frozen (false for the zero address).
    function isAllowed(address account) external view returns (bool ok) {
        Status memory s = _status[account];
        return s.allowed && !s.frozen && !s.bridgeFrozen;
    }

    /// @notice ERC-3643's identity check: whether `userAddress` may hold and receive, the same
    ///         answer as {isAllowed} (allowed and frozen for no reason).
    /// @param userAddress The address.
    /// @return ok True if allowed and not frozen.
    function isVerified(address userAddress) external view returns (bool ok) {
        Status memory s = _status[userAddress];
        return s.allowed && !s.frozen && !s.bridgeFrozen;
    }

    /// @notice ERC-3643's identity registry lookup: whether `userAddress` is on the allow-list
    ///         (whatever its freezes).
    /// @param userAddress The address.
    /// @return listed True if on the allow-list.
    function contains(address userAddress) external view returns (bool listed) {
        return _status[userAddress].allowed;
    }

    /// @notice ERC-165: IERC3643Verifier, IAccessControl, IERC165.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC3643Verifier).interfaceId || super.supportsInterface(interfaceId);
    }

    /// @notice {isAllowed} for many accounts in one call: bit (i % 256) of word (i / 256) of
    ///         `mask` is set when `accounts[i]` is allowed and not frozen.
    /// @param accounts The addresses (the zero address is never allowed).
    /// @return mask ceil(accounts.length / 256) words; no bit at or past accounts.length.
    function allowedMask(address[] calldata accounts) external view returns (uint256[] memory mask) {
        uint256 n = accounts.length;
        mask = new uint256[]((n + 255) >> 8);
        assembly ("memory-safe") {
            let word := 0
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let account := calldataload(add(accounts.offset, shl(5, i)))
                // An address word with bits above 160 is malformed calldata: refused as the ABI
                // decoder refuses it.
                if shr(160, account) { revert(0, 0) }
                // _status[account]: slot keccak256(account . _status.slot); Status{allowed, frozen,
                // bridgeFrozen} is packed in it, one byte each from the lowest: allowed and
                // neither freeze is exactly 1 in the low three bytes.
                mstore(0x00, account)
                mstore(0x20, _status.slot)
                let status := sload(keccak256(0x00, 0x40))
                if eq(and(status, 0xffffff), 1) { word := or(word, shl(and(i, 0xff), 1)) }
                if or(eq(and(i, 0xff), 0xff), eq(add(i, 1), n)) {
                    mstore(add(mask, shl(5, add(shr(8, i), 1))), word)
                    word := 0
                }
            }
        }
    }

    /// @notice The flags of `account`.
    /// @param account The address.
    /// @return allowed Whether it is on the allow-list.
    /// @return frozen Whether it is frozen, for either reason ({freezesOf} tells which).
    function statusOf(address account) external view returns (bool allowed, bool frozen) {
        Status memory s = _status[account];
        return (s.allowed, s.frozen || s.bridgeFrozen);
    }

    /// @notice The two freeze flags of `account`.
    /// @param account The address.
    /// @return compliance Frozen by this chain's compliance desk (COMPLIANCE_ROLE).
    /// @return bridge Frozen by a decision carried from another chain (FREEZER_ROLE).
    function freezesOf(address account) external view returns (bool compliance, bool bridge) {
        Status memory s = _status[account];
        return (s.frozen, s.bridgeFrozen);
    }

    function _setAllowed(address account, bool allowed) private {
        if (account == address(0)) revert KycZeroAddress();
        _status[account].allowed = allowed;
        emit AllowedSet(account, allowed, msg.sender);
    }
}
