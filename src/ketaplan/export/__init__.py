"""Adapters that write domain values in other formats (iCalendar); the domain never imports them."""
