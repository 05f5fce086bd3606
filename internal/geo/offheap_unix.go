//go:build unix

package geo

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// loadOffHeap reads a database file into anonymous memory outside the Go
// heap: a copy, so overwriting the file in place cannot pull pages from
// under a lookup (as a mapped file would), and outside the heap, so the
// collector neither counts it towards its goal (serve runs with GOGC 400:
// 135 MB of database would let the heap grow by four times that) nor
// scans it. release returns the memory; call it only when no lookup can
// read the database any more.
func loadOffHeap(path string) (data []byte, release func(), err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size <= 0 || size > 1<<34 {
		return nil, nil, fmt.Errorf("%s: %d bytes is not a database", path, size)
	}
	data, err = syscall.Mmap(-1, 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: memory for the database: %w", path, err)
	}
	if _, err := io.ReadFull(f, data); err != nil {
		syscall.Munmap(data)
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := syscall.Mprotect(data, syscall.PROT_READ); err != nil {
		syscall.Munmap(data)
		return nil, nil, err
	}
	return data, func() { syscall.Munmap(data) }, nil
}
