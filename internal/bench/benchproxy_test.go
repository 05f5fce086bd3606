package bench

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// TestCPUTimeChildren: the bench's CPU figure for a proxy includes the
// work of its children (Squid works in a child process), and its own
// figure leaves out the processes it started.
func TestCPUTimeChildren(t *testing.T) {
	t.Parallel()
	// The shell only waits; its child burns CPU.
	cmd := exec.Command("sh", "-c", "yes >/dev/null & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	deadline := time.Now().Add(10 * time.Second)
	for cpuTime(cmd.Process.Pid, true) < 50*time.Millisecond {
		if time.Now().After(deadline) {
			t.Fatalf("CPU of a shell whose child is busy: %s after 10 s", cpuTime(cmd.Process.Pid, true))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if alone := cpuTime(cmd.Process.Pid, false); alone >= 50*time.Millisecond {
		t.Errorf("CPU of the waiting shell alone: %s, want its busy child left out", alone)
	}
	if none := cpuTime(-1, true); none != 0 {
		t.Errorf("CPU of a process that does not exist: %s", none)
	}
}
