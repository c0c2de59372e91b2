"""English as read in Finland: day before month, a 24-hour clock, weeks from Monday.

Django's own `en` formats are American ("Dec. 6, 2026, 3:22 a.m."); only what differs is set
here, the rest (input formats, separators) comes from Django's `en` module."""

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
YEAR_MONTH_FORMAT = "F Y"
MONTH_DAY_FORMAT = "j F"
SHORT_DATE_FORMAT = "j M Y"
SHORT_DATETIME_FORMAT = "j M Y H:i"
FIRST_DAY_OF_WEEK = 1  # Monday
