"""Clinic settings: what an admin edits in the browser (name, price per session, supplies).

The catalog's ``[clinic]`` section gives the defaults; a clinic's own values live in its
``clinic.settings`` JSON and win over them. An edit names the settings version it was made from
(like a patient update): two admins editing at once cannot silently overwrite each other. Only
the values that changed are recorded in the audit event, with their old and new values (no
patient data here).

Values are typed as text, the way a form sends them, and validated here so that every entry
point refuses the same things with the same messages (``fields["field"]`` names the field).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import CursorResult, select, update

from ketaplan.clinical.catalog import Catalog, ClinicSettings, Vial
from ketaplan.errors import ConflictError, InputError, NotFoundError
from ketaplan.services.actors import Actor, require_role
from ketaplan.services.unit_of_work import UnitOfWork
from ketaplan.store.models import Clinic

MAX_PRICE_USD = 100_000.0
MAX_BAG_ML = 2000.0
MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class VialStock:
    mg_per_ml: float
    volume_ml: float


@dataclass(frozen=True, slots=True)
class ClinicSettingsRecord:
    """A clinic's settings as in force: its own values over the catalog's defaults."""

    clinic_id: int
    version: int
    name: str
    time_zone: str
    price_per_session_usd: float
    bag_sizes_ml: tuple[float, ...]
    vials: tuple[VialStock, ...]


@dataclass(frozen=True, slots=True)
class ClinicSettingsInput:
    """The settings form as typed: ``"600"``, ``"50, 100, 250"``, ``"10 mg/mL x 20 mL"``."""

    name: str
    price_per_session_usd: str
    bag_sizes_ml: str
    vials: str


def _bad(field: str, message: str, value: str) -> InputError:
    return InputError(
        message, code="input.invalid_setting", fields={"field": field, "value": value}
    )


def _price(text: str) -> float:
    cleaned = text.strip().lstrip("$").replace(",", "").strip()
    try:
        value = float(cleaned)
    except ValueError:
        raise _bad(
            "price_per_session_usd", f"price {text!r} is not a number of dollars (e.g. 600)", text
        ) from None
    if not math.isfinite(value) or not 0 <= value <= MAX_PRICE_USD:
        raise _bad(
            "price_per_session_usd",
            f"price {text!r} must be between 0 and {MAX_PRICE_USD:,.0f} dollars",
            text,
        )
    return round(value, 2)


def _bag_sizes(text: str) -> tuple[float, ...]:
    parts = [p.strip().removesuffix("mL").removesuffix("ml").strip() for p in text.split(",")]
    sizes: list[float] = []
    for part in parts:
        try:
            size = float(part)
        except ValueError:
            raise _bad(
                "bag_sizes_ml",
                f"bag size {part!r} is not a volume in mL; list sizes with commas (50, 100, 250)",
                text,
            ) from None
        if not math.isfinite(size) or not 0 < size <= MAX_BAG_ML:
            raise _bad("bag_sizes_ml", f"bag size {part} mL must be 1 to {MAX_BAG_ML:.0f}", text)
        sizes.append(size)
    if not sizes:
        raise _bad("bag_sizes_ml", "list at least one bag size in mL (e.g. 50, 100, 250)", text)
    return tuple(sorted(set(sizes)))


_VIAL = re.compile(
    r"^\s*(?P<conc>\d+(?:\.\d+)?)\s*mg\s*/\s*ml\s*[x×]\s*(?P<vol>\d+(?:\.\d+)?)\s*ml\s*$",
    re.IGNORECASE,
)


def _vials(text: str) -> tuple[VialStock, ...]:
    vials: list[VialStock] = []
    for line in re.split(r"[\n;]", text):
        if not line.strip():
            continue
        match = _VIAL.match(line)
        if match is None:
            raise _bad(
                "vials",
                f"vial {line.strip()!r} is not written as '<mg/mL> mg/mL x <mL> mL' "
                "(e.g. 50 mg/mL x 10 mL), one vial a line",
                text,
            )
        conc, volume = float(match["conc"]), float(match["vol"])
        if not (0 < conc <= 500 and 0 < volume <= 100):
            raise _bad("vials", f"vial {line.strip()!r} is outside 0-500 mg/mL, 0-100 mL", text)
        vials.append(VialStock(conc, volume))
    if not vials:
        raise _bad("vials", "list at least one vial in stock (e.g. 50 mg/mL x 10 mL)", text)
    return tuple(vials)


def _own_bag_sizes_ml(own: dict[str, Any], defaults: ClinicSettings) -> tuple[float, ...]:
    return tuple(float(v) for v in own.get("bag_sizes_ml", defaults.preparation.bag_sizes_ml))


def _own_vials(own: dict[str, Any], defaults: ClinicSettings) -> tuple[VialStock, ...]:
    vials = own.get("vials")
    if vials:
        return tuple(VialStock(float(v["mg_per_ml"]), float(v["volume_ml"])) for v in vials)
    return tuple(VialStock(v.mg_per_ml, v.volume_ml) for v in defaults.vials)


def _record(clinic: Clinic, catalog: Catalog) -> ClinicSettingsRecord:
    own = clinic.settings or {}
    defaults = catalog.clinic
    return ClinicSettingsRecord(
        clinic_id=clinic.id,
        version=clinic.settings_version,
        name=clinic.name,
        time_zone=clinic.time_zone,
        price_per_session_usd=float(
            own.get("price_per_session_usd", defaults.price_per_session_usd)
        ),
        bag_sizes_ml=_own_bag_sizes_ml(own, defaults),
        vials=_own_vials(own, defaults),
    )


def _clinic(uow: UnitOfWork, actor: Actor) -> Clinic:
    clinic = uow.session.get(Clinic, actor.clinic_id)
    if clinic is None:
        raise NotFoundError(f"there is no clinic {actor.clinic_id}")
    return clinic


def clinic_settings(uow: UnitOfWork, *, actor: Actor, catalog: Catalog) -> ClinicSettingsRecord:
    """The actor's clinic settings as in force (any member of staff may read them)."""
    with uow:
        record = _record(_clinic(uow, actor), catalog)
        uow.audit(actor, "clinic.settings.read", "clinic", actor.clinic_id)
        uow.commit()
        return record


