-- Indexes for the counts of every login decision: failures per network
-- without reading the network's other events (a busy network has many),
-- and "has this account succeeded from this network" by all three
-- equalities (otherwise the planner may scan the network's successes).
CREATE INDEX risk_events_network_kind ON risk_events (network, kind, at);
CREATE INDEX risk_events_account_network ON risk_events (account, kind, network);
