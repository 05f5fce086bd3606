-- Tokens are of two kinds: "api" (the stats API, Bearer) and "share" (a
-- secret link to a site's read-only dashboard).
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';

-- A site's funnels: JSON list of {Name, Steps: [{Page, Event}]}.
ALTER TABLE sites ADD COLUMN funnels TEXT NOT NULL DEFAULT '[]';
