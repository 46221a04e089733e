-- The practice's time zone: rules that speak of "today" (birth dates, prescription expiry,
-- promised dates) use the practice's own date, on ILS Central as on its desktops
-- (ils_core::clock). An IANA name, checked by the service; existing tenants start on UTC, the
-- date the service used before.
ALTER TABLE companies ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (length(time_zone) BETWEEN 1 AND 64);
