"""The committee keys a member holds, by key epoch, and which epoch each endpoint accepts.

A member holds the key of the epoch its endpoints are at and, during a key rotation, the next
one as well (`[committee.next]` in its configuration: the public file and this member's share of
the new key from the DKG the members ran for epoch e + 1). With both loaded the daemon switches
live, endpoint by endpoint, at the moment each endpoint installs the new key:

- a new batch (or refund, or action) is cut under the epoch its destination endpoint is at now
  (`EndpointEpochs.cut_epoch`); a member that does not hold that epoch's key cuts nothing there;
- an item already cut is signed, judged and combined under the epoch it was cut in
  (`Keyring.public` / `Keyring.share` of that epoch), so batches signed under the previous epoch
  still execute within the endpoint's grace period;
- an item whose epoch the endpoint no longer accepts (grace over, or a rotation while paused,
  which ends the old key at once) is re-keyed: signed again, same content, under the current epoch
  (`EndpointEpochs.accepts`, as of the endpoint's last read).

Pure: no I/O. The pipeline feeds `EndpointEpochs` from its reads of each endpoint.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from committee.threshold import CommitteePublic, KeyShare
from relayer.core.types import ChainId

__all__ = ["EndpointEpochs", "EndpointKey", "EpochKey", "Keyring", "KeyringError", "as_keyring"]


class KeyringError(ValueError):
    """The keys given cannot serve one member (mixed committees, a share of another key)."""


@dataclass(frozen=True, slots=True)
class EpochKey:
    """One key epoch: the committee's public file and this member's share (None: relay only)."""

    public: CommitteePublic
    share: KeyShare | None

    @property
    def epoch(self) -> int:
        return int(self.public.key_epoch)


class Keyring:
    """The key epochs one member holds (one, or two consecutive ones during a rotation)."""

    def __init__(self, keys: Iterable[EpochKey]) -> None:
        ordered = sorted(keys, key=lambda k: k.epoch)
        if not ordered:
            raise KeyringError("no committee key: a member needs at least its current key epoch")
        epochs = [k.epoch for k in ordered]
        if len(set(epochs)) != len(epochs):
            raise KeyringError(f"key epoch given twice: {epochs}")
        for a, b in itertools.pairwise(ordered):
            if b.epoch != a.epoch + 1:
                raise KeyringError(
                    f"key epochs {a.epoch} and {b.epoch} are not consecutive: the next key must be "
                    f"epoch {a.epoch + 1} (a rotation installs epoch e + 1); run the DKG with "
                    f"--key-epoch {a.epoch + 1}"
                )
            if tuple(b.public.members) != tuple(a.public.members):
                raise KeyringError(
                    f"key epoch {b.epoch} has members {list(b.public.members)}, epoch {a.epoch} "
                    f"{list(a.public.members)}: a live switch needs the same members (a new roster "
                    "rotates by a rolling restart onto the new committee file, docs/OPERATIONS.md)"
                )
        for k in ordered:
            if k.share is not None and k.share.public.group_public_key != k.public.group_public_key:
                raise KeyringError(f"the share given for key epoch {k.epoch} is a share of another key")
        self._keys: dict[int, EpochKey] = {k.epoch: k for k in ordered}

    @classmethod
    def single(cls, public: CommitteePublic, share: KeyShare | None) -> Keyring:
        return cls([EpochKey(public, share)])

    @property
    def epochs(self) -> tuple[int, ...]:
        return tuple(self._keys)

    @property
    def first(self) -> EpochKey:
        """The lowest epoch held (the one the configuration calls current)."""
        return self._keys[min(self._keys)]

    @property
    def last(self) -> EpochKey:
        """The highest epoch held (the next key during a rotation)."""
        return self._keys[max(self._keys)]

    @property
    def members(self) -> tuple[int, ...]:
        return tuple(self.first.public.members)

    def holds(self, epoch: int) -> bool:
        return epoch in self._keys

    def get(self, epoch: int) -> EpochKey | None:
        return self._keys.get(epoch)

    def public(self, epoch: int) -> CommitteePublic | None:
        key = self._keys.get(epoch)
        return None if key is None else key.public

    def share(self, epoch: int) -> KeyShare | None:
        key = self._keys.get(epoch)
        return None if key is None else key.share

    def by_group_key(self, group_key: bytes) -> EpochKey | None:
        """The epoch whose group key (96-byte compressed G2) is `group_key`, if held."""
        for key in self._keys.values():
            if bytes(key.public.group_public_key) == bytes(group_key):
                return key
        return None

    def is_member(self, member: int) -> bool:
        return member in self.first.public.public_shares


@dataclass(frozen=True, slots=True)
class EndpointKey:
    """What one endpoint accepts, as read at chain time `chain_time` (its latest block's
    timestamp): its current epoch, and until when (chain time, seconds) the previous one still
    signs batches and refunds (`previousKeyValidUntil()`; 0 before the first rotation)."""

    current: int
    previous_valid_until: int = 0
    chain_time: int = 0

    def accepts(self, epoch: int) -> bool:
        """Whether a batch or refund signed under `epoch` executes here, as of the read
        (contracts/src/endpoint/KeyEpochs.sol `usable` with the grace period allowed)."""
        if epoch == self.current:
            return True
        return epoch != 0 and epoch + 1 == self.current and self.chain_time <= self.previous_valid_until


@dataclass
class EndpointEpochs:
    """The key epoch of each endpoint as last read, and the cut rule over a keyring."""

    keyring: Keyring
    known: dict[ChainId, EndpointKey] = field(default_factory=dict)

    def seed(self, epochs: Mapping[ChainId, int]) -> None:
        for chain, epoch in epochs.items():
            self.known.setdefault(chain, EndpointKey(epoch))

    def update(self, chain: ChainId, key: EndpointKey) -> bool:
        """Record a read of `chain`'s endpoint; True when its current epoch changed."""
        before = self.known.get(chain)
        self.known[chain] = key
        return before is None or before.current != key.current

    def current(self, chain: ChainId) -> int | None:
        key = self.known.get(chain)
        return None if key is None else key.current

    def cut_epoch(self, chain: ChainId) -> int | None:
        """The epoch a new item for `chain`'s endpoint is signed under: the endpoint's current
        epoch, if this member holds its key; None (cut nothing now) otherwise."""
        current = self.current(chain)
        if current is None or not self.keyring.holds(current):
            return None
        return current

    def accepts(self, chain: ChainId, epoch: int) -> bool:
        """Whether `chain`'s endpoint, as last read, still accepts an item signed under `epoch`
        (unknown endpoint: assume it does; the submitter's revert says otherwise)."""
        key = self.known.get(chain)
        return True if key is None else key.accepts(epoch)


def as_keyring(keys: CommitteePublic | Keyring) -> Keyring:
    """`keys` as a keyring: a committee of one key epoch (no share) becomes a keyring of one."""
    return keys if isinstance(keys, Keyring) else Keyring.single(keys, None)
