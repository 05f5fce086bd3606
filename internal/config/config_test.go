package config

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func TestPrecedence(t *testing.T) {
	t.Parallel()
	c := Defaults()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ServeFlags(fs, &c)
	env := map[string]string{"WAYMARK_ADDR": "0.0.0.0:9000", "WAYMARK_FLUSH_INTERVAL": "1s", "WAYMARK_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1"}
	if err := ApplyEnv(fs, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if err := fs.Parse([]string{"--addr", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:1" || c.FlushInterval != time.Second || len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.0.2.1/32" {
		t.Errorf("got %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
}

func TestValidateReportsEverything(t *testing.T) {
	t.Parallel()
	c := Defaults()
	c.Addr, c.BatchSize, c.LogLevel = "", 0, "loud"
	err := c.Validate()
	for _, want := range []string{"--addr", "--batch-size", "--log-level"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, want it to mention %s", err, want)
		}
	}
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	ServeFlags(fs, &c)
	if err := ApplyEnv(fs, func(k string) string {
		if k == "WAYMARK_TRUSTED_PROXIES" {
			return "not-a-cidr"
		}
		return ""
	}); err == nil || !strings.Contains(err.Error(), "WAYMARK_TRUSTED_PROXIES") {
		t.Errorf("bad env value: %v", err)
	}
}
