package apptest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
)

// ChromeUA is the user agent browser tests present. Headless Chromium's
// own contains "HeadlessChrome", which Waymark rightly counts as a bot;
// the tests present the desktop Chrome string of the same version instead.
const ChromeUA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36"

// ChromiumPath finds Debian's chromium. Tests fail without it: scripts/test
// installs it.
func ChromiumPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{os.Getenv("WAYMARK_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := exec.LookPath(p); err == nil {
			return p
		}
	}
	t.Fatal("chromium not found: install Debian's chromium package (scripts/test does) or set WAYMARK_CHROMIUM")
	return ""
}

// Browser starts headless Chromium and returns a context for chromedp
// actions. It runs without --enable-automation, so navigator.webdriver is
// false as for a person's browser, and with ChromeUA.
func Browser(t testing.TB) context.Context {
	t.Helper()
	return BrowserWith(t, BrowserOptions{})
}

// BrowserOptions change how a test browser starts.
type BrowserOptions struct {
	// BlockCookies starts Chromium with all cookies refused (the content
	// setting a person chooses in the browser's privacy settings).
	BlockCookies bool
	// Proxy is a proxy server for every request ("https://host:port"),
	// loopback included; ProxySPKI is the base64 SHA-256 of the proxy
	// certificate's public key, trusted without a CA.
	Proxy, ProxySPKI string
}

// BrowserWith starts headless Chromium with options; see Browser.
func BrowserWith(t testing.TB, o BrowserOptions) context.Context {
	t.Helper()
	dir := t.TempDir()
	if o.BlockCookies {
		if err := os.MkdirAll(filepath.Join(dir, "Default"), 0o700); err != nil {
			t.Fatal(err)
		}
		prefs := `{"profile":{"default_content_setting_values":{"cookies":2}}}`
		if err := os.WriteFile(filepath.Join(dir, "Default", "Preferences"), []byte(prefs), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-blink-features", "AutomationControlled"),
		chromedp.UserDataDir(dir),
		chromedp.UserAgent(ChromeUA),
	}
	if o.Proxy != "" {
		opts = append(opts, chromedp.ProxyServer(o.Proxy),
			// Chromium sends loopback directly unless told not to.
			chromedp.Flag("proxy-bypass-list", "<-loopback>"))
	}
	if o.ProxySPKI != "" {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", o.ProxySPKI))
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	// The first call starts the browser for the life of ctx; later calls
	// may carry their own timeouts.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}
