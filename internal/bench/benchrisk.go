package bench

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/risk"
	"waymark.dev/waymark/internal/statestore"
)

// benchRisk runs `waymark bench risk`: login decisions against a state
// store holding many devices and login events, as a site's login handlers
// would ask concurrently.
func benchRisk(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("bench risk", stderr)
	dir := fs.String("dir", "", "data folder (required; its state.db gets the devices and events)")
	stateURL := fs.String("state", "", "measure against this PostgreSQL database (postgres://...) instead of the data folder's state.db")
	devices := fs.Int("devices", 1_000_000, "trusted devices to create")
	events := fs.Int("events", 10_000_000, "login events to create")
	reuse := fs.Bool("reuse", false, "use the devices and events already in --dir")
	workers := fs.Int("workers", 32, "concurrent login checks")
	duration := fs.Duration("duration", 10*time.Second, "how long to measure")
	rate := fs.Int("rate", 0, "decisions per second to offer (0: as many as the workers manage); latency then counts from when each decision was due, so waiting in line is included")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the measured run to this file")
	journal := fs.Bool("journal", true, "write through the risk journal, as the server does (false: straight to SQLite)")
	if err := cli.Parse(fs, args, getenv); err != nil {
		return err
	}
	if *dir == "" || *devices < 1000 || *events < 0 || *workers < 1 || *rate < 0 {
		return cli.Usagef("bench risk needs --dir, at least 1000 --devices, and positive --workers")
	}
	db, err := statestore.Open(ctx, *dir, *stateURL)
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now().UTC()
	secret := func(i int) risk.Secret {
		var s risk.Secret
		h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("waymark-bench-device"), uint64(i)))
		copy(s[:], h[:16])
		return s
	}
	deviceID := func(i int) risk.DeviceID {
		var d risk.DeviceID
		h := sha256.Sum256(binary.BigEndian.AppendUint64([]byte("waymark-bench-id"), uint64(i)))
		copy(d[:], h[:16])
		return d
	}
	network := func(r *rand.Rand) string {
		return netip.AddrFrom4([4]byte{10, byte(r.IntN(256)), byte(r.IntN(256)), 0}).String() + "/24"
	}
	if !*reuse {
		t0 := time.Now()
		r := rand.New(rand.NewPCG(1, 2))
		const batch = 200_000
		var ds []*risk.Device
		for i := range *devices {
			ds = append(ds, &risk.Device{ID: deviceID(i), Account: fmt.Sprintf("user%d", i), Current: risk.HashSecret(secret(i)),
				Created: now.Add(-time.Duration(r.IntN(365*24)) * time.Hour), LastSeen: now, Network: network(r), Browser: "Chrome", OS: "Windows"})
			if len(ds) == batch {
				if err := db.ImportRisk(ctx, ds, nil); err != nil {
					return err
				}
				ds = ds[:0]
			}
		}
		if err := db.ImportRisk(ctx, ds, nil); err != nil {
			return err
		}
		kinds := []string{risk.EventAttempt, risk.EventSuccess, risk.EventSuccess, risk.EventFailure}
		var es []risk.Event
		for range *events {
			es = append(es, risk.Event{Account: fmt.Sprintf("user%d", r.IntN(*devices)), Kind: kinds[r.IntN(len(kinds))],
				Time: now.Add(-time.Duration(r.Int64N(int64(30 * 24 * time.Hour)))), Network: network(r), Decision: risk.Allow})
			if len(es) == batch {
				if err := db.ImportRisk(ctx, nil, es); err != nil {
					return err
				}
				es = es[:0]
			}
		}
		if err := db.ImportRisk(ctx, nil, es); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "stored %d devices and %d login events in %s\n", *devices, *events, time.Since(t0).Round(time.Second))
		if v, ok := db.(interface{ VacuumRisk(context.Context) error }); ok {
			// A database server's tables are vacuumed and analysed by
			// then in real use; freshly copied ones are not.
			t1 := time.Now()
			if err := v.VacuumRisk(ctx); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "vacuumed and analysed them in %s\n", time.Since(t1).Round(time.Second))
		}
		if err := os.Remove(filepath.Join(*dir, benchCookiesFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	// The generator keeps its device cookies between runs, as browsers do:
	// a device missing from the jar still holds its first secret. Looking
	// them up in the store instead (as earlier versions did) added reads
	// of the measured database to every decision.
	jarPath := filepath.Join(*dir, benchCookiesFile)
	jar, err := readCookieJar(jarPath)
	if errors.Is(err, os.ErrNotExist) && *reuse {
		return fmt.Errorf("%s has no %s: its devices' current secrets are unknown; fill a new folder (without --reuse)", *dir, benchCookiesFile)
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if jar == nil {
		jar = map[int]risk.Token{}
	}
	svc := &risk.Service{Store: db, Policy: risk.DefaultPolicy(), Now: time.Now}
	// Each worker logs in with its own devices (their secrets rotate), and
	// mixes in new-device attempts and failures from random networks.
	var mu sync.Mutex
	var lat []time.Duration
	fresh := map[int]risk.Token{} // the cookies this run's logins set
	decisions := map[string]int{}
	if j, ok := db.(statestore.RiskJournaled); ok {
		if fi, err := os.Stat(filepath.Join(*dir, statestore.RiskJournalFile)); !*journal && err == nil && fi.Size() > 0 {
			// Writing around them would let their later replay undo this
			// run's writes.
			return fmt.Errorf("%s holds decisions not yet applied to state.db (a run was killed); run once with the journal to apply them", statestore.RiskJournalFile)
		}
		if *journal {
			if err := j.EnableRiskJournal(ctx, filepath.Join(*dir, statestore.RiskJournalFile), slog.New(slog.NewTextHandler(stderr, nil))); err != nil {
				return err
			}
		}
		if err := j.LoadRecentLogins(ctx); err != nil {
			return err
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	deadline := start.Add(*duration)
	// With --rate, a pacer hands out due times at fixed intervals; a
	// worker that picks one up late still counts from the due time
	// (no coordinated omission).
	var due chan time.Time
	if *rate > 0 {
		due = make(chan time.Time, *rate)
		go func() {
			defer close(due)
			interval := time.Second / time.Duration(*rate)
			for n := 0; ; n++ {
				t := start.Add(time.Duration(n) * interval)
				if !t.Before(deadline) {
					return
				}
				if d := time.Until(t); d > 0 {
					time.Sleep(d)
				}
				due <- t
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range *workers {
		wg.Go(func() {
			// A new seed each run: with a fixed one, --reuse runs would
			// walk the devices earlier runs rotated first, and spend their
			// time looking for one that still holds its first secret.
			r := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			tokens := map[int]risk.Token{}
			var mine []time.Duration
			seen := map[string]int{}
			for {
				// The attempt is prepared before its time starts. A trusted
				// device whose secret an earlier run rotated (--reuse) is
				// skipped for another: replaying it would measure theft
				// handling instead of logins.
				// Clients come from all over the IPv4 space: from a few
				// thousand networks every one would soon look like a bot farm.
				ip := netip.AddrFrom4([4]byte{byte(1 + r.IntN(223)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
				a := risk.Attempt{Outcome: risk.EventSuccess, IP: ip, Browser: "Chrome", OS: "Windows"}
				i := w + *workers*r.IntN(*devices / *workers)
				switch x := r.IntN(10); {
				case x < 7: // a trusted device logs in
					// Its cookie from this run, else from the jar (earlier
					// runs), else the device's first secret.
					tok, ok := tokens[i]
					if !ok {
						tok, ok = jar[i]
					}
					if !ok {
						tok = risk.Token{Device: deviceID(i), Secret: secret(i)}
					}
					a.Account, a.DeviceCookie = fmt.Sprintf("user%d", i), tok.Encode()
				case x < 9: // a new browser tries
					a.Account, a.Outcome = fmt.Sprintf("user%d", r.IntN(*devices)), risk.EventAttempt
				default: // a wrong password
					a.Account, a.Outcome = fmt.Sprintf("user%d", r.IntN(*devices)), risk.EventFailure
				}
				t := time.Now()
				if due != nil {
					var ok bool
					if t, ok = <-due; !ok {
						break
					}
				} else if !t.Before(deadline) {
					break
				}
				ans, err := svc.Login(ctx, a)
				mine = append(mine, time.Since(t))
				if err != nil {
					seen["error"]++
					continue
				}
				seen[ans.Decision.Decision]++
				if ans.NewToken != nil {
					tokens[i] = *ans.NewToken
				}
			}
			mu.Lock()
			maps.Copy(fresh, tokens)
			lat = append(lat, mine...)
			for k, v := range seen {
				decisions[k] += v
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	// Saved before anything is printed: a run whose output is cut short
	// must not leave the jar behind the devices.
	maps.Copy(jar, fresh)
	if err := writeCookieJar(jarPath, jar); err != nil {
		return err
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return fmt.Errorf("no decisions made")
	}
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	offered := "as fast as they can"
	if *rate > 0 {
		offered = fmt.Sprintf("offered %d/s", *rate)
	}
	fmt.Fprintf(stdout, "%d decisions in %s = %.0f/s with %d workers (%s); p50 %s p99 %s max %s\n", len(lat), duration.String(),
		float64(len(lat))/duration.Seconds(), *workers, offered, pct(0.5).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	fmt.Fprintf(stdout, "decisions: %v\n", decisions)
	return nil
}

// benchCookiesFile holds `waymark bench risk`'s device cookies between
// runs, in the folder it fills.
const benchCookiesFile = "bench-risk-cookies"

// readCookieJar reads the generator's device cookies: a line per device,
// its number and its encoded token.
func readCookieJar(path string) (map[int]risk.Token, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	jar := map[int]risk.Token{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		num, enc, found := strings.Cut(sc.Text(), " ")
		i, err := strconv.Atoi(num)
		if !found || err != nil {
			return nil, fmt.Errorf("%s:%d: want a device number and its token", path, n)
		}
		tok, err := risk.ParseToken(enc)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		jar[i] = tok
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return jar, nil
}

// writeCookieJar replaces the jar at path with jar.
func writeCookieJar(path string, jar map[int]risk.Token) error {
	tmp := path + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for i, tok := range jar {
		fmt.Fprintf(w, "%d %s\n", i, tok.Encode())
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
