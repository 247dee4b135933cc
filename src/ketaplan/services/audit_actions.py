"""What an audit event says was done: the one vocabulary every use case writes with.

Each value is the exact string stored in ``audit_event.action`` and hashed into the audit chain,
so a value never changes (the stored trail and its hashes hold it); a new kind of event adds a
member. :meth:`ketaplan.services.unit_of_work.UnitOfWork.audit` takes only these members, so a
misspelt or invented action fails the type check rather than landing in the trail.

Names follow the stored strings: ``<record>.<what was done>``; ``session`` here is the infusion
session (its chart), ``auth`` a sign-in. One event is not here: ``audit.records_covered``, written
once by migration 0010 (:data:`ketaplan.store.audit_records.COVERED_ACTION`), never by a service.
"""

from __future__ import annotations

from enum import StrEnum, unique


@unique
class AuditAction(StrEnum):
    """An audit event's action, as stored."""

    # Refusals the HTTP adapters record (a route refused, and their per-origin count).
    ACCESS_REFUSED = "access.refused"
    ACCESS_REFUSED_COUNT = "access.refused_count"

    # The audit trail read by an admin (the viewer's pages and its CSV export).
    AUDIT_TRAIL_EXPORT = "audit.trail.export"
    AUDIT_TRAIL_READ = "audit.trail.read"

    # Signing in and out.
    AUTH_SIGN_IN = "auth.sign_in"
    AUTH_SIGN_IN_FAILED = "auth.sign_in_failed"
    AUTH_SIGN_IN_REFUSED = "auth.sign_in_refused"
    AUTH_SIGN_OUT = "auth.sign_out"

    # The clinic and its admin-edited settings.
    CLINIC_CREATE = "clinic.create"
    CLINIC_SETTINGS_READ = "clinic.settings.read"
    CLINIC_SETTINGS_UPDATE = "clinic.settings.update"

    # Chairs and bookings: a session moved or cancelled, a booster booked, a course
    # cancelled, each with its reason; the bookings history and the chair board read.
    BOOKING_BOOSTER = "booking.booster"
    BOOKING_CANCEL = "booking.cancel"
    BOOKING_HISTORY_READ = "booking.history.read"
    BOOKING_LIST = "booking.list"
    BOOKING_MOVE = "booking.move"
    CHAIR_BOARD_READ = "chair_board.read"
    COURSE_CANCEL = "course.cancel"

    COURSE_BOOSTER = "course.booster"
    COURSE_CALENDAR_READ = "course.calendar.read"
    COURSE_CREATE = "course.create"
    COURSE_LIST = "course.list"
    COURSE_READ = "course.read"
    COURSE_RESCHEDULE = "course.reschedule"

    DASHBOARD_READ = "dashboard.read"

    # Exports: FHIR (a patient's, the clinic's Bulk Data job) and the CSV exit export.
    EXPORT_CSV = "export.csv"
    EXPORT_CSV_CLINIC = "export.csv.clinic"
    FHIR_EXPORT = "fhir.export"
    FHIR_EXPORT_CLINIC = "fhir.export.clinic"
    FHIR_EXPORT_DELETE = "fhir.export.delete"
    FHIR_EXPORT_DOWNLOAD = "fhir.export.download"

    # The controlled-substance ledger: each kind of entry, the reads, the reports, loss cases.
    LEDGER_ADMINISTER = "ledger.administer"
    LEDGER_CORRECT = "ledger.correct"
    LEDGER_COUNT = "ledger.count"
    LEDGER_DESTROY = "ledger.destroy"
    LEDGER_DESTROY_PREPARE = "ledger.destroy.prepare"
    LEDGER_DESTROY_REFUSED = "ledger.destroy_refused"
    LEDGER_DRAW = "ledger.draw"
    LEDGER_ENTRY_READ = "ledger.entry.read"
    LEDGER_INVENTORY = "ledger.inventory"
    LEDGER_INVENTORY_REFUSED = "ledger.inventory_refused"
    LEDGER_LOSS_FORM_106 = "ledger.loss.form_106"
    LEDGER_LOSS_LIST = "ledger.loss.list"
    LEDGER_LOSS_NOTE = "ledger.loss.note"
    LEDGER_LOSS_NOTICE = "ledger.loss.notice"
    LEDGER_LOSS_OPEN = "ledger.loss.open"
    LEDGER_LOSS_RESOLVE = "ledger.loss.resolve"
    LEDGER_ORDER_READ = "ledger.order.read"
    LEDGER_RECEIVE = "ledger.receive"
    LEDGER_REPORT_ADMINISTRATIONS = "ledger.report.administrations"
    LEDGER_REPORT_DESTRUCTIONS = "ledger.report.destructions"
    LEDGER_REPORT_ENTRIES = "ledger.report.entries"
    LEDGER_REPORT_INVENTORIES = "ledger.report.inventories"
    LEDGER_REPORT_LOSSES = "ledger.report.losses"
    LEDGER_REPORT_RECEIPTS = "ledger.report.receipts"
    LEDGER_RESOLVE = "ledger.resolve"
    LEDGER_RETURN = "ledger.return"
    LEDGER_SESSION_READ = "ledger.session.read"
    LEDGER_STOCK_READ = "ledger.stock.read"
    LEDGER_VIAL_READ = "ledger.vial.read"
    LEDGER_WASTE = "ledger.waste"
    LEDGER_WASTE_PREPARE = "ledger.waste.prepare"
    LEDGER_WASTE_REFUSED = "ledger.waste_refused"

    ORDER_CANCEL = "order.cancel"
    ORDER_SIGN = "order.sign"
    ORDER_SIGN_REFUSED = "order.sign_refused"
    ORDER_SUPERSEDE = "order.supersede"

    PATIENT_CREATE = "patient.create"
    PATIENT_HISTORY_READ = "patient.history.read"
    PATIENT_OVERVIEW_READ = "patient.overview.read"
    PATIENT_READ = "patient.read"
    PATIENT_SEARCH = "patient.search"
    PATIENT_UPDATE = "patient.update"

    PATIENT_LINK_CREATE = "patient_link.create"
    PATIENT_LINK_OPEN = "patient_link.open"

    PLAN_CREATE = "plan.create"
    PLAN_LIST = "plan.list"
    PLAN_READ = "plan.read"
    PLAN_REFUSED = "plan.refused"

    # Predicted plasma levels shown on the order page and the console (what-ifs included).
    PREDICTION_PLAN_READ = "prediction.plan.read"
    PREDICTION_SESSION_READ = "prediction.session.read"

    # Reports on paper (PDF).
    REPORT_PREPARATION_CARD_READ = "report.preparation_card.read"
    REPORT_PROGRESS_READ = "report.progress.read"

    QUESTIONNAIRE_LIST = "questionnaire.list"
    QUESTIONNAIRE_RECORD = "questionnaire.record"
    QUESTIONNAIRE_DUE_READ = "questionnaire.due.read"
    ITEM9_REVIEW = "questionnaire.item9_review"

    # E-mails to patients (the outbox): queued with what caused them, each attempt recorded.
    OUTBOX_QUEUE = "outbox.queue"
    OUTBOX_CLAIM = "outbox.claim"
    OUTBOX_SENT = "outbox.sent"
    OUTBOX_FAILED = "outbox.failed"
    OUTBOX_LIST = "outbox.list"

    SCREENING_CREATE = "screening.create"
    SCREENING_LIST = "screening.list"

    # The infusion session and its chart.
    SESSION_EVENT_APPEND = "session.event.append"
    SESSION_LIST = "session.list"
    SESSION_OPEN = "session.open"
    SESSION_READ = "session.read"

    TITRATION_DECIDE = "titration.decide"
    TITRATION_DECIDE_REFUSED = "titration.decide_refused"
    TITRATION_READ = "titration.read"
    TITRATION_RECOMMEND = "titration.recommend"

    # Staff accounts.
    USER_CHANGE_ROLE = "user.change_role"
    USER_CREATE = "user.create"
    USER_DEACTIVATE = "user.deactivate"
    USER_LIST = "user.list"
    USER_REACTIVATE = "user.reactivate"
    USER_SET_PASSWORD = "user.set_password"