def update_clinic_settings(
    uow: UnitOfWork,
    typed: ClinicSettingsInput,
    *,
    expected_version: int,
    actor: Actor,
    catalog: Catalog,
) -> ClinicSettingsRecord:
    """Save the clinic's settings (admins only) if ``expected_version`` is still current."""
    require_role(actor, ("admin",), "editing the clinic settings")
    name = typed.name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise _bad("name", f"the clinic's name must be 1-{MAX_NAME_LENGTH} characters", typed.name)
    price = _price(typed.price_per_session_usd)
    bags = _bag_sizes(typed.bag_sizes_ml)
    vials = _vials(typed.vials)
    with uow:
        clinic = _clinic(uow, actor)
        before = _record(clinic, catalog)
        settings: dict[str, Any] = {
            **(clinic.settings or {}),
            "price_per_session_usd": price,
            "bag_sizes_ml": list(bags),
            "vials": [{"mg_per_ml": v.mg_per_ml, "volume_ml": v.volume_ml} for v in vials],
        }
        bumped = cast(
            "CursorResult[Any]",
            uow.session.execute(
                update(Clinic)
                .where(Clinic.id == clinic.id, Clinic.settings_version == expected_version)
                .values(name=name, settings=settings, settings_version=expected_version + 1)
                .execution_options(synchronize_session=False)
            ),
        )
        if bumped.rowcount != 1:
            raise ConflictError(
                f"the clinic settings were changed by someone else after you opened them (you "
                f"edited version {expected_version}; it is now at version {before.version}); "
                "reload the page and make your change again",
                code="conflict.stale_version",
                fields={"expected_version": expected_version, "version": before.version},
            )
        after = ClinicSettingsRecord(
            clinic.id, expected_version + 1, name, clinic.time_zone, price, bags, vials
        )
        changed = {
            key: {"from": _jsonable(getattr(before, key)), "to": _jsonable(getattr(after, key))}
            for key in ("name", "price_per_session_usd", "bag_sizes_ml", "vials")
            if getattr(before, key) != getattr(after, key)
        }
        uow.audit(
            actor,
            "clinic.settings.update",
            "clinic",
            clinic.id,
            details={"to_version": expected_version + 1, "changed": changed},
        )
        uow.commit()
        return after


