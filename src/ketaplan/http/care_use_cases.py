"""The measurement-based care use cases, bound to the service's database and clinic files, as
:mod:`ketaplan.http.use_cases` binds the rest: the questionnaires due, a link e-mailed through
the outbox and the e-mails' delivery, PHQ-9 item 9 flags listed and reviewed. The patient page
and the API's care routes call the same methods."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from ketaplan.clinical.measurement import default_schedules
from ketaplan.http.use_cases import UseCaseGroup
from ketaplan.services.actors import Actor
from ketaplan.services.item9_reviews import Item9Flag, list_item9_flags, review_item9_flag
from ketaplan.services.listing import Listed, Window
from ketaplan.services.measurement import (
    CareView,
    DueView,
    patient_care,
    patient_due_questionnaires,
)
from ketaplan.services.outbox import (
    EmailedLink,
    OutboxView,
    email_patient_link,
    list_patient_messages,
)


class MeasurementCare(UseCaseGroup):
    """Measurement-based care: the questionnaires due, links by e-mail and their delivery,
    PHQ-9 item 9 flags reviewed."""

    def due(self, patient_id: int, *, actor: Actor) -> DueView:
        return patient_due_questionnaires(
            self._context.unit_of_work(),
            patient_id,
            actor=actor,
            catalog=self._context.catalog,
            schedules=default_schedules(),
            zone=ZoneInfo(self._context.calendar.time_zone),
        )

    def email_link(
        self, patient_id: int, *, scales: list[str], to_address: str, actor: Actor
    ) -> EmailedLink:
        return email_patient_link(
            self._context.unit_of_work(),
            patient_id,
            scales=scales,
            to_address=to_address,
            public_url=self._context.public_url,
            actor=actor,
        )

    def overview(self, patient_id: int, *, actor: Actor) -> CareView:
        return patient_care(
            self._context.unit_of_work(),
            patient_id,
            actor=actor,
            catalog=self._context.catalog,
            schedules=default_schedules(),
            zone=ZoneInfo(self._context.calendar.time_zone),
        )

    def review_item9(self, response_id: int, *, note: str, actor: Actor) -> Item9Flag:
        return review_item9_flag(self._context.unit_of_work(), response_id, note=note, actor=actor)

    def item9_flags(self, patient_id: int, *, actor: Actor, window: Window) -> Listed[Item9Flag]:
        return list_item9_flags(
            self._context.unit_of_work(), patient_id, actor=actor, window=window
        )

    def messages(self, patient_id: int, *, actor: Actor, window: Window) -> Listed[OutboxView]:
        return list_patient_messages(
            self._context.unit_of_work(), patient_id, actor=actor, window=window
        )
