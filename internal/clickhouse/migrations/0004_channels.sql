-- Acquisition channels under Plausible's names (see the embedded store's
-- 0005_channels.sql for the mapping). Mutations run in the background
-- and are idempotent.
ALTER TABLE events UPDATE channel = multiIf(channel = 'direct', 'Direct', channel = 'search', 'Organic Search', channel = 'social', 'Organic Social', channel = 'email', 'Email', channel = 'referral', 'Referral', match(lower(utm_medium), '^(.*cp.*|ppc|retargeting|paid.*)$'), 'Paid Other', 'Referral') WHERE channel IN ('direct', 'search', 'social', 'email', 'referral', 'campaign');
ALTER TABLE sessions UPDATE channel = multiIf(channel = 'direct', 'Direct', channel = 'search', 'Organic Search', channel = 'social', 'Organic Social', channel = 'email', 'Email', channel = 'referral', 'Referral', match(lower(utm_medium), '^(.*cp.*|ppc|retargeting|paid.*)$'), 'Paid Other', 'Referral') WHERE channel IN ('direct', 'search', 'social', 'email', 'referral', 'campaign');
