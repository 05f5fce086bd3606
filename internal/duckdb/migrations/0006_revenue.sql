-- Revenue of custom events (Plausible's revenue goals): the amount in
-- thousandths of the currency's unit and its ISO 4217 code, as sent; 0
-- and '' without revenue.
ALTER TABLE events ADD COLUMN revenue_milli BIGINT DEFAULT 0;
ALTER TABLE events ADD COLUMN revenue_currency VARCHAR DEFAULT '';
