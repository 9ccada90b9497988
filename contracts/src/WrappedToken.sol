// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {KycRegistry} from "./KycRegistry.sol";
import {IAgentRole, IERC3643} from "./interfaces/IERC3643.sol";

/// @title WrappedToken
/// @notice Permissioned ERC-20 (18 decimals) on Ethereum representing an asset locked in the
///         QiaoVault on the consortium chain, with the ERC-3643 (T-REX) token interface. Only
///         addresses allowed (and not frozen) in the {KycRegistry} can hold, send or receive it.
///         The issuer's agents pause it, freeze wallets or part of a balance, force transfers and
///         recover lost wallets; only its gateway, fixed at construction, mints and burns.
/// @dev Roles (docs/PROTOCOL.md, "The wrapped token: ERC-3643"):
///      - DEFAULT_ADMIN_ROLE (ERC-3643's owner) manages roles, appoints agents ({addAgent}) and
///        sets the name, symbol and ONCHAINID;
///      - AGENT_ROLE (ERC-3643's agent): pause, wallet and partial freezes, forced transfers,
///        recovery and their batch forms;
///      - COMPLIANCE_ROLE: {setFrozen}, the same whole-token flag as {pause} (kept for the tools
///        that use it);
///      - the gateway (not a role, an immutable address): mint and burn, nothing else. No agent
///        mints or burns: the supply on this chain is what the vault holds on the other.
///      Every balance change by a holder or the gateway goes through {_update}: a paused token, a
///      party not verified in the registry, a frozen wallet and an amount above the sender's free
///      balance (balance minus frozen tokens) are refused, so the gateway's burn toward C only
///      takes the free balance. Forced transfers and recovery check what ERC-3643 asks (token not
///      paused, receiver verified, sender's balance) and release frozen tokens as needed.
///      Invariant: every holder's frozen tokens are at most its balance.
contract WrappedToken is ERC20, AccessControl, IERC3643, IAgentRole {
    /// @notice Role that freezes and unfreezes the whole token ({setFrozen}).
    bytes32 public constant COMPLIANCE_ROLE = keccak256("QIAO_COMPLIANCE_ROLE");
    /// @notice ERC-3643's agent role.
    bytes32 public constant AGENT_ROLE = keccak256("QIAO_AGENT_ROLE");

    /// @notice Outcome of {mintChecked}; the gateway records a non-zero outcome as a failed transfer.
    uint8 public constant MINTED = 0;
    /// @notice {mintChecked}: the recipient is not allowed or is frozen.
    uint8 public constant RECIPIENT_NOT_ALLOWED = 1;
    /// @notice {mintChecked}: the token is frozen, or the asset defaulted or matured (no new
    ///         mint: the transfer fails and is refunded on the consortium chain).
    uint8 public constant TOKEN_FROZEN = 2;

    /// @notice Asset status codes, as the issuer records them on the consortium chain
    ///         ({IssuerRegistry}) and the gateway carries them here ({setAssetStatus}).
    uint8 public constant ASSET_ACTIVE = 0;
    /// @notice Suspended: no transfer, mint or burn; a batch minting it reverts and is retried
    ///         after the suspension (in-flight transfers wait, none is lost).
    uint8 public constant ASSET_SUSPENDED = 1;
    /// @notice Defaulted: no transfer and no new mint; holders burn toward C (redemption).
    uint8 public constant ASSET_DEFAULTED = 2;
    /// @notice Matured (redeeming): burn only, as defaulted.
    uint8 public constant ASSET_MATURED = 3;

    /// @dev A holder's ERC-3643 state: the wallet freeze and the frozen part of its balance, in
    ///      one slot (one read per party of a transfer).
    struct Holder {
        bool frozen;
        uint248 frozenTokens;
    }

    /// @notice The QiaoGateway allowed to mint and burn; set once, never changes.
    address public immutable gateway;
    /// @notice The allow-list consulted on every balance change (ERC-3643's identity registry).
    KycRegistry public immutable registry;
    /// @notice True while the whole token is frozen (ERC-3643: paused): no transfer, mint, burn,
    ///         forced transfer or recovery.
    bool public frozen;
    /// @dev How many holders have a wallet freeze or frozen tokens; in the slot of `frozen`, so a
    ///      transfer reads the holders' ERC-3643 state only while some holder is restricted.
    uint64 private _restricted;
    /// @dev The asset's status (ASSET_*), in the same slot: the hot paths read it with `frozen`.
    uint8 private _assetStatus;
    /// @dev The asset's NAV per unit (18 decimals) and its timestamp, as carried from C.
    uint192 private _navPerUnit;
    uint64 private _navAsOf;
    mapping(address account => Holder holder) private _holders;
    string private _tokenName;
    string private _tokenSymbol;
    address private _onchainID;

    /// @notice The whole token was frozen (true) or unfrozen (false).
    event TokenFrozenSet(bool frozen, address indexed by);
    /// @notice The asset's status changed (ASSET_*), as decided on the consortium chain.
    event AssetStatusSet(uint8 status);
    /// @notice The asset's NAV per unit (18 decimals) as of `asOf` (unix seconds), from C.
    event NavSet(uint256 navPerUnit, uint64 asOf);

    /// @notice The caller is not the gateway.
    error OnlyGateway(address caller);
    /// @notice A constructor address is the zero address or has no code where code is required.
    error ZeroGateway();
    /// @notice The registry is the zero address or has no code.
    error InvalidRegistry(address registry);
    /// @notice The admin is the zero address.
    error ZeroAdmin();
    /// @notice The token is frozen (paused).
    error TokenIsFrozen();
    /// @notice `account` is not allowed (or is frozen) in the registry.
    error NotAllowed(address account);
    /// @notice {mintBatchChecked} was called without a receiver.
    error EmptyMint();
    /// @notice A batch got lists of different lengths (`receivers` entries, `amounts` entries).
    error LengthMismatch(uint256 receivers, uint256 amounts);
    /// @notice The registry answered a batched KYC query with a mask of the wrong length.
    error InvalidRegistryReply();
    /// @notice An account argument is the zero address.
    error ZeroAccount();
    /// @notice An amount argument is zero; give a positive amount.
    error ZeroAmount();
    /// @notice A batch function got empty lists.
    error EmptyBatch();
    /// @notice `account`'s wallet is frozen on this token ({setAddressFrozen}).
    error AddressIsFrozen(address account);
    /// @notice `amount` is above `account`'s free balance `free` (balance minus frozen tokens):
    ///         an agent unfreezes first ({unfreezePartialTokens}) or forces the transfer.
    error AmountAboveFreeBalance(address account, uint256 amount, uint256 free);
    /// @notice `amount` is above the `frozenTokens` frozen on `account`.
    error AmountAboveFrozen(address account, uint256 amount, uint256 frozenTokens);
    /// @notice {recoveryAddress}: `lostWallet` holds nothing.
    error NoTokenToRecover(address lostWallet);
    /// @notice {recoveryAddress}: the lost and the new wallet are the same address.
    error SameWallet(address wallet);
    /// @notice {pause} while paused.
    error AlreadyPaused();
    /// @notice {unpause} while not paused.
    error NotPaused();
    /// @notice {addAgent} of an agent.
    error AlreadyAgent(address account);
    /// @notice {removeAgent} of an address that is not an agent.
    error NotAgent(address account);
    /// @notice The identity registry and the compliance are fixed at deployment (the gateway
    ///         carries the consortium chain's freezes and allow-list into this registry); deploy
    ///         a new token to change them.
    error FixedAtDeployment();
    /// @notice A name or symbol is empty.
    error EmptyString();
    /// @notice The asset is suspended: nothing moves, mints wait (a batch reverts and is retried).
    error AssetSuspended();
    /// @notice The asset is defaulted or matured (`status`): no transfer, only burns toward C.
    error AssetNotActive(uint8 status);
    /// @notice `status` is not an asset status code (0..3).
    error InvalidAssetStatus(uint8 status);
    /// @notice A NAV of zero, above 2^192 - 1, or with a timestamp not after the last one.
    error InvalidNav(uint256 navPerUnit, uint64 asOf);

    /// @param name_ ERC-20 name.
    /// @param symbol_ ERC-20 symbol.
    /// @param gateway_ The QiaoGateway that mints and burns (deploy it first).
    /// @param registry_ The KycRegistry of this chain.
    /// @param admin Receives DEFAULT_ADMIN_ROLE, COMPLIANCE_ROLE and AGENT_ROLE.
    constructor(string memory name_, string memory symbol_, address gateway_, KycRegistry registry_, address admin)
        ERC20("", "")
    {
        if (gateway_ == address(0)) revert ZeroGateway();
        if (address(registry_).code.length == 0) revert InvalidRegistry(address(registry_));
        if (admin == address(0)) revert ZeroAdmin();
        gateway = gateway_;
        registry = registry_;
        _tokenName = name_;
        _tokenSymbol = symbol_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(COMPLIANCE_ROLE, admin);
        _grantRole(AGENT_ROLE, admin);
        emit IdentityRegistryAdded(address(registry_));
        emit ComplianceAdded(address(this));
    }

    modifier onlyGateway() {
        if (msg.sender != gateway) revert OnlyGateway(msg.sender);
        _;
    }

    modifier onlyAgent() {
        _checkRole(AGENT_ROLE);
        _;
    }

    // ------------------------------------------------------------------ whole-token freeze

    /// @notice Freezes (true) or unfreezes (false) the whole token; COMPLIANCE_ROLE only. The
    ///         same flag as {pause} / {unpause}; emits {TokenFrozenSet} and Paused / Unpaused.
    /// @param frozen_ The new state.
    function setFrozen(bool frozen_) external onlyRole(COMPLIANCE_ROLE) {
        _setFrozen(frozen_);
    }

    /// @notice ERC-3643: pauses the token (no transfer, mint, burn, forced transfer or
    ///         recovery); agent only. Reverts with {AlreadyPaused} while paused.
    function pause() external onlyAgent {
        if (frozen) revert AlreadyPaused();
        _setFrozen(true);
    }

    /// @notice ERC-3643: unpauses the token; agent only. Reverts with {NotPaused} if not paused.
    function unpause() external onlyAgent {
        if (!frozen) revert NotPaused();
        _setFrozen(false);
    }

    /// @notice ERC-3643: whether the token is paused (the same flag as `frozen`).
    function paused() external view returns (bool) {
        return frozen;
    }

    // ------------------------------------------------------------------ gateway: mint and burn

    /// @notice Mints `amount` to `to`; gateway only. Reverts with {TokenIsFrozen}, {NotAllowed}
    ///         or {AddressIsFrozen}.
    /// @dev Used for refunds of E -> C transfers that failed on the consortium chain.
    /// @param to The receiver (allowed, not zero).
    /// @param amount The amount.
    function mint(address to, uint256 amount) external onlyGateway {
        _mint(to, amount);
    }

    /// @notice ERC-3643's batch mint: {mint} for each entry, all or nothing; gateway only (the
    ///         gateway delivers batches through {mintBatchChecked}; no agent mints).
    /// @param toList The receivers.
    /// @param amounts The amounts, one per receiver.
    function batchMint(address[] calldata toList, uint256[] calldata amounts) external onlyGateway {
        _checkLengths(toList.length, amounts.length);
        for (uint256 i; i < toList.length; ++i) {
            _mint(toList[i], amounts[i]);
        }
    }

    /// @notice Mints `amount` to `to` if it can be delivered, else mints nothing and says why;
    ///         gateway only. Never reverts because of the recipient or the freeze, so a batch
    ///         can record an undeliverable transfer as failed and go on; reverts with
    ///         {AssetSuspended} while the asset is suspended (the gateway does not deliver then:
    ///         it queues the transfer, and its release reverts here until the suspension is lifted).
    /// @param to The receiver.
    /// @param amount The amount.
    /// @return outcome {MINTED}, {RECIPIENT_NOT_ALLOWED} (not allowed in the registry, or its
    ///         wallet frozen on this token) or {TOKEN_FROZEN}.
    function mintChecked(address to, uint256 amount) external onlyGateway returns (uint8 outcome) {
        if (_assetStatus != ASSET_ACTIVE) return _inactiveMint();
        if (frozen) return TOKEN_FROZEN;
        if (!registry.isAllowed(to)) return RECIPIENT_NOT_ALLOWED;
        if (_restricted != 0 && _holders[to].frozen) return RECIPIENT_NOT_ALLOWED;
        _mintUnchecked(to, amount);
        return MINTED;
    }

    /// @notice {mintChecked} for a whole batch in one call; gateway only. Mints `amounts[i]` to
    ///         `to[i]` for every recipient that can receive, and reports the others: bit (i % 256)
    ///         of word (i / 256) of `refused` is set when nothing was minted to `to[i]` (not
    ///         allowed in the registry, or its wallet frozen on this token). Never reverts
    ///         because of a recipient or the freeze.
    /// @dev One registry call for every recipient's KYC status ({KycRegistry-allowedMask}). A
    ///      recipient may appear more than once; each entry is minted (or refused) on its own.
    ///      The token's wallet freezes are read only while some holder is restricted. Reverts
    ///      with {AssetSuspended} while the asset is suspended (the gateway queues a suspended
    ///      token's transfers instead of calling this); a defaulted or matured asset answers
    ///      {TOKEN_FROZEN} (no new mint).
    /// @param to The receivers (at least one).
    /// @param amounts The amounts, one per receiver.
    /// @return outcome {MINTED} (`refused` says to whom not) or {TOKEN_FROZEN} (nothing minted,
    ///         every bit of `refused` set).
    /// @return refused ceil(to.length / 256) words; no bit at or past to.length.
    function mintBatchChecked(address[] calldata to, uint256[] calldata amounts)
        external
        onlyGateway
        returns (uint8 outcome, uint256[] memory refused)
    {
        uint256 n = to.length;
        if (n == 0) revert EmptyMint();
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        uint256 words = (n + 255) >> 8;
        refused = new uint256[](words);
        if (frozen || _assetStatus != ASSET_ACTIVE) {
            _inactiveMint();
            for (uint256 k; k < words; ++k) {
                refused[k] = type(uint256).max;
            }
            if (n & 0xff != 0) refused[words - 1] = (uint256(1) << (n & 0xff)) - 1;
            return (TOKEN_FROZEN, refused);
        }
        uint256[] memory allowed = _allowedMask(to, words);
        bool restricted = _restricted != 0;
        uint256 bits;
        for (uint256 i; i < n; ++i) {
            if (i & 0xff == 0) bits = allowed[i >> 8];
            address account;
            uint256 amount;
            assembly ("memory-safe") {
                // i < n = to.length = amounts.length, and Solidity has checked that both
                // arrays lie inside the calldata.
                account := calldataload(add(to.offset, shl(5, i)))
                amount := calldataload(add(amounts.offset, shl(5, i)))
                // An address word with bits above 160 is malformed calldata, refused as the
                // ABI decoder refuses it (the registry has refused it already).
                if shr(160, account) { revert(0, 0) }
            }
            if ((bits >> (i & 0xff)) & 1 == 1 && !(restricted && _holders[account].frozen)) {
                _mintUnchecked(account, amount);
            } else {
                refused[i >> 8] |= uint256(1) << (i & 0xff);
            }
        }
        return (MINTED, refused);
    }

    /// @notice Burns `amount` from `from`; gateway only (start of an E -> C transfer by `from`).
    ///         No allowance is needed: the gateway only burns from the account that called it.
    ///         Only the free balance burns: frozen tokens stay ({AmountAboveFreeBalance}).
    /// @param from The holder whose tokens are burnt (allowed, not frozen).
    /// @param amount The amount.
    function burn(address from, uint256 amount) external onlyGateway {
        _burn(from, amount);
    }

    /// @notice ERC-3643's batch burn: {burn} for each entry, all or nothing; gateway only.
    /// @param userAddresses The holders.
    /// @param amounts The amounts, one per holder.
    function batchBurn(address[] calldata userAddresses, uint256[] calldata amounts) external onlyGateway {
        _checkLengths(userAddresses.length, amounts.length);
        for (uint256 i; i < userAddresses.length; ++i) {
            _burn(userAddresses[i], amounts[i]);
        }
    }

    // ------------------------------------------------------------------ holders

    /// @notice ERC-3643: {transfer} to each receiver in turn, all or nothing.
    /// @param toList The receivers.
    /// @param amounts The amounts, one per receiver.
    function batchTransfer(address[] calldata toList, uint256[] calldata amounts) external {
        _checkLengths(toList.length, amounts.length);
        for (uint256 i; i < toList.length; ++i) {
            _transfer(msg.sender, toList[i], amounts[i]);
        }
    }

    // ------------------------------------------------------------------ gateway: asset status and NAV

    /// @notice Sets the asset's status as the issuer decided it on the consortium chain; gateway
    ///         only (carried by the committee, IssuerModule). ACTIVE: as usual; SUSPENDED: no
    ///         transfer, mint or burn ({AssetSuspended}; the gateway queues the transfers
    ///         minting it and releases them after the lift); DEFAULTED and MATURED: no transfer and no new mint (a delivery
    ///         fails and is refunded on C), burns toward C only. Forced transfers and recovery,
    ///         the issuer's own orders, are not stopped by the status.
    /// @param status ASSET_ACTIVE (0) .. ASSET_MATURED (3); {InvalidAssetStatus} otherwise.
    function setAssetStatus(uint8 status) external onlyGateway {
        if (status > ASSET_MATURED) revert InvalidAssetStatus(status);
        _assetStatus = status;
        emit AssetStatusSet(status);
    }

    /// @notice Records the asset's NAV per unit as of `asOf`, as the issuer recorded it on the
    ///         consortium chain; gateway only. Reverts with {InvalidNav} for a zero NAV, one
    ///         above 2^192 - 1, or a timestamp not after the last one.
    /// @param navPerUnit The NAV of one token (18 decimals).
    /// @param asOf Its timestamp (unix seconds).
    function setNav(uint256 navPerUnit, uint64 asOf) external onlyGateway {
        if (navPerUnit == 0 || navPerUnit > type(uint192).max || asOf <= _navAsOf) {
            revert InvalidNav(navPerUnit, asOf);
        }
        // forge-lint: disable-next-line(unsafe-typecast) -- checked just above
        _navPerUnit = uint192(navPerUnit);
        _navAsOf = asOf;
        emit NavSet(navPerUnit, asOf);
    }

    /// @notice The asset's status (ASSET_ACTIVE .. ASSET_MATURED).
    function assetStatus() external view returns (uint8 status) {
        return _assetStatus;
    }

    /// @notice The asset's last NAV per unit (18 decimals) and its timestamp (zeros before the
    ///         first). How old a NAV may be before it is reported stale is the relayer's
    ///         setting (`actions.nav_max_age`): the token only keeps what C recorded.
    function nav() external view returns (uint256 navPerUnit, uint64 asOf) {
        return (_navPerUnit, _navAsOf);
    }

    // ------------------------------------------------------------------ agents: freezes

    /// @notice ERC-3643: freezes (true) or unfreezes (false) the wallet `userAddress` on this
    ///         token: it can neither send nor receive (a forced transfer still moves it); agent
    ///         only. Independent of the registry's freezes.
    /// @param userAddress The wallet (not zero).
    /// @param freeze True to freeze.
    function setAddressFrozen(address userAddress, bool freeze) external onlyAgent {
        _setAddressFrozen(userAddress, freeze);
    }

    /// @notice {setAddressFrozen} for each entry, all or nothing; agent only.
    function batchSetAddressFrozen(address[] calldata userAddresses, bool[] calldata freeze) external onlyAgent {
        _checkLengths(userAddresses.length, freeze.length);
        for (uint256 i; i < userAddresses.length; ++i) {
            _setAddressFrozen(userAddresses[i], freeze[i]);
        }
    }

    /// @notice ERC-3643: freezes `amount` more of `userAddress`'s balance; agent only. Reverts
    ///         with {AmountAboveFreeBalance} above the free balance, {ZeroAmount}, {ZeroAccount}.
    /// @param userAddress The holder.
    /// @param amount The amount to freeze (at most the free balance).
    function freezePartialTokens(address userAddress, uint256 amount) external onlyAgent {
        _freezePartial(userAddress, amount);
    }

    /// @notice {freezePartialTokens} for each entry, all or nothing; agent only.
    function batchFreezePartialTokens(address[] calldata userAddresses, uint256[] calldata amounts) external onlyAgent {
        _checkLengths(userAddresses.length, amounts.length);
        for (uint256 i; i < userAddresses.length; ++i) {
            _freezePartial(userAddresses[i], amounts[i]);
        }
    }

    /// @notice ERC-3643: frees `amount` of `userAddress`'s frozen tokens; agent only. Reverts
    ///         with {AmountAboveFrozen} above what is frozen, {ZeroAmount}, {ZeroAccount}.
    /// @param userAddress The holder.
    /// @param amount The amount to unfreeze (at most the frozen tokens).
    function unfreezePartialTokens(address userAddress, uint256 amount) external onlyAgent {
        _unfreezePartial(userAddress, amount);
    }

    /// @notice {unfreezePartialTokens} for each entry, all or nothing; agent only.
    function batchUnfreezePartialTokens(address[] calldata userAddresses, uint256[] calldata amounts)
        external
        onlyAgent
    {
        _checkLengths(userAddresses.length, amounts.length);
        for (uint256 i; i < userAddresses.length; ++i) {
            _unfreezePartial(userAddresses[i], amounts[i]);
        }
    }

    // ------------------------------------------------------------------ agents: forced moves

    /// @notice ERC-3643: moves `amount` from `from` to `to` on an order (a court, a regulator);
    ///         agent only. `to` must be verified in the registry; `from` may be frozen or no
    ///         longer allowed. Frozen tokens of `from` are released as needed ({TokensUnfrozen}):
    ///         what is left is frozen. Refused while paused. Neither mints nor burns.
    /// @param from The holder (not zero).
    /// @param to The receiver (not zero, verified).
    /// @param amount The amount (positive, at most `from`'s balance).
    /// @return ok Always true (failures revert).
    function forcedTransfer(address from, address to, uint256 amount) external onlyAgent returns (bool ok) {
        _forcedTransfer(from, to, amount);
        return true;
    }

    /// @notice {forcedTransfer} for each entry, all or nothing; agent only.
    function batchForcedTransfer(address[] calldata fromList, address[] calldata toList, uint256[] calldata amounts)
        external
        onlyAgent
    {
        _checkLengths(fromList.length, toList.length);
        _checkLengths(fromList.length, amounts.length);
        for (uint256 i; i < fromList.length; ++i) {
            _forcedTransfer(fromList[i], toList[i], amounts[i]);
        }
    }

    /// @notice ERC-3643: moves the whole balance of a wallet its holder lost to their new wallet,
    ///         with its frozen tokens and its wallet freeze; agent only. The new wallet must
    ///         already be verified in the registry (the compliance desk, or the consortium
    ///         chain's ALLOW, puts it on the allow-list first; removing the lost wallet from it
    ///         is the desk's too). Refused while paused.
    /// @param lostWallet The wallet to recover from (holds something).
    /// @param newWallet The holder's new wallet (verified, not `lostWallet`).
    /// @param investorOnchainID The holder's ONCHAINID if the issuer has one (only reported in
    ///        {RecoverySuccess}: this token keeps identities in the registry).
    /// @return ok Always true (failures revert).
    function recoveryAddress(address lostWallet, address newWallet, address investorOnchainID)
        external
        onlyAgent
        returns (bool ok)
    {
        if (lostWallet == address(0) || newWallet == address(0)) revert ZeroAccount();
        if (lostWallet == newWallet) revert SameWallet(lostWallet);
        uint256 balance = balanceOf(lostWallet);
        if (balance == 0) revert NoTokenToRecover(lostWallet);
        if (frozen) revert TokenIsFrozen();
        if (!registry.isAllowed(newWallet)) revert NotAllowed(newWallet);
        Holder memory lost = _holders[lostWallet];
        Holder memory next = _holders[newWallet];
        _setHolder(lostWallet, lost.frozen, 0);
        if (lost.frozenTokens != 0) emit TokensUnfrozen(lostWallet, lost.frozenTokens);
        super._update(lostWallet, newWallet, balance);
        _setHolder(newWallet, next.frozen || lost.frozen, uint256(next.frozenTokens) + lost.frozenTokens);
        if (lost.frozenTokens != 0) emit TokensFrozen(newWallet, lost.frozenTokens);
        if (lost.frozen && !next.frozen) emit AddressFrozen(newWallet, true, msg.sender);
        emit RecoverySuccess(lostWallet, newWallet, investorOnchainID);
        return true;
    }

    // ------------------------------------------------------------------ owner

    /// @notice ERC-3643: makes `agent` an agent (AGENT_ROLE); DEFAULT_ADMIN_ROLE only.
    /// @param agent The address (not zero, not an agent yet).
    function addAgent(address agent) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (agent == address(0)) revert ZeroAccount();
        if (!_grantRole(AGENT_ROLE, agent)) revert AlreadyAgent(agent);
    }

    /// @notice ERC-3643: removes `agent` from the agents; DEFAULT_ADMIN_ROLE only.
    /// @param agent An agent.
    function removeAgent(address agent) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (!_revokeRole(AGENT_ROLE, agent)) revert NotAgent(agent);
    }

    /// @notice ERC-3643: whether `agent` has AGENT_ROLE.
    function isAgent(address agent) external view returns (bool) {
        return hasRole(AGENT_ROLE, agent);
    }

    /// @notice ERC-3643: sets the token's name; DEFAULT_ADMIN_ROLE only.
    /// @param name_ The new name (not empty).
    function setName(string calldata name_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (bytes(name_).length == 0) revert EmptyString();
        _tokenName = name_;
        _emitTokenInformation();
    }

    /// @notice ERC-3643: sets the token's symbol; DEFAULT_ADMIN_ROLE only.
    /// @param symbol_ The new symbol (not empty).
    function setSymbol(string calldata symbol_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (bytes(symbol_).length == 0) revert EmptyString();
        _tokenSymbol = symbol_;
        _emitTokenInformation();
    }

    /// @notice ERC-3643: sets the token's ONCHAINID (zero: none); DEFAULT_ADMIN_ROLE only.
    /// @param onchainID_ The address.
    function setOnchainID(address onchainID_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _onchainID = onchainID_;
        _emitTokenInformation();
    }

    /// @notice ERC-3643's setter; always reverts with {FixedAtDeployment}: the registry is the
    ///         one the gateway carries the consortium chain's decisions into.
    function setIdentityRegistry(address) external pure {
        revert FixedAtDeployment();
    }

    /// @notice ERC-3643's setter; always reverts with {FixedAtDeployment}: the compliance rules
    ///         are this token's own ({canTransfer}).
    function setCompliance(address) external pure {
        revert FixedAtDeployment();
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc ERC20
    function name() public view override returns (string memory) {
        return _tokenName;
    }

    /// @inheritdoc ERC20
    function symbol() public view override returns (string memory) {
        return _tokenSymbol;
    }

    /// @notice ERC-3643: the token's ONCHAINID (zero if none).
    function onchainID() external view returns (address) {
        return _onchainID;
    }

    /// @notice ERC-3643: this implementation's version.
    function version() public pure returns (string memory) {
        return "qiao-erc3643-1";
    }

    /// @notice ERC-3643: the identity registry, the {KycRegistry} ({KycRegistry-isVerified}).
    function identityRegistry() external view returns (address) {
        return address(registry);
    }

    /// @notice ERC-3643: the compliance contract, this token ({canTransfer} is the pre-check).
    function compliance() external view returns (address) {
        return address(this);
    }

    /// @notice ERC-3643: whether the wallet `userAddress` is frozen on this token (the registry's
    ///         freezes show in {KycRegistry-isVerified} and {canTransfer}).
    function isFrozen(address userAddress) external view returns (bool) {
        return _holders[userAddress].frozen;
    }

    /// @notice ERC-3643: the frozen part of `userAddress`'s balance.
    function getFrozenTokens(address userAddress) external view returns (uint256) {
        return _holders[userAddress].frozenTokens;
    }

    /// @notice ERC-3643's pre-check: whether `from` can transfer `amount` to `to` now (token not
    ///         paused, both verified in the registry, neither wallet frozen, `amount` within the
    ///         free balance of `from`).
    function canTransfer(address from, address to, uint256 amount) external view returns (bool) {
        if (frozen || _assetStatus != ASSET_ACTIVE || from == address(0) || to == address(0)) return false;
        if (!registry.isAllowed(from) || !registry.isAllowed(to)) return false;
        Holder memory h = _holders[from];
        if (h.frozen || _holders[to].frozen) return false;
        return amount <= balanceOf(from) - h.frozenTokens;
    }

    /// @notice Whether `account` can receive the token now (token not frozen, account allowed,
    ///         its wallet not frozen on this token).
    /// @param account The address.
    /// @return ok True if a mint or transfer to `account` would pass the checks.
    function canReceive(address account) external view returns (bool ok) {
        return !frozen && _assetStatus == ASSET_ACTIVE && registry.isAllowed(account) && !_holders[account].frozen;
    }

    /// @notice ERC-165: IERC3643, IAgentRole, IERC20, IERC20Metadata, IAccessControl, IERC165.
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return interfaceId == type(IERC3643).interfaceId || interfaceId == type(IAgentRole).interfaceId
            || interfaceId == type(IERC20).interfaceId || interfaceId == type(IERC20Metadata).interfaceId
            || super.supportsInterface(interfaceId);
    }

    // ------------------------------------------------------------------ internals

    /// @dev Every balance change by a holder or the gateway: refuses a frozen token, any non-zero
    ///      party not allowed, a frozen wallet and an amount above the sender's free balance.
    function _update(address from, address to, uint256 value) internal override {
        if (frozen) revert TokenIsFrozen();
        if (_assetStatus != ASSET_ACTIVE) _checkAssetStatus(from, to);
        if (from != address(0) && !registry.isAllowed(from)) revert NotAllowed(from);
        if (to != address(0) && !registry.isAllowed(to)) revert NotAllowed(to);
        if (_restricted != 0) _checkHolders(from, to, value);
        super._update(from, to, value);
    }

    /// @dev The asset-status part of {_update} (status not ACTIVE): suspended, nothing moves;
    ///      defaulted or matured, only burns (redemption toward C) and the gateway's refund mints
    ///      (a burn that failed on C given back) pass, never a transfer between holders.
    function _checkAssetStatus(address from, address to) private view {
        uint8 status = _assetStatus;
        if (status == ASSET_SUSPENDED) revert AssetSuspended();
        if (from != address(0) && to != address(0)) revert AssetNotActive(status);
    }

    /// @dev A new delivery while the asset is not ACTIVE: suspended, revert (the gateway's
    ///      release of a queued transfer waits for the lift); otherwise nothing is minted
    ///      ({TOKEN_FROZEN}: the transfer fails and is refunded on C).
    function _inactiveMint() private view returns (uint8 outcome) {
        if (_assetStatus == ASSET_SUSPENDED) revert AssetSuspended();
        return TOKEN_FROZEN;
    }

    /// @dev The ERC-3643 part of {_update}: wallet freezes and the free balance.
    function _checkHolders(address from, address to, uint256 value) private view {
        if (from != address(0)) {
            Holder memory h = _holders[from];
            if (h.frozen) revert AddressIsFrozen(from);
            if (h.frozenTokens != 0) {
                uint256 free = balanceOf(from) - h.frozenTokens;
                if (value > free) revert AmountAboveFreeBalance(from, value, free);
            }
        }
        if (to != address(0) && _holders[to].frozen) revert AddressIsFrozen(to);
    }

    function _forcedTransfer(address from, address to, uint256 amount) private {
        if (from == address(0) || to == address(0)) revert ZeroAccount();
        if (amount == 0) revert ZeroAmount();
        if (frozen) revert TokenIsFrozen();
        if (!registry.isAllowed(to)) revert NotAllowed(to);
        uint256 balance = balanceOf(from);
        if (amount > balance) revert ERC20InsufficientBalance(from, balance, amount);
        Holder memory h = _holders[from];
        uint256 free = balance - h.frozenTokens;
        if (amount > free) {
            uint256 release = amount - free;
            _setHolder(from, h.frozen, h.frozenTokens - release);
            emit TokensUnfrozen(from, release);
        }
        super._update(from, to, amount);
    }

    function _setAddressFrozen(address account, bool freeze) private {
        if (account == address(0)) revert ZeroAccount();
        _setHolder(account, freeze, _holders[account].frozenTokens);
        emit AddressFrozen(account, freeze, msg.sender);
    }

    function _freezePartial(address account, uint256 amount) private {
        if (account == address(0)) revert ZeroAccount();
        if (amount == 0) revert ZeroAmount();
        Holder memory h = _holders[account];
        uint256 free = balanceOf(account) - h.frozenTokens;
        if (amount > free) revert AmountAboveFreeBalance(account, amount, free);
        _setHolder(account, h.frozen, uint256(h.frozenTokens) + amount);
        emit TokensFrozen(account, amount);
    }

    function _unfreezePartial(address account, uint256 amount) private {
        if (account == address(0)) revert ZeroAccount();
        if (amount == 0) revert ZeroAmount();
        Holder memory h = _holders[account];
        if (amount > h.frozenTokens) revert AmountAboveFrozen(account, amount, h.frozenTokens);
        _setHolder(account, h.frozen, h.frozenTokens - amount);
        emit TokensUnfrozen(account, amount);
    }

    /// @dev Writes a holder's state and keeps {_restricted} counting the restricted holders.
    function _setHolder(address account, bool freeze, uint256 frozenTokens) private {
        Holder storage h = _holders[account];
        bool was = h.frozen || h.frozenTokens != 0;
        bool restricted = freeze || frozenTokens != 0;
        h.frozen = freeze;
        h.frozenTokens = SafeCast.toUint248(frozenTokens);
        if (restricted && !was) ++_restricted;
        else if (was && !restricted) --_restricted;
    }

    function _setFrozen(bool frozen_) private {
        frozen = frozen_;
        emit TokenFrozenSet(frozen_, msg.sender);
        if (frozen_) emit Paused(msg.sender);
        else emit Unpaused(msg.sender);
    }

    function _emitTokenInformation() private {
        emit UpdatedTokenInformation(_tokenName, _tokenSymbol, decimals(), version(), _onchainID);
    }

    function _checkLengths(uint256 a, uint256 b) private pure {
        if (a == 0) revert EmptyBatch();
        if (a != b) revert LengthMismatch(a, b);
    }

    /// @dev AGENT_ROLE granted by any path (addAgent, grantRole, the constructor) emits AgentAdded.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == AGENT_ROLE) emit AgentAdded(account);
    }

    /// @dev AGENT_ROLE revoked by any path (removeAgent, revokeRole, renounceRole) emits AgentRemoved.
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        revoked = super._revokeRole(role, account);
        if (revoked && role == AGENT_ROLE) emit AgentRemoved(account);
    }

    /// @dev {KycRegistry-allowedMask} of `accounts` (their calldata forwarded as they came, no
    ///      re-encoding), with the reply checked: the call succeeded and returned exactly
    ///      abi.encode(uint256[]) of `words` words. A failing call reverts with its reason.
    function _allowedMask(address[] calldata accounts, uint256 words) private view returns (uint256[] memory mask) {
        address r = address(registry);
        bytes4 selector = KycRegistry.allowedMask.selector;
        bool good;
        assembly ("memory-safe") {
            let n := accounts.length
            let p := mload(0x40)
            // allowedMask(address[]): selector, offset 0x20, length, the n address words.
            mstore(p, selector)
            mstore(add(p, 0x04), 0x20)
            mstore(add(p, 0x24), n)
            calldatacopy(add(p, 0x44), accounts.offset, shl(5, n))
            if iszero(staticcall(gas(), r, p, add(0x44, shl(5, n)), 0, 0)) {
                returndatacopy(p, 0, returndatasize())
                revert(p, returndatasize())
            }
            // The reply is decoded in place (at p, then allocated): offset 0x20, length `words`,
            // the words; any other size or head is refused below.
            if eq(returndatasize(), add(0x40, shl(5, words))) {
                returndatacopy(p, 0, returndatasize())
                good := and(eq(mload(p), 0x20), eq(mload(add(p, 0x20)), words))
                mask := add(p, 0x20)
                mstore(0x40, add(mask, shl(5, add(words, 1))))
            }
        }
        if (!good) revert InvalidRegistryReply();
    }

    /// @dev Mint after {mintChecked} or {mintBatchChecked} has done the checks of {_update} itself.
    function _mintUnchecked(address to, uint256 amount) private {
        super._update(address(0), to, amount);
    }
}
