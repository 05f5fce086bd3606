package app

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"waymark.dev/waymark/internal/cli"
	"waymark.dev/waymark/internal/integrity"
)

// verifyCmd runs `waymark verify`: fetch a URL through the proxy (or read
// a saved response) and check its Content-Digest and signature against
// the published keys.
func verifyCmd(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("verify", stderr)
	keys := fs.String("keys", "http://127.0.0.1:8080/.well-known/waymark/keys", "the published keys: a URL or a JWKS file")
	proxyURL := fs.String("proxy", "", "fetch through this proxy, e.g. https://127.0.0.1:8443 (default: directly)")
	proxyCA := fs.String("proxy-cacert", "", "PEM file of the CA that signed the proxy's certificate")
	proxyUser := fs.String("proxy-user", "", "user:token for the proxy")
	response := fs.String("response", "", "verify a saved raw HTTP/1.1 response from this file instead of fetching (needs --url)")
	target := fs.String("url", "", "with --response: the URL that was requested")
	method := fs.String("method", "GET", "with --response: the method that was used")
	skew := fs.Duration("skew", time.Minute, "clock difference allowed for created and expires")
	if err := cli.ApplyEnv(fs, getenv); err != nil {
		return cli.Usagef("%v", err)
	}
	if err := fs.Parse(args); err != nil {
		return cli.Usagef("%v", err)
	}
	if *response == "" && fs.NArg() != 1 || *response != "" && (fs.NArg() != 0 || *target == "") {
		return cli.Usagef("verify needs one URL, or --response FILE --url URL")
	}
	if *response == "" {
		*target = fs.Arg(0)
	}
	u, err := url.Parse(*target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return cli.Usagef("%q is not an absolute URL", *target)
	}
	ks, err := loadKeys(ctx, *keys)
	if err != nil {
		return err
	}
	var resp *http.Response
	var body []byte
	if *response != "" {
		f, err := os.Open(*response)
		if err != nil {
			return cli.Usagef("--response: %v", err)
		}
		defer f.Close()
		if resp, err = http.ReadResponse(bufio.NewReader(f), nil); err != nil {
			return fmt.Errorf("%s: not an HTTP response: %w", *response, err)
		}
	} else {
		*method = http.MethodGet
		tr := &http.Transport{}
		if *proxyURL != "" {
			pu, err := url.Parse(*proxyURL)
			if err != nil || pu.Host == "" {
				return cli.Usagef("--proxy %q is not a URL", *proxyURL)
			}
			if *proxyUser != "" {
				user, pass, _ := strings.Cut(*proxyUser, ":")
				pu.User = url.UserPassword(user, pass)
			}
			tr.Proxy = http.ProxyURL(pu)
			if *proxyCA != "" {
				pem, err := os.ReadFile(*proxyCA)
				if err != nil {
					return cli.Usagef("--proxy-cacert: %v", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return cli.Usagef("--proxy-cacert: no certificate in %s", *proxyCA)
				}
				tr.TLSClientConfig = &tls.Config{RootCAs: pool}
			}
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		// The proxy signs what is asked for (RFC 9421 section 5.1).
		req.Header.Set("Accept-Signature", integrity.AcceptSignature)
		c := &http.Client{Transport: tr, Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if resp, err = c.Do(req); err != nil {
			return fmt.Errorf("fetching %s: %w", u, err)
		}
	}
	defer resp.Body.Close()
	if body, err = io.ReadAll(resp.Body); err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	v, err := integrity.VerifyResponse(resp.Trailer, resp.Header, resp.StatusCode, body, *method, u, ks, time.Now(), *skew)
	fmt.Fprintf(stdout, "response: %s, %d bytes\n", resp.Status, len(body))
	if v != nil {
		where := "header"
		if resp.Trailer.Get("Signature") != "" {
			where = "trailers"
		}
		fmt.Fprintf(stdout, "signature: label %s, key %s, in the %s\n", v.Label, v.KeyID, where)
		fmt.Fprintf(stdout, "covers: %s\n", strings.Join(v.Covered, " "))
		if !v.Created.IsZero() {
			fmt.Fprintf(stdout, "created: %s; expires: %s\n", v.Created.Format(time.RFC3339), v.Expires.Format(time.RFC3339))
		}
	}
	if err != nil {
		fmt.Fprintf(stdout, "FAILED: %v\n", err)
		return errVerifyFailed
	}
	fmt.Fprintln(stdout, "verified: the body matches its Content-Digest and the signature holds for the status, digest, content type and URL")
	return nil
}

var errVerifyFailed = errors.New("verification failed")

func loadKeys(ctx context.Context, src string) (integrity.KeySet, error) {
	var b []byte
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("keys: %s answered %s", src, resp.Status)
		}
		if b, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20)); err != nil {
			return nil, fmt.Errorf("keys: %w", err)
		}
	} else {
		var err error
		if b, err = os.ReadFile(src); err != nil {
			return nil, cli.Usagef("--keys: %v", err)
		}
	}
	return integrity.ParseJWKS(b)
}
