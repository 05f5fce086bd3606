package clickhouse

import "testing"

func TestQualify(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT count() FROM events", "SELECT count() FROM db.events"},
		{"select 1 from sessions s", "select 1 from db.sessions s"},
		{"SELECT * FROM events e JOIN (SELECT x.session_id FROM sessions x) ls USING (session_id)",
			"SELECT * FROM db.events e JOIN (SELECT x.session_id FROM db.sessions x) ls USING (session_id)"},
		{"SELECT 1 FROM\n\tevents", "SELECT 1 FROM\n\tdb.events"},
		{"INSERT INTO events (site) FORMAT RowBinary", "INSERT INTO events (site) FORMAT RowBinary"},
		{"ALTER TABLE events_local DELETE WHERE node = 1", "ALTER TABLE events_local DELETE WHERE node = 1"},
		{"SELECT 1 FROM events_local", "SELECT 1 FROM events_local"},
		{"SELECT 1 FROM other.events", "SELECT 1 FROM other.events"},
		{"SELECT s.events FROM sessions s", "SELECT s.events FROM db.sessions s"},
		{"SELECT 'FROM events' FROM rollup_days", "SELECT 'FROM events' FROM rollup_days"},
		{`SELECT 'it\'s FROM events' FROM events`, `SELECT 'it\'s FROM events' FROM db.events`},
		{"SELECT 1 -- FROM events\nFROM events", "SELECT 1 -- FROM events\nFROM db.events"},
		{"SELECT `FROM events` FROM events", "SELECT `FROM events` FROM db.events"},
		{"SELECT 1 FROM eventsx, sessions2", "SELECT 1 FROM eventsx, sessions2"},
		{"SELECT 'unterminated FROM events", "SELECT 'unterminated FROM events"},
	} {
		if got := qualify(tc.in, "db"); got != tc.want {
			t.Errorf("qualify(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// FuzzQualify: whatever a quoted value holds, qualify leaves it alone and
// qualifies the tables around it.
func FuzzQualify(f *testing.F) {
	for _, s := range []string{"", "FROM events", "' FROM events '", `\' FROM sessions`, "-- FROM events\n", "`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		q := Dialect{}.Quote(v)
		in := "SELECT " + q + " AS v FROM events e JOIN (SELECT x.session_id FROM sessions x WHERE x.page = " + q + ") s USING (session_id)"
		want := "SELECT " + q + " AS v FROM db.events e JOIN (SELECT x.session_id FROM db.sessions x WHERE x.page = " + q + ") s USING (session_id)"
		if got := qualify(in, "db"); got != want {
			t.Fatalf("qualify(%q)\n = %q\nwant %q", in, got, want)
		}
	})
}