def _jsonable(value: object) -> object:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, VialStock):
        return {"mg_per_ml": value.mg_per_ml, "volume_ml": value.volume_ml}
    return value


def vials_as_text(vials: tuple[VialStock, ...]) -> str:
    """Vials as the settings form shows them, one a line."""
    return "\n".join(f"{v.mg_per_ml:g} mg/mL x {v.volume_ml:g} mL" for v in vials)


def clinic_price(uow: UnitOfWork, actor: Actor, catalog: Catalog) -> float:
    """The price per session in force, inside an open unit of work (for course costs)."""
    clinic = uow.session.scalar(select(Clinic).where(Clinic.id == actor.clinic_id))
    if clinic is None:
        raise NotFoundError(f"there is no clinic {actor.clinic_id}")
    return _record(clinic, catalog).price_per_session_usd


@dataclass(frozen=True, slots=True)
class ClinicStock:
    """The supplies a clinic's infusions are prepared with, and where they come from.

    ``supplies`` is the catalog's ``[clinic]`` with the clinic's own vials and bag sizes put in
    (syringes, diluent and tolerances stay the catalog's): what
    :func:`ketaplan.clinical.preparation.prepare_infusion` takes as its stock.
    """

    supplies: ClinicSettings
    settings_version: int
    own: bool
    """True when the clinic's settings name vials or bag sizes of their own."""

    def to_dict(self) -> dict[str, Any]:
        """What a saved plan records about the stock it was prepared from."""
        return {
            "source": "clinic_settings" if self.own else "catalog",
            "settings_version": self.settings_version,
            "vials": [
                {"mg_per_ml": v.mg_per_ml, "volume_ml": v.volume_ml} for v in self.supplies.vials
            ],
            "bag_sizes_ml": list(self.supplies.preparation.bag_sizes_ml),
        }


MAX_REMEMBERED_STOCKS = 64
_stocks: dict[
    tuple[int, tuple[VialStock, ...], tuple[float, ...]], tuple[object, ClinicSettings]
] = {}


def _supplies(
    defaults: ClinicSettings, vials: tuple[VialStock, ...], bag_sizes_ml: tuple[float, ...]
) -> ClinicSettings:
    """The catalog's clinic with these vials and bags, built once per distinct stock.

    Plan creation is on the hot path, and the preparation search remembers what it worked out
    per stock object (:mod:`ketaplan.clinical.catalog.memo`): handing it the same object for the
    same stock keeps that work, where a new object per request would redo it. The key is the
    stock itself (not the settings version), so a restored database or two clinics with the same
    stock can never be handed the wrong one; the entry keeps ``defaults`` alive so its id stays
    its own.
    """
    key = (id(defaults), vials, bag_sizes_ml)
    known = _stocks.get(key)
    if known is not None:
        return known[1]
    if len(_stocks) >= MAX_REMEMBERED_STOCKS:
        _stocks.clear()
    built = replace(
        defaults,
        vials=tuple(
            sorted((Vial(v.mg_per_ml, v.volume_ml) for v in vials), key=lambda v: v.mg_per_ml)
        ),
        preparation=replace(defaults.preparation, bag_sizes_ml=bag_sizes_ml),
    )
    _stocks[key] = (defaults, built)
    return built


def clinic_stock(uow: UnitOfWork, actor: Actor, catalog: Catalog) -> ClinicStock:
    """The stock in force for the actor's clinic, inside an open unit of work (for plans).

    Reads two columns of the clinic's row; the derived stock is remembered (see
    :func:`_supplies`), so a plan costs one small query more, not a catalog rebuild.
    """
    found = uow.session.execute(
        select(Clinic.settings, Clinic.settings_version).where(Clinic.id == actor.clinic_id)
    ).one_or_none()
    if found is None:
        raise NotFoundError(f"there is no clinic {actor.clinic_id}")
    own: dict[str, Any] = found[0] or {}
    version = int(found[1])
    defaults = catalog.clinic
    if not own.get("vials") and "bag_sizes_ml" not in own:
        return ClinicStock(defaults, version, own=False)
    supplies = _supplies(
        defaults, _own_vials(own, defaults), tuple(sorted(_own_bag_sizes_ml(own, defaults)))
    )
    return ClinicStock(supplies, version, own=True)
