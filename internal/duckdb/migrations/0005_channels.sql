-- Acquisition channels under Plausible's names and rules (see
-- collect.Channel). Stored visits are renamed: the five plain channels
-- map one to one; a campaign visit is Paid Other when its medium is a
-- paid one, else Referral (what Plausible makes of a campaign source it
-- does not know). New visits are classified by the full rules.
UPDATE events SET channel = CASE channel
    WHEN 'direct' THEN 'Direct'
    WHEN 'search' THEN 'Organic Search'
    WHEN 'social' THEN 'Organic Social'
    WHEN 'email' THEN 'Email'
    WHEN 'referral' THEN 'Referral'
    ELSE CASE WHEN regexp_matches(lower(utm_medium), '^(.*cp.*|ppc|retargeting|paid.*)$') THEN 'Paid Other' ELSE 'Referral' END
  END
WHERE channel IN ('direct', 'search', 'social', 'email', 'referral', 'campaign');
UPDATE sessions SET channel = CASE channel
    WHEN 'direct' THEN 'Direct'
    WHEN 'search' THEN 'Organic Search'
    WHEN 'social' THEN 'Organic Social'
    WHEN 'email' THEN 'Email'
    WHEN 'referral' THEN 'Referral'
    ELSE CASE WHEN regexp_matches(lower(utm_medium), '^(.*cp.*|ppc|retargeting|paid.*)$') THEN 'Paid Other' ELSE 'Referral' END
  END
WHERE channel IN ('direct', 'search', 'social', 'email', 'referral', 'campaign');
DELETE FROM rollup_days;
