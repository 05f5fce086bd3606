//go:build race

package identity

// raceEnabled: the race detector's instrumentation allocates, so
// allocation counts are checked in the normal run only.
const raceEnabled = true
