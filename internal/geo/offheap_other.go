//go:build !unix

package geo

import "os"

// loadOffHeap reads a database file; on this system into the Go heap.
func loadOffHeap(path string) (data []byte, release func(), err error) {
	data, err = os.ReadFile(path)
	return data, func() {}, err
}
