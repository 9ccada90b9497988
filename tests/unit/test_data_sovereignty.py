"""Data sovereignty (issue 19, point 4): exactly what crosses the bridge is the list in
docs/PROTOCOL.md ("Data sovereignty: exactly what crosses the bridge"): every kind of message the
committee signs, each field with its type, and no personal data. This test reads that list and
holds the contracts (`Protocol.sol`'s type strings) and the relayer (its encoding's type hashes,
its action kinds, the kinds of signed items it records) to it: a new kind, a new field, or a field
of another type fails here until the list (and the review it implies) says so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from eth_utils.crypto import keccak

from relayer.core import encoding, signing
from relayer.core.items import ActionKind

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_MD = ROOT / "docs" / "PROTOCOL.md"
PROTOCOL_SOL = ROOT / "contracts" / "src" / "endpoint" / "Protocol.sol"

# The only types a crossing field may have: fixed-size numbers, addresses, flags and hashes. A
# string or bytes field could carry anything (a name, a document); the one string is the version.
ALLOWED_TYPES = re.compile(r"^(address|bool|bytes32|uint(8|16|32|64|128|256))$")
# Words that would name personal data; none may appear in a field name.
PERSONAL = (
    "name",
    "email",
    "mail",
    "phone",
    "birth",
    "country",
    "nationality",
    "passport",
    "identity",
    "kyc",
)
TYPE_STRING = re.compile(r"^(Qiao\w+)\(([^()]*)\)$")


def _section() -> str:
    text = PROTOCOL_MD.read_text()
    start = text.index("### Data sovereignty: exactly what crosses the bridge")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def documented_kinds() -> dict[str, list[tuple[str, str]]]:
    """Type name -> its (type, field) list, from the fenced block after the kinds marker."""
    section = _section()
    block = section.split("<!-- data-sovereignty:kinds -->", 1)[1].split("```")[1]
    kinds: dict[str, list[tuple[str, str]]] = {}
    for line in block.strip().splitlines():
        m = TYPE_STRING.match(line.strip())
        assert m, f"not a type string in the list: {line!r}"
        kinds[m.group(1)] = [tuple(f.split()) for f in m.group(2).split(",")]  # type: ignore[misc]
    return kinds


def documented_fields() -> dict[str, str]:
    """Field name -> its type, from the table after the fields marker."""
    section = _section()
    table = section.split("<!-- data-sovereignty:fields -->", 1)[1]
    fields: dict[str, str] = {}
    for line in table.strip().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or cells[0] in ("field", "---"):
            continue
        for name in re.findall(r"`(\w+)`", cells[0]):
            fields[name] = cells[1]
    return fields


def type_string(name: str, fields: list[tuple[str, str]]) -> str:
    return f"{name}({','.join(f'{t} {n}' for t, n in fields)})"


def contract_type_strings() -> dict[str, str]:
    """Constant name -> the type string hashed in Protocol.sol."""
    text = PROTOCOL_SOL.read_text()
    found = dict(
        re.findall(r"bytes32 internal constant (\w+_TYPEHASH)\s*=\s*keccak256\(\s*\"([^\"]+)\"", text)
    )
    assert found, "no type hash found in Protocol.sol (did its form change?)"
    return found


def test_the_documented_list_is_well_formed_and_holds_no_personal_data() -> None:
    kinds, fields = documented_kinds(), documented_fields()
    assert len(kinds) >= 10
    for name, members in kinds.items():
        for typ, field in members:
            assert field in fields, f"{name}.{field} is not in the fields table"
            assert fields[field] == typ, f"{name}.{field} is {typ}, the table says {fields[field]}"
            if field == "version":
                assert typ == "string"
            else:
                assert ALLOWED_TYPES.match(typ), (
                    f"{name}.{field} has type {typ}: not a number, address, flag or hash"
                )
            assert not any(word in field.lower() for word in PERSONAL), f"{name}.{field} names personal data"


def test_every_type_hash_of_the_contracts_is_on_the_list_with_exactly_its_fields() -> None:
    kinds = documented_kinds()
    on_chain = contract_type_strings()
    listed = {type_string(n, f) for n, f in kinds.items()}
    for constant, text in on_chain.items():
        assert text in listed, f"Protocol.sol {constant} = {text!r} is not on the data-sovereignty list"
    assert listed == set(on_chain.values()), "the list has a kind Protocol.sol does not sign"


def test_every_kind_the_relayer_signs_is_on_the_list() -> None:
    kinds = documented_kinds()
    hashes = {keccak(text=type_string(n, f)): n for n, f in kinds.items()}
    relayer_hashes = {
        "transfer": encoding.TRANSFER_TYPEHASH,
        "batch": encoding.BATCH_TYPEHASH,
        "refund": encoding.REFUND_TYPEHASH,
        **encoding.ACTION_TYPEHASHES,
    }
    for kind, digest in relayer_hashes.items():
        assert digest in hashes, (
            f"the relayer signs a {kind!r} whose type is not on the data-sovereignty list"
        )
    assert set(hashes) == set(relayer_hashes.values()), "the list has a kind the relayer does not sign"
    # every action kind the pipeline knows has a type hash (so it is on the list), and no other
    assert {k.value for k in ActionKind} == set(encoding.ACTION_TYPEHASHES)


def test_the_signed_item_kinds_are_the_listed_ones() -> None:
    """The store's signed-once record names batches, refunds and the action kinds: no other kind of
    item is signed (relayer.core.signing)."""
    source = Path(signing.__file__).read_text()
    made = set(re.findall(r"SignedItem\(\s*\"(\w+)\"", source))
    assert made == {"batch", "refund"}, f"relayer.core.signing makes items of kinds {made}"


@pytest.mark.parametrize(
    ("kind", "field_count"),
    [("issuer", 7), ("freeze", 2), ("allow", 2), ("uncurse", 2), ("resume", 2), ("rotate", 1), ("pause", 0)],
)
def test_action_params_are_exactly_the_listed_extra_fields(kind: str, field_count: int) -> None:
    """The params the relayer hashes after the common head are the listed fields past
    `actionNonce`, one 32-byte word each: nothing rides along unlisted."""
    names = {"issuer": "QiaoIssuerAction", "rotate": "QiaoRotateKey"}
    name = names.get(kind, "Qiao" + kind.capitalize())
    fields = documented_kinds()[name]
    head = [f for _, f in fields].index("actionNonce") + 1
    assert len(fields) - head == field_count
    assert encoding._PARAMS_SIZE[kind] == 32 * field_count
