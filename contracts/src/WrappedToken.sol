// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {KycRegistry} from "./KycRegistry.sol";

/// @title WrappedToken
/// @notice Permissioned ERC-20 (18 decimals) on Ethereum representing an asset locked in the
///         QiaoVault on the consortium chain. Only addresses allowed (and not frozen) in the
///         {KycRegistry} can hold, send or receive it; the issuer's compliance role can freeze the
///         whole token. Only its gateway, fixed at construction, mints and burns.
/// @dev Roles: DEFAULT_ADMIN_ROLE manages roles; COMPLIANCE_ROLE freezes and unfreezes the token.
///      Every balance change goes through {_update}, which refuses a frozen token and a party that
///      is not allowed, so no path (transfer, transferFrom, mint, burn) bypasses the checks.
contract WrappedToken is ERC20, AccessControl {
    /// @notice Role that freezes and unfreezes the whole token.
    bytes32 public constant COMPLIANCE_ROLE = keccak256("QIAO_COMPLIANCE_ROLE");

    /// @notice Outcome of {mintChecked}; the gateway records a non-zero outcome as a failed transfer.
    uint8 public constant MINTED = 0;
    /// @notice {mintChecked}: the recipient is not allowed or is frozen.
    uint8 public constant RECIPIENT_NOT_ALLOWED = 1;
    /// @notice {mintChecked}: the token is frozen.
    uint8 public constant TOKEN_FROZEN = 2;

    /// @notice The QiaoGateway allowed to mint and burn; set once, never changes.
    address public immutable gateway;
    /// @notice The allow-list consulted on every balance change.
    KycRegistry public immutable registry;
    /// @notice True while the whole token is frozen: no transfer, mint or burn.
    bool public frozen;

    /// @notice The whole token was frozen (true) or unfrozen (false).
    event TokenFrozenSet(bool frozen, address indexed by);

    /// @notice The caller is not the gateway.
    error OnlyGateway(address caller);
    /// @notice A constructor address is the zero address or has no code where code is required.
    error ZeroGateway();
    /// @notice The registry is the zero address or has no code.
    error InvalidRegistry(address registry);
    /// @notice The admin is the zero address.
    error ZeroAdmin();
    /// @notice The token is frozen.
    error TokenIsFrozen();
    /// @notice `account` is not allowed (or is frozen) in the registry.
    error NotAllowed(address account);
    /// @notice {mintBatchChecked} was called without a receiver.
    error EmptyMint();
    /// @notice {mintBatchChecked} got `amounts` receivers' amounts for `receivers` receivers.
    error LengthMismatch(uint256 receivers, uint256 amounts);
    /// @notice The registry answered a batched KYC query with a mask of the wrong length.
    error InvalidRegistryReply();

    /// @param name_ ERC-20 name.
    /// @param symbol_ ERC-20 symbol.
    /// @param gateway_ The QiaoGateway that mints and burns (deploy it first).
    /// @param registry_ The KycRegistry of this chain.
    /// @param admin Receives DEFAULT_ADMIN_ROLE and COMPLIANCE_ROLE.
    constructor(string memory name_, string memory symbol_, address gateway_, KycRegistry registry_, address admin)
        ERC20(name_, symbol_)
    {
        if (gateway_ == address(0)) revert ZeroGateway();
        if (address(registry_).code.length == 0) revert InvalidRegistry(address(registry_));
        if (admin == address(0)) revert ZeroAdmin();
        gateway = gateway_;
        registry = registry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(COMPLIANCE_ROLE, admin);
    }

    modifier onlyGateway() {
        if (msg.sender != gateway) revert OnlyGateway(msg.sender);
        _;
    }

    /// @notice Freezes (true) or unfreezes (false) the whole token; COMPLIANCE_ROLE only.
    /// @param frozen_ The new state.
    function setFrozen(bool frozen_) external onlyRole(COMPLIANCE_ROLE) {
        frozen = frozen_;
        emit TokenFrozenSet(frozen_, msg.sender);
    }

    /// @notice Mints `amount` to `to`; gateway only. Reverts with {TokenIsFrozen} or {NotAllowed}.
    /// @dev Used for refunds of E -> C transfers that failed on the consortium chain.
    /// @param to The receiver (allowed, not zero).
    /// @param amount The amount.
    function mint(address to, uint256 amount) external onlyGateway {
        _mint(to, amount);
    }

    /// @notice Mints `amount` to `to` if it can be delivered, else mints nothing and says why;
    ///         gateway only. Never reverts because of the recipient or the freeze, so a batch
    ///         can record an undeliverable transfer as failed and go on.
    /// @param to The receiver.
    /// @param amount The amount.
    /// @return outcome {MINTED}, {RECIPIENT_NOT_ALLOWED} or {TOKEN_FROZEN}.
    function mintChecked(address to, uint256 amount) external onlyGateway returns (uint8 outcome) {
        if (frozen) return TOKEN_FROZEN;
        if (!registry.isAllowed(to)) return RECIPIENT_NOT_ALLOWED;
        _mintUnchecked(to, amount);
        return MINTED;
    }

    /// @notice {mintChecked} for a whole batch in one call; gateway only. Mints `amounts[i]` to
    ///         `to[i]` for every recipient that can receive, and reports the others: bit (i % 256)
    ///         of word (i / 256) of `refused` is set when nothing was minted to `to[i]`. Never
    ///         reverts because of a recipient or the freeze.
    /// @dev One registry call for every recipient's KYC status ({KycRegistry-allowedMask}). A
    ///      recipient may appear more than once; each entry is minted (or refused) on its own.
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
        if (frozen) {
            for (uint256 k; k < words; ++k) {
                refused[k] = type(uint256).max;
            }
            if (n & 0xff != 0) refused[words - 1] = (uint256(1) << (n & 0xff)) - 1;
            return (TOKEN_FROZEN, refused);
        }
        uint256[] memory allowed = _allowedMask(to, words);
        uint256 bits;
        for (uint256 i; i < n; ++i) {
            if (i & 0xff == 0) bits = allowed[i >> 8];
            if ((bits >> (i & 0xff)) & 1 == 1) {
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
                _mintUnchecked(account, amount);
            } else {
                refused[i >> 8] |= uint256(1) << (i & 0xff);
            }
        }
        return (MINTED, refused);
    }

    /// @notice Burns `amount` from `from`; gateway only (start of an E -> C transfer by `from`).
    ///         No allowance is needed: the gateway only burns from the account that called it.
    /// @param from The holder whose tokens are burnt (allowed, not frozen).
    /// @param amount The amount.
    function burn(address from, uint256 amount) external onlyGateway {
        _burn(from, amount);
    }

    /// @notice Whether `account` can receive the token now (token not frozen, account allowed).
    /// @param account The address.
    /// @return ok True if a mint or transfer to `account` would pass the checks.
    function canReceive(address account) external view returns (bool ok) {
        return !frozen && registry.isAllowed(account);
    }

    /// @inheritdoc AccessControl
    function supportsInterface(bytes4 interfaceId) public view override returns (bool) {
        return super.supportsInterface(interfaceId);
    }

    /// @dev Every balance change: refuses a frozen token and any non-zero party not allowed.
    function _update(address from, address to, uint256 value) internal override {
        if (frozen) revert TokenIsFrozen();
        if (from != address(0) && !registry.isAllowed(from)) revert NotAllowed(from);
        if (to != address(0) && !registry.isAllowed(to)) revert NotAllowed(to);
        super._update(from, to, value);
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
