-- Login decisions now count recent failures and accounts per network from
-- memory (see riskrecent.go), and "has this account logged in from this
-- network before" reads risk_networks, which gains a row only the first
-- time. The event indexes that answered those questions cost every insert
-- three more B-trees to update (about 12 KiB of WAL per login), so they
-- go; risk_events_account stays for the audit trail and its rebuild.
CREATE TABLE risk_networks (
    account    TEXT NOT NULL,
    network    TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (account, network)
) WITHOUT ROWID;
INSERT OR IGNORE INTO risk_networks (account, network, first_seen)
    SELECT account, network, min(at) FROM risk_events
    WHERE kind = 'success' AND network <> '' GROUP BY account, network;
DROP INDEX IF EXISTS risk_events_network;
DROP INDEX IF EXISTS risk_events_network_kind;
DROP INDEX IF EXISTS risk_events_account_network;
CREATE TRIGGER risk_networks_on_success AFTER INSERT ON risk_events
    WHEN NEW.kind = 'success' AND NEW.network <> ''
BEGIN
    INSERT OR IGNORE INTO risk_networks (account, network, first_seen) VALUES (NEW.account, NEW.network, NEW.at);
END;
