package web

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strings"
	"sync"
)

// gzipCache keeps gzipped copies of embedded assets, keyed by name.
type gzipCache struct{ m sync.Map }

// serve writes an embedded asset, gzipped when the client accepts it.
func (c *gzipCache) serve(w http.ResponseWriter, r *http.Request, name string, b []byte) {
	w.Header().Add("Vary", "Accept-Encoding")
	if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Write(b)
		return
	}
	z, ok := c.m.Load(name)
	if !ok {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write(b)
		zw.Close()
		z = buf.Bytes()
		c.m.Store(name, z)
	}
	w.Header().Set("Content-Encoding", "gzip")
	w.Write(z.([]byte))
}
